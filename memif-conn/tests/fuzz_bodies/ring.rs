//! Fuzz body: the ring consumers over fuzzed shared memory. Shared by
//! `fuzz/fuzz_targets/ring.rs` and `tests/fuzz_props.rs`.
//!
//! One connection's memory (a ring region, a buffer region) with all four queues on it,
//! as the two processes would have them: the slave's queues produce real traffic while
//! the fuzz input overwrites descriptors, head, tail and flags, or re-initialises a
//! whole ring, between bursts. Invariants: no panic, and every buffer any queue hands out (received segment
//! or buffer to fill) lies inside one region and is at most the buffer size long.

use std::sync::Arc;

use memif_proto::{Descriptor, Direction};
use memif_ring::{Interrupt, MasterRx, MasterTx, Memory, Ring, SlaveRx, SlaveTx};
use memif_shm::Layout;

const LOG2: u8 = 4;
const BUFFER: usize = 256;

/// Every segment handed out lies inside one of the regions.
fn inside(mem: &Memory, seg: &[u8]) {
    let (p, len) = (seg.as_ptr() as usize, seg.len());
    let ok = (0..mem.region_count()).any(|i| {
        let r = mem.region(i).expect("counted");
        let base = r.as_ptr() as usize;
        p >= base && p + len <= base + r.len()
    });
    assert!(ok, "segment of {len} bytes at {p:#x} outside every region");
    assert!(len <= BUFFER, "segment of {len} bytes, more than a buffer");
}

/// `data` is read as records of 20 bytes: a selector (bits 0-2: what to overwrite; bit
/// 7: the slave forwards instead of receiving), a slot, a value for head/tail, and a
/// 16-byte descriptor; after each record every queue runs a burst.
pub fn run(data: &[u8]) {
    let layout = Layout {
        num_s2m: 1,
        num_m2s: 1,
        log2_ring_size: LOG2,
        buffer_size: BUFFER as u32,
        buffer_regions: 1,
    };
    let mem = Arc::new(Memory::new(layout.create_regions("fuzz").expect("memfd")));
    let s2m = Ring::new(mem.clone(), 0, layout.ring_offset(Direction::S2M, 0), LOG2).expect("ring");
    let m2s = Ring::new(mem.clone(), 0, layout.ring_offset(Direction::M2S, 0), LOG2).expect("ring");
    s2m.init(&layout, Direction::S2M, 0);
    m2s.init(&layout, Direction::M2S, 0);
    let irq = || Interrupt::new().expect("eventfd");
    // each queue gets its own view of the same ring, as the two processes would
    let view = |dir| Ring::new(mem.clone(), 0, layout.ring_offset(dir, 0), LOG2).expect("ring");
    let mut master_rx = MasterRx::new(view(Direction::S2M), 256, irq());
    let mut master_tx = MasterTx::new(view(Direction::M2S), 256, irq());
    let mut slave_rx = SlaveRx::new(view(Direction::M2S), &layout, 0, irq());
    let mut slave_tx = SlaveTx::new(view(Direction::S2M), &layout, 0, irq());
    slave_rx.refill();
    for rec in data.chunks_exact(20) {
        let slot = u16::from(rec[1]);
        let value = u16::from_le_bytes([rec[2], rec[3]]);
        let mut d = [0u8; 16];
        d.copy_from_slice(&rec[4..20]);
        let desc = Descriptor::from_u128(u128::from_le_bytes(d));
        match rec[0] % 8 {
            0 => s2m.set_descriptor(slot, &desc),
            1 => m2s.set_descriptor(slot, &desc),
            2 => s2m.set_head(value),
            3 => m2s.set_head(value),
            4 => m2s.set_tail(value),
            5 => s2m.set_tail(value),
            // a ring re-initialised under the queues: indices back to 0, every
            // descriptor back to its first buffer
            6 if slot & 1 == 0 => s2m.init(&layout, Direction::S2M, 0),
            6 => m2s.init(&layout, Direction::M2S, 0),
            _ => {
                s2m.set_mask_int(value & 1 != 0);
                m2s.set_mask_int(value & 2 != 0);
            }
        }
        if let Ok(b) = master_rx.rx_burst(usize::from(rec[1] % 40)) {
            for p in b.iter() {
                for s in p.segments() {
                    inside(&mem, s);
                }
            }
            b.release();
        }
        if rec[0] & 0x80 != 0 {
            let _ = slave_rx.forward_to(&mut slave_tx, usize::from(rec[2] % 40));
        } else if let Ok(b) = slave_rx.rx_burst(usize::from(rec[2] % 40)) {
            for p in b.iter() {
                for s in p.segments() {
                    inside(&mem, s);
                }
            }
            b.release();
        }
        if let Ok(mut b) = slave_tx.alloc(usize::from(rec[3] % 20)) {
            for i in 0..b.len() {
                let buf = b.buffer_mut(i);
                inside(&mem, buf);
                buf.fill(0xcd);
                let n = buf.len().min(usize::from(rec[3]));
                b.set_len(i, n);
            }
            let n = b.len();
            b.commit(n);
        }
        if let Ok(mut b) = master_tx.alloc(usize::from(rec[3] % 40)) {
            for i in 0..b.len() {
                let buf = b.buffer_mut(i);
                inside(&mem, buf);
                buf.fill(0xab);
                let n = buf.len();
                b.set_len(i, n);
            }
            let n = b.len();
            b.commit(n);
        }
    }
}
