//! Every `RingError` path, and that an error leaves shared memory untouched.

mod common;

use std::sync::Arc;

use common::{frame, Conn};
use memif_proto::{Descriptor, Direction, COOKIE, DESC_FLAG_NEXT};
use memif_ring::{Interrupt, MasterRx, Memory, Ring, RingError, SlaveRx, SlaveTx};
use memif_shm::{Layout, Region};

#[test]
fn ring_new_refusals() {
    let c = Conn::new(4, 256);
    let rb = c.layout.ring_bytes();
    let r0 = c.mem.region_len(0).unwrap();
    let e = Ring::new(c.mem.clone(), 0, r0 - rb + 8, 4).unwrap_err();
    assert!(matches!(e, RingError::RingOutsideRegion { region: 0, .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!("ring at offset {} ({rb} bytes) does not fit in region 0 of {r0} bytes", r0 - rb + 8)
    );
    // An offset so large that offset + ring_bytes overflows.
    let e = Ring::new(c.mem.clone(), 0, usize::MAX - 10, 4).unwrap_err();
    assert!(matches!(e, RingError::RingOutsideRegion { .. }), "{e}");
    assert_eq!(
        Ring::new(c.mem.clone(), 0, 4, 4).unwrap_err(),
        RingError::MisalignedRing { region: 0, offset: 4 }
    );
    assert_eq!(Ring::new(c.mem.clone(), 0, 0, 0).unwrap_err(), RingError::BadRingSize { log2: 0 });
    assert_eq!(Ring::new(c.mem.clone(), 0, 0, 15).unwrap_err(), RingError::BadRingSize { log2: 15 });
    assert_eq!(Ring::new(c.mem.clone(), 2, 0, 4).unwrap_err(), RingError::MissingRegion { index: 2 });
    assert_eq!(RingError::MissingRegion { index: 2 }.to_string(), "region 2 does not exist");
    // A ring may sit in a buffer region too, at any 8-aligned offset where it fits.
    Ring::new(c.mem.clone(), 1, 8, 4).unwrap();
}

#[test]
fn cookie() {
    let c = Conn::new(4, 256);
    let ring = c.ring(Direction::S2M);
    ring.check_cookie().unwrap();
    assert_eq!(ring.cookie(), COOKIE);
    let (p, _) = c.region_raw(0);
    // SAFETY: region 0 is at least one ring long; single-threaded.
    unsafe { p.cast::<u32>().write_volatile(0xdead_beef) };
    let e = ring.check_cookie().unwrap_err();
    assert_eq!(e, RingError::BadCookie { found: 0xdead_beef });
    assert_eq!(e.to_string(), "bad ring cookie 0xdeadbeef, expected 0x03e31f20");
}

/// Publishes descriptor `d` in slot 0 of the S2M ring as if the slave had, and returns
/// what the master's rx_burst says, checking region 0 and 1 stay untouched on error.
fn master_rx_one(c: &Conn, rx: &mut MasterRx, descs: &[Descriptor], head: u16) -> Result<usize, RingError> {
    let ring = c.ring(Direction::S2M);
    for (i, d) in descs.iter().enumerate() {
        ring.set_descriptor(i as u16, d);
    }
    ring.set_head(head);
    let before = (c.snapshot(0), c.snapshot(1));
    let errors = rx.counters().errors;
    let r = rx.rx_burst(64).map(|b| b.len());
    if r.is_err() {
        assert_eq!((c.snapshot(0), c.snapshot(1)), before, "an error must leave shared memory untouched");
        assert_eq!(rx.counters().errors, errors + 1);
    }
    r
}

#[test]
fn master_rx_descriptor_errors() {
    let c = Conn::new(4, 256);
    let mut rx = c.master_rx();
    let r1 = c.mem.region_len(1).unwrap() as u32;
    let e = master_rx_one(&c, &mut rx, &[Descriptor::new(0, 2, 10, 0)], 1).unwrap_err();
    assert_eq!(e, RingError::BadDescriptorRegion { slot: 0, region: 2 });
    assert_eq!(e.to_string(), "descriptor in slot 0 names region 2, which does not exist");
    // offset + length overflows u32: must be computed in 64 bits.
    let e = master_rx_one(&c, &mut rx, &[Descriptor::new(0, 1, 200, u32::MAX - 100)], 1).unwrap_err();
    assert_eq!(
        e,
        RingError::BufferOutOfBounds {
            slot: 0,
            offset: u32::MAX - 100,
            length: 200,
            region_len: r1 as usize
        }
    );
    let e = master_rx_one(&c, &mut rx, &[Descriptor::new(0, 1, 1, r1)], 1).unwrap_err();
    assert!(matches!(e, RingError::BufferOutOfBounds { .. }), "{e}");
    // Region 0 holds the rings: a descriptor may name it as long as it is in bounds.
    let e = master_rx_one(&c, &mut rx, &[Descriptor::new(0, 0, 1, 1 << 20)], 1).unwrap_err();
    assert!(matches!(e, RingError::BufferOutOfBounds { .. }), "{e}");
    let e = master_rx_one(&c, &mut rx, &[Descriptor::new(0, 1, 257, 0)], 1).unwrap_err();
    assert_eq!(e, RingError::LengthAboveBufferSize { slot: 0, length: 257, buffer_size: 256 });
    assert_eq!(e.to_string(), "descriptor in slot 0: length 257 above the buffer size 256");
    // The last byte of region 1 is fine.
    assert_eq!(master_rx_one(&c, &mut rx, &[Descriptor::new(0, 1, 1, r1 - 1)], 1), Ok(1));
    assert_eq!(c.ring(Direction::S2M).tail(), 1);
}

#[test]
fn master_rx_a_bad_descriptor_after_good_ones_fails_the_whole_burst() {
    let c = Conn::new(4, 256);
    let mut rx = c.master_rx();
    let good = Descriptor::new(0, 1, 10, 0);
    let e = master_rx_one(&c, &mut rx, &[good, good, Descriptor::new(0, 9, 1, 0)], 3).unwrap_err();
    assert_eq!(e, RingError::BadDescriptorRegion { slot: 2, region: 9 });
    assert_eq!(c.ring(Direction::S2M).tail(), 0, "nothing released");
}

#[test]
fn master_rx_index_jump() {
    let c = Conn::new(4, 256);
    let mut rx = c.master_rx();
    let e = master_rx_one(&c, &mut rx, &[], 17).unwrap_err();
    assert_eq!(e, RingError::IndexJump { distance: 17, ring_size: 16 });
    assert_eq!(e.to_string(), "peer index is 17 slots away from ours, more than the ring size 16");
    // Backwards is a jump too (wraps to a huge distance).
    let e = master_rx_one(&c, &mut rx, &[], u16::MAX).unwrap_err();
    assert_eq!(e, RingError::IndexJump { distance: u16::MAX, ring_size: 16 });
    assert_eq!(rx.pending(), Err(RingError::IndexJump { distance: u16::MAX, ring_size: 16 }));
    // Exactly a ring is fine.
    let descs = vec![Descriptor::new(0, 1, 1, 0); 16];
    assert_eq!(master_rx_one(&c, &mut rx, &descs, 16), Ok(16));
}

#[test]
fn chains_incomplete_is_not_yet_a_packet_but_ring_long_is_an_error() {
    let c = Conn::new(3, 256);
    let mut rx = c.master_rx();
    let next = Descriptor::new(DESC_FLAG_NEXT, 1, 10, 0);
    let end = Descriptor::new(0, 1, 10, 0);
    // One packet, then a chain that runs past head: only the packet.
    assert_eq!(master_rx_one(&c, &mut rx, &[end, next, next], 3), Ok(1));
    assert_eq!(c.ring(Direction::S2M).tail(), 1);
    // Still incomplete.
    assert_eq!(master_rx_one(&c, &mut rx, &[end, next, next], 3), Ok(0));
    // Completed by the slave: one packet of three (slots 1, 2, 3).
    let ring = c.ring(Direction::S2M);
    ring.set_descriptor(3, &end);
    ring.set_head(4);
    {
        let b = rx.rx_burst(8).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b.get(0).unwrap().num_segments(), 3);
        assert_eq!(b.get(0).unwrap().len(), 30);
    }
    assert_eq!(ring.tail(), 4);
    // A chain over the whole ring can never end.
    for s in 0..8 {
        ring.set_descriptor(s, &next);
    }
    let e = master_rx_one(&c, &mut rx, &[], 4 + 8).unwrap_err();
    assert_eq!(e, RingError::ChainTooLong { length: 8, ring_size: 8 });
    assert_eq!(e.to_string(), "descriptor chain of 8 descriptors fills the ring of 8 slots without an end");
}

#[test]
fn master_tx_errors() {
    let c = Conn::new(4, 256);
    let mut tx = c.master_tx();
    let ring = c.ring(Direction::M2S);
    let r1 = c.mem.region_len(1).unwrap() as u32;
    ring.set_head(17);
    assert_eq!(tx.alloc(1).unwrap_err(), RingError::IndexJump { distance: 17, ring_size: 16 });
    assert_eq!(tx.available(), Err(RingError::IndexJump { distance: 17, ring_size: 16 }));
    ring.set_head(2);
    let before = (c.snapshot(0), c.snapshot(1));
    ring.set_descriptor(0, &Descriptor::new(0, 1, 256, 0));
    ring.set_descriptor(1, &Descriptor::new(0, 3, 256, 0));
    assert_eq!(tx.alloc(2).unwrap_err(), RingError::BadDescriptorRegion { slot: 1, region: 3 });
    ring.set_descriptor(1, &Descriptor::new(0, 1, 256, r1 - 255));
    let e = tx.send(&[b"a", b"b"]).unwrap_err();
    assert_eq!(
        e,
        RingError::BufferOutOfBounds { slot: 1, offset: r1 - 255, length: 256, region_len: r1 as usize }
    );
    let after = (c.snapshot(0), c.snapshot(1));
    // Only the two descriptors we wrote ourselves differ: nothing was published or copied.
    assert_eq!(after.1, before.1);
    assert_eq!(ring.tail(), 0);
    assert_eq!(tx.counters().errors, 4);
    // Capacity is min(descriptor length, buffer size): a slave posting a huge length
    // cannot make us write past the buffer size, and a short one is respected.
    ring.set_descriptor(0, &Descriptor::new(0, 1, u32::MAX, 0));
    ring.set_descriptor(1, &Descriptor::new(0, 1, 10, 256));
    let b = tx.alloc(2).unwrap();
    assert_eq!((b.capacity(0), b.capacity(1)), (256, 10));
}

#[test]
fn slave_tx_tail_beyond_head() {
    let c = Conn::new(4, 256);
    let mut tx = c.slave_tx();
    assert_eq!(tx.send(&[b"x", b"y"]).unwrap(), 2);
    let ring = c.ring(Direction::S2M);
    ring.set_tail(3);
    let e = tx.free_slots().unwrap_err();
    assert_eq!(e, RingError::IndexBeyondPublished { distance: 3, published: 2 });
    assert_eq!(e.to_string(), "peer index moved 3 slots on, but only 2 slots were handed to it");
    ring.set_tail(u16::MAX); // backwards
    assert!(matches!(tx.alloc(16).unwrap_err(), RingError::IndexBeyondPublished { .. }));
    ring.set_tail(2);
    assert_eq!(tx.free_slots(), Ok(16));
}

#[test]
fn slave_rx_errors() {
    let c = Conn::new(4, 256);
    let mut rx = c.slave_rx();
    let ring = c.ring(Direction::M2S);
    // Nothing posted yet: any tail movement is beyond what was handed out.
    ring.set_tail(1);
    assert_eq!(rx.rx_burst(4).unwrap_err(), RingError::IndexBeyondPublished { distance: 1, published: 0 });
    assert_eq!(rx.refill(), 16);
    assert_eq!(ring.head(), 16);
    ring.set_descriptor(0, &Descriptor::new(0, 1, 257, 0));
    let before = (c.snapshot(0), c.snapshot(1));
    assert_eq!(
        rx.rx_burst(4).unwrap_err(),
        RingError::LengthAboveBufferSize { slot: 0, length: 257, buffer_size: 256 }
    );
    assert_eq!((c.snapshot(0), c.snapshot(1)), before);
    // The master's region and offset are ignored: the slave reads its own buffer.
    ring.set_descriptor(0, &Descriptor::new(0, 7, 5, u32::MAX));
    {
        let b = rx.rx_burst(4).unwrap();
        let p = b.get(0).unwrap();
        assert_eq!(p.len(), 5);
        assert!(c.inside_regions(p.first_segment()));
        let (r1, _) = c.region_raw(1);
        let (_, off) = c.layout.buffer_location(Direction::M2S, 0, 0);
        // SAFETY: pointer arithmetic inside region 1 (offset < its length).
        assert_eq!(p.first_segment().as_ptr(), unsafe { r1.add(off as usize) }.cast_const());
    }
    // Released and refilled with the slave's own descriptor.
    assert_eq!(ring.head(), 17);
    let (_, off) = c.layout.buffer_location(Direction::M2S, 0, 0);
    assert_eq!(ring.descriptor(0), Descriptor::new(0, 1, 256, off));
    ring.set_tail(18);
    assert_eq!(rx.pending(), Err(RingError::IndexBeyondPublished { distance: 17, published: 16 }));
    assert_eq!(rx.counters().errors, 3);
}

#[test]
fn slave_queue_whose_layout_does_not_fit_its_memory() {
    let layout = Layout { log2_ring_size: 4, buffer_size: 256, ..Layout::default() };
    // Region 1 one byte short.
    let sizes = layout.region_sizes();
    let regions = vec![Region::create("r0", sizes[0]).unwrap(), Region::create("r1", sizes[1] - 1).unwrap()];
    let mem = Arc::new(Memory::new(regions));
    let ring = |dir| Ring::new(mem.clone(), 0, layout.ring_offset(dir, 0), 4).unwrap();
    let irq = Interrupt::new().unwrap();
    let mut tx = SlaveTx::new(ring(Direction::S2M), &layout, 0, irq.clone());
    // The last M2S buffer is the one cut short.
    assert_eq!(tx.alloc(1).unwrap().len(), 1);
    let mut rx = SlaveRx::new(ring(Direction::M2S), &layout, 0, irq.clone());
    let e = rx.rx_burst(1).unwrap_err();
    assert!(matches!(e, RingError::BufferOutOfBounds { slot: 15, .. }), "{e}");
    assert_eq!(rx.refill(), 0, "nothing posted from a broken table");
    assert_eq!(rx.forward_to(&mut tx, 1).unwrap_err(), e);
    // Ring size differs from the layout's.
    let other = Layout { log2_ring_size: 3, ..layout };
    let mut tx = SlaveTx::new(ring(Direction::S2M), &other, 0, irq);
    assert_eq!(tx.send(&[b"x"]).unwrap_err(), RingError::LayoutMismatch { ring_log2: 4, layout_log2: 3 });
}

#[test]
fn forward_between_connections_is_refused() {
    let a = Conn::new(4, 256);
    let b = Conn::new(4, 256);
    let mut rx = a.slave_rx();
    let mut tx = b.slave_tx();
    assert_eq!(rx.forward_to(&mut tx, 4), Err(RingError::ForeignMemory));
    assert_eq!(
        RingError::ForeignMemory.to_string(),
        "cannot forward zero-copy between queues of different connections"
    );
}

#[test]
fn interrupts_once_per_burst_unless_masked() {
    let c = Conn::new(4, 256);
    let mut tx = c.slave_tx();
    let mut rx = c.master_rx();
    let frames: Vec<Vec<u8>> = (0..5).map(|i| frame(i, 100)).collect();
    let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
    assert_eq!(tx.send(&refs).unwrap(), 5);
    assert_eq!(c.s2m_irq.clear(), 1);
    assert_eq!(c.s2m_irq.clear(), 0);
    rx.set_rx_mode(memif_ring::RxMode::Polling);
    assert!(c.ring(Direction::S2M).mask_int());
    assert_eq!(tx.send(&refs).unwrap(), 5);
    assert_eq!(c.s2m_irq.clear(), 0);
    assert_eq!(tx.counters().interrupts_sent, 1);
    rx.set_rx_mode(memif_ring::RxMode::Interrupt);
    assert!(!c.ring(Direction::S2M).mask_int());
    // An empty commit publishes nothing and does not signal.
    assert_eq!(tx.alloc(3).unwrap().commit(0), 0);
    assert_eq!(c.s2m_irq.clear(), 0);
    let b = rx.rx_burst(64).unwrap();
    assert_eq!(b.len(), 10);
    for (i, p) in b.iter().enumerate() {
        assert_eq!(p.to_vec(), frames[i % 5]);
    }
}

#[test]
fn interrupt_from_fd_and_errors() {
    let i = Interrupt::new().unwrap();
    let j = i.clone();
    assert!(i.notify());
    assert!(j.notify());
    assert_eq!(j.clear(), 2);
    // A pipe's write end: notify writes 8 bytes; reads on a write end fail and are counted.
    let (_r, w) = nix::unistd::pipe().unwrap();
    let p = Interrupt::from_fd(w);
    assert!(p.notify());
    assert_eq!(p.clear(), 0);
    assert_eq!(p.errors(), 1);
}

#[test]
fn commit_drops_a_trailing_incomplete_chain_and_drop_publishes_nothing() {
    let c = Conn::new(3, 64);
    let mut tx = c.slave_tx();
    let mut rx = c.master_rx();
    {
        let mut b = tx.alloc(4).unwrap();
        assert_eq!(b.len(), 4);
        b.buffer_mut(0)[..3].copy_from_slice(b"abc");
        b.set_len(0, 3);
        b.set_next(1, true);
        b.set_len(1, 1000); // clamped to 64
        assert_eq!(b.commit(2), 1);
    }
    {
        let _b = tx.alloc(4).unwrap(); // dropped: nothing published
    }
    assert_eq!(c.ring(Direction::S2M).head(), 1);
    let b = rx.rx_burst(8).unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b.get(0).unwrap().to_vec(), b"abc");
    assert!(b.get(1).is_none());
}

