//! Hostile shared memory: arbitrary bytes in ring headers and descriptors, arbitrary
//! head and tail, between any queue operations. Nothing panics, nothing is read or
//! written outside the regions; the peer's nonsense only ever comes back as errors.

mod common;

use std::sync::Arc;

use common::Conn;
use memif_proto::{Descriptor, Direction};
use memif_ring::{MasterRx, MasterTx, Ring, SlaveRx, SlaveTx};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Poke {
    /// Raw bytes at an offset of region 0 (ring headers and descriptors).
    Bytes {
        offset: usize,
        bytes: Vec<u8>,
    },
    /// A descriptor with adversarial fields.
    Desc {
        s2m: bool,
        slot: u16,
        flags: u16,
        region: u16,
        length: u32,
        offset: u32,
    },
    Head {
        s2m: bool,
        v: u16,
    },
    Tail {
        s2m: bool,
        v: u16,
    },
}

#[derive(Clone, Debug)]
enum Act {
    MasterRx { max: usize },
    MasterTxAlloc { n: usize },
    MasterTxSend { lens: Vec<usize> },
    SlaveTxSend { lens: Vec<usize> },
    SlaveRx { max: usize },
    Refill,
    Forward { max: usize },
    Counts,
    Warm { bytes: usize },
    NewRing { region: u16, offset: usize, log2: u8 },
}

fn interesting_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(63),
        Just(64),
        Just(65),
        0u32..5000,
        (0u32..300).prop_map(|k| u32::MAX - k),
        any::<u32>(),
    ]
}

fn interesting_u16() -> impl Strategy<Value = u16> {
    prop_oneof![0u16..40, (0u16..40).prop_map(|k| u16::MAX - k), any::<u16>()]
}

fn poke() -> impl Strategy<Value = Poke> {
    prop_oneof![
        (0usize..800, prop::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(offset, bytes)| Poke::Bytes { offset, bytes }),
        (any::<bool>(), 0u16..16, any::<u16>(), 0u16..4, interesting_u32(), interesting_u32()).prop_map(
            |(s2m, slot, flags, region, length, offset)| Poke::Desc {
                s2m,
                slot,
                flags,
                region,
                length,
                offset
            }
        ),
        (any::<bool>(), interesting_u16()).prop_map(|(s2m, v)| Poke::Head { s2m, v }),
        (any::<bool>(), interesting_u16()).prop_map(|(s2m, v)| Poke::Tail { s2m, v }),
    ]
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        (0usize..40).prop_map(|max| Act::MasterRx { max }),
        (0usize..40).prop_map(|n| Act::MasterTxAlloc { n }),
        prop::collection::vec(0usize..300, 0..6).prop_map(|lens| Act::MasterTxSend { lens }),
        prop::collection::vec(0usize..300, 0..6).prop_map(|lens| Act::SlaveTxSend { lens }),
        (0usize..40).prop_map(|max| Act::SlaveRx { max }),
        Just(Act::Refill),
        (0usize..40).prop_map(|max| Act::Forward { max }),
        Just(Act::Counts),
        prop_oneof![0usize..300, any::<usize>()].prop_map(|bytes| Act::Warm { bytes }),
        (0u16..4, prop_oneof![0usize..1000, any::<usize>()], 0u8..17)
            .prop_map(|(region, offset, log2)| Act::NewRing { region, offset, log2 }),
    ]
}

struct Q {
    mrx: MasterRx,
    mtx: MasterTx,
    stx: SlaveTx,
    srx: SlaveRx,
}

fn apply_poke(c: &Conn, p: &Poke) {
    let ring = |s2m: bool| c.ring(if s2m { Direction::S2M } else { Direction::M2S });
    match p {
        Poke::Bytes { offset, bytes } => {
            let (base, len) = c.region_raw(0);
            for (i, b) in bytes.iter().enumerate() {
                let at = offset + i;
                if at < len {
                    // SAFETY: `at < len`, inside region 0's mapping; single-threaded.
                    unsafe { base.add(at).write_volatile(*b) };
                }
            }
        }
        Poke::Desc { s2m, slot, flags, region, length, offset } => {
            ring(*s2m).set_descriptor(*slot, &Descriptor::new(*flags, *region, *length, *offset))
        }
        Poke::Head { s2m, v } => ring(*s2m).set_head(*v),
        Poke::Tail { s2m, v } => ring(*s2m).set_tail(*v),
    }
}

fn check_burst(c: &Conn, b: &memif_ring::RxBurst<'_>, max: usize) {
    assert!(b.len() <= max);
    let mut sum = 0u64;
    for p in b.iter() {
        for s in p.segments() {
            assert!(c.inside_regions(s), "a segment outside the regions");
            sum += s.iter().map(|&x| u64::from(x)).sum::<u64>();
        }
        let mut buf = vec![0u8; p.len().min(100_000)];
        p.copy_to(&mut buf);
    }
    std::hint::black_box(sum);
}

