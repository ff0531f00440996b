//! `warm`: writes only into the next free buffer, publishes nothing, and the next
//! burst gets that buffer; nothing free, nothing written; a bad posted descriptor is
//! refused as `alloc` refuses it.

mod common;

use common::Conn;
use memif_proto::{Descriptor, Direction};
use memif_ring::RingError;

/// Byte offsets (into region `i`) at which `after` differs from `before`.
fn changed(before: &[u8], after: &[u8]) -> Vec<usize> {
    before.iter().zip(after).enumerate().filter(|(_, (a, b))| a != b).map(|(i, _)| i).collect()
}

/// Offset of `p` in region `i` of `c`.
fn offset_in(c: &Conn, i: usize, p: *const u8) -> usize {
    p as usize - c.region_raw(i).0 as usize
}

#[test]
fn slave_warm_touches_the_next_buffer_only() {
    let c = Conn::new(2, 256); // 4 slots
    let mut tx = c.slave_tx();
    assert_eq!(tx.send(&[b"first"]).unwrap(), 1);
    // the next free buffer, filled with a pattern by a burst dropped unpublished
    let next = {
        let mut b = tx.alloc(1).unwrap();
        b.buffer_mut(0).fill(0xaa);
        b.buffer_mut(0).as_ptr()
    };
    let (before, rings) = (c.snapshot(1), c.snapshot(0));
    assert_eq!(tx.warm(100), Ok(true));
    assert_eq!(c.snapshot(0), rings, "no descriptor or index changed");
    let at = offset_in(&c, 1, next);
    // zeros at the start of each 64-byte line of the first 100 bytes, and in byte 99
    assert_eq!(changed(&before, &c.snapshot(1)), vec![at, at + 64, at + 99]);
    assert_eq!(c.ring(Direction::S2M).head(), 1, "warm publishes nothing");
    assert_eq!(tx.counters().packets, 1);
    // larger than the buffer: clamped to it
    assert_eq!(tx.warm(10_000), Ok(true));
    assert_eq!(*changed(&before, &c.snapshot(1)).last().unwrap(), at + 255);
    // the next burst writes that very buffer
    let mut b = tx.alloc(1).unwrap();
    assert_eq!(b.buffer_mut(0).as_ptr(), next);
    b.buffer_mut(0)[..6].copy_from_slice(b"second");
    b.set_len(0, 6);
    assert_eq!(b.commit_all(), 1);
    let mut rx = c.master_rx();
    let got = rx.rx_burst(8).unwrap();
    assert_eq!(
        got.iter().map(|p| p.to_vec()).collect::<Vec<_>>(),
        vec![b"first".to_vec(), b"second".to_vec()]
    );
}

#[test]
fn slave_warm_with_no_free_buffer_writes_nothing() {
    let c = Conn::new(2, 256);
    let mut tx = c.slave_tx();
    assert_eq!(tx.send(&[b"a", b"b", b"c", b"d"]).unwrap(), 4);
    let before = c.snapshot(1);
    assert_eq!(tx.warm(256), Ok(false));
    assert_eq!(c.snapshot(1), before);
}

#[test]
fn master_warm_touches_the_next_posted_buffer_only() {
    let c = Conn::new(2, 256);
    let mut tx = c.master_tx();
    // nothing posted yet: nothing to warm
    let before = c.snapshot(1);
    assert_eq!(tx.warm(128), Ok(false));
    assert_eq!(c.snapshot(1), before);
    let mut rx = c.slave_rx();
    rx.refill();
    let posted = c.ring(Direction::M2S).descriptor(0);
    // buffers full of a pattern, so that the zeros show
    let (p, len) = c.region_raw(1);
    // SAFETY: region 1 (buffers only) is mapped for `len` bytes; single-threaded.
    unsafe { std::ptr::write_bytes(p, 0xaa, len) };
    let (before, rings) = (c.snapshot(1), c.snapshot(0));
    assert_eq!(tx.warm(128), Ok(true));
    assert_eq!(c.snapshot(0), rings, "no descriptor or index changed");
    let at = posted.offset.get() as usize;
    assert_eq!(changed(&before, &c.snapshot(1)), vec![at, at + 64, at + 127]);
    assert_eq!(c.ring(Direction::M2S).tail(), 0, "warm publishes nothing");
    assert_eq!(tx.send(&[b"reply"]).unwrap(), 1);
    let got = rx.rx_burst(8).unwrap();
    assert_eq!(got.get(0).unwrap().to_vec(), b"reply");
}

#[test]
fn master_warm_refuses_a_bad_posted_descriptor_and_writes_nothing() {
    let c = Conn::new(2, 256);
    let mut tx = c.master_tx();
    let ring = c.ring(Direction::M2S);
    let r1 = c.mem.region_len(1).unwrap() as u32;
    // a buffer reaching past the end of its region
    ring.set_descriptor(0, &Descriptor::new(0, 1, 256, r1 - 100));
    ring.set_head(1);
    let before = (c.snapshot(0), c.snapshot(1));
    let e = tx.warm(256).unwrap_err();
    assert_eq!(
        e,
        RingError::BufferOutOfBounds { slot: 0, offset: r1 - 100, length: 256, region_len: r1 as usize }
    );
    assert_eq!((c.snapshot(0), c.snapshot(1)), before);
    assert_eq!(tx.counters().errors, 1);
}