#[test]
fn send_drops_what_does_not_fit() {
    let c = Conn::new(2, 64); // 4 slots of 64 bytes
    let mut tx = c.slave_tx();
    let big = vec![1u8; 64 * 4 + 1]; // 5 descriptors: never fits
    let two = vec![2u8; 100]; // 2 descriptors
    assert_eq!(tx.send(&[&big, &two, &[3u8; 10], &two, &[4u8; 1]]).unwrap(), 2);
    // big dropped; two + 10 sent (3 slots); the next two-slot frame finds no room: it
    // and everything after it are dropped.
    assert_eq!(tx.counters().drops, 3);
    assert_eq!(tx.counters().packets, 2);
    assert_eq!(tx.counters().bytes, 110);
    let mut rx = c.master_rx();
    let b = rx.rx_burst(8).unwrap();
    assert_eq!(b.len(), 2);
    assert_eq!(b.get(0).unwrap().to_vec(), two);
    assert_eq!(b.get(1).unwrap().to_vec(), vec![3u8; 10]);
    let mut out = [0u8; 70];
    assert_eq!(b.get(0).unwrap().copy_to(&mut out), 70);
    assert_eq!(out, [2u8; 70]);
}

#[test]
fn indices_going_backwards() {
    let c = Conn::new(4, 256);
    // MasterRx: the slave published 4, then takes 2 back.
    let mut rx = c.master_rx();
    let ring = c.ring(Direction::S2M);
    ring.set_head(4);
    assert_eq!(rx.pending(), Ok(4));
    ring.set_head(2);
    let e = rx.rx_burst(8).unwrap_err();
    assert_eq!(e, RingError::IndexBackwards { from: 4, to: 2 });
    assert_eq!(e.to_string(), "peer index went backwards from 4 to 2");
    // MasterTx: the slave posted 5, then un-posts.
    let mut tx = c.master_tx();
    let ring = c.ring(Direction::M2S);
    ring.set_head(5);
    assert_eq!(tx.available(), Ok(5));
    ring.set_head(1);
    assert_eq!(tx.available(), Err(RingError::IndexBackwards { from: 5, to: 1 }));
    // SlaveRx: the master filled 3, then takes 1 back.
    let c = Conn::new(4, 256);
    let mut rx = c.slave_rx();
    rx.refill();
    let ring = c.ring(Direction::M2S);
    ring.set_tail(3);
    assert_eq!(rx.pending(), Ok(3));
    ring.set_tail(2);
    assert_eq!(rx.pending(), Err(RingError::IndexBackwards { from: 3, to: 2 }));
}

#[test]
fn a_cached_incomplete_chain_does_not_stall_the_receiver() {
    // A peer may publish a chain in pieces. With max = 1 and two cached descriptors of an
    // incomplete chain, the receiver must still read head again and see the end.
    let c = Conn::new(3, 256);
    let mut rx = c.master_rx();
    let ring = c.ring(Direction::S2M);
    let next = Descriptor::new(DESC_FLAG_NEXT, 1, 10, 0);
    ring.set_descriptor(0, &next);
    ring.set_descriptor(1, &next);
    ring.set_head(2);
    assert_eq!(rx.rx_burst(1).unwrap().len(), 0);
    ring.set_descriptor(2, &Descriptor::new(0, 1, 10, 0));
    ring.set_head(3);
    let b = rx.rx_burst(1).unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b.get(0).unwrap().num_segments(), 3);
}