fn apply_act(c: &Conn, q: &mut Q, a: &Act) {
    match a {
        Act::MasterRx { max } => {
            if let Ok(b) = q.mrx.rx_burst(*max) {
                check_burst(c, &b, *max);
            }
        }
        Act::MasterTxAlloc { n } => {
            if let Ok(mut b) = q.mtx.alloc(*n) {
                assert!(b.len() <= *n);
                for i in 0..b.len() {
                    let buf = b.buffer_mut(i);
                    assert!(c.inside_regions(buf));
                    buf.fill(0xee);
                    let l = buf.len();
                    b.set_len(i, l);
                }
                b.commit_all();
            }
        }
        Act::MasterTxSend { lens } => {
            let frames: Vec<Vec<u8>> = lens.iter().map(|&l| vec![0x5a; l]).collect();
            let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
            if let Ok(n) = q.mtx.send(&refs) {
                assert!(n <= refs.len());
            }
        }
        Act::SlaveTxSend { lens } => {
            let frames: Vec<Vec<u8>> = lens.iter().map(|&l| vec![0xa5; l]).collect();
            let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
            if let Ok(n) = q.stx.send(&refs) {
                assert!(n <= refs.len());
            }
        }
        Act::SlaveRx { max } => {
            if let Ok(b) = q.srx.rx_burst(*max) {
                check_burst(c, &b, *max);
            }
        }
        Act::Refill => {
            assert!(q.srx.refill() <= usize::from(q.srx.ring().size()));
        }
        Act::Forward { max } => {
            if let Ok(n) = q.srx.forward_to(&mut q.stx, *max) {
                assert!(n <= *max);
            }
        }
        Act::Warm { bytes } => {
            let _ = q.mtx.warm(*bytes);
            let _ = q.stx.warm(*bytes);
        }
        Act::Counts => {
            let size = usize::from(q.stx.ring().size());
            for n in [q.stx.free_slots(), q.mrx.pending(), q.mtx.available(), q.srx.pending()]
                .into_iter()
                .flatten()
            {
                assert!(n <= size);
            }
            let _ = q.stx.ring().check_cookie();
            let _ = q.srx.posted();
        }
        Act::NewRing { region, offset, log2 } => {
            if let Ok(r) = Ring::new(Arc::clone(&c.mem), *region, *offset, *log2) {
                let len = c.mem.region_len(usize::from(*region)).unwrap();
                assert!(offset + memif_proto::ring_bytes(*log2) <= len);
                let _ = (r.head(), r.tail(), r.descriptor(u16::MAX), r.check_cookie());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn hostile_memory_only_ever_gives_errors(
        log2 in 1u8..=4,
        bs in 16u32..=64,
        master_bs in prop_oneof![Just(None), Just(Some(u32::MAX))],
        steps in prop::collection::vec((prop::collection::vec(poke(), 0..4), act()), 1..40),
    ) {
        let c = Conn::new(log2, bs);
        let master_bs = master_bs.unwrap_or(bs);
        let mut q = Q {
            mrx: MasterRx::new(c.ring(Direction::S2M), master_bs, c.s2m_irq.clone()),
            mtx: MasterTx::new(c.ring(Direction::M2S), master_bs, c.m2s_irq.clone()),
            stx: c.slave_tx(),
            srx: c.slave_rx(),
        };
        q.srx.refill();
        for (pokes, a) in &steps {
            for p in pokes {
                apply_poke(&c, p);
            }
            apply_act(&c, &mut q, a);
        }
    }
}

/// A peer scribbling on the ring from another thread while we run bursts: only errors,
/// and every segment handed out stays inside the regions.
#[test]
fn concurrent_scribbler() {
    let c = Arc::new(Conn::new(4, 64));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (base, len) = c.region_raw(0);
    let base = base as usize;
    let scribbler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let at = (x as usize % (len / 8)) * 8;
                // SAFETY: an aligned 8-byte store inside region 0, which `c` keeps mapped
                // until after this thread is joined. It races with the queues on purpose:
                // that is the hostile peer being tested.
                unsafe { ((base + at) as *mut u64).write_volatile(x) };
            }
        })
    };
    let mut q = Q { mrx: c.master_rx(), mtx: c.master_tx(), stx: c.slave_tx(), srx: c.slave_rx() };
    for i in 0..20_000usize {
        let a = match i % 5 {
            0 => Act::MasterRx { max: 32 },
            1 => Act::MasterTxAlloc { n: 8 },
            2 => Act::SlaveRx { max: 32 },
            3 => Act::SlaveTxSend { lens: vec![10, 100] },
            _ => Act::Forward { max: 8 },
        };
        apply_act(&c, &mut q, &a);
        if i % 7 == 0 {
            q.srx.refill();
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    scribbler.join().unwrap();
}
