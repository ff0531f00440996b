//! The slave decides the size of the buffers it posts; a master configured with larger
//! buffers must still chain a frame over the smaller ones it was given (found against
//! DPDK 22.11's net_memif client with `bsize=1024` and our default 2048).

mod common;

use common::{frame, Conn};
use memif_proto::Direction;
use memif_ring::MasterTx;

#[test]
fn master_chains_over_buffers_smaller_than_its_own() {
    // slave buffers of 256 bytes, master told 2048
    let c = Conn::new(4, 256);
    let mut tx = MasterTx::new(c.ring(Direction::M2S), 2048, c.m2s_irq.clone());
    let mut rx = c.slave_rx();
    rx.refill();
    let frames: Vec<Vec<u8>> = (0..3).map(|i| frame(i, 600)).collect();
    let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
    assert_eq!(tx.send(&refs).unwrap(), 3, "all three frames go out, chained");
    assert_eq!(tx.counters().drops, 0);
    let b = rx.rx_burst(32).unwrap();
    assert_eq!(b.len(), 3);
    for (p, f) in b.iter().zip(&frames) {
        assert_eq!(p.num_segments(), 3, "600 bytes in 256-byte buffers");
        assert_eq!(p.to_vec(), *f);
    }
}
