//! Model-based test: random sequences of queue operations on both directions, indices
//! starting anywhere (often just before the u16 wrap), checked against a `VecDeque`
//! model: nothing lost, duplicated or reordered, free counts exact, chains included.

mod common;

use std::collections::VecDeque;

use common::{frame, Conn};
use memif_ring::{MasterRx, MasterTx, SlaveRx, SlaveTx, TxBurst};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// `SlaveTx::send` / `MasterTx::send` of frames of these lengths.
    Send { s2m: bool, lens: Vec<usize> },
    /// alloc(n), fill buffer i with lens[i] bytes and NEXT = next[i], then commit(k) or
    /// (None) drop the burst.
    AllocCommit { s2m: bool, n: usize, lens: Vec<usize>, next: Vec<bool>, commit: Option<usize> },
    /// rx_burst(max) on the receiving side; `reload` first calls `pending()` (which
    /// must not change the result); `explicit` releases with `release()`, else drop.
    Recv { s2m: bool, max: usize, reload: bool, explicit: bool },
    /// `SlaveRx::refill`.
    Refill,
    /// `SlaveRx::forward_to(SlaveTx)`, zero-copy M2S -> S2M.
    Forward { max: usize },
    /// Every free/pending/available count.
    Counts,
}

fn op() -> impl Strategy<Value = Op> {
    // Buffer sizes are 32..=64 and rings 2..=16 slots: lengths up to 400 give chains and
    // frames too big for small rings.
    let lens = prop::collection::vec(prop_oneof![0usize..70, 0usize..400], 0..12);
    prop_oneof![
        (any::<bool>(), lens.clone()).prop_map(|(s2m, lens)| Op::Send { s2m, lens }),
        (
            any::<bool>(),
            0usize..20,
            prop::collection::vec(0usize..80, 20),
            prop::collection::vec(prop::bool::weighted(0.3), 20),
            prop::option::weighted(0.85, 0usize..22)
        )
            .prop_map(|(s2m, n, lens, next, commit)| Op::AllocCommit { s2m, n, lens, next, commit }),
        (any::<bool>(), 0usize..20, any::<bool>(), any::<bool>())
            .prop_map(|(s2m, max, reload, explicit)| Op::Recv { s2m, max, reload, explicit }),
        (any::<bool>(), 0usize..20, any::<bool>(), any::<bool>())
            .prop_map(|(s2m, max, reload, explicit)| Op::Recv { s2m, max, reload, explicit }),
        Just(Op::Refill),
        (0usize..20).prop_map(|max| Op::Forward { max }),
        Just(Op::Counts),
    ]
}

struct Model {
    size: usize,
    bs: usize,
    next_id: u64,
    /// Published, not received: (bytes, descriptors).
    s2m: VecDeque<(Vec<u8>, usize)>,
    m2s: VecDeque<(Vec<u8>, usize)>,
    /// Empty buffers the slave posted that the master has not filled.
    posted: usize,
    s2m_drops: u64,
    m2s_drops: u64,
}

impl Model {
    fn descs(q: &VecDeque<(Vec<u8>, usize)>) -> usize {
        q.iter().map(|p| p.1).sum()
    }
    fn s2m_free(&self) -> usize {
        self.size - Self::descs(&self.s2m)
    }
    fn m2s_filled(&self) -> usize {
        Self::descs(&self.m2s)
    }
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

struct Queues {
    stx: SlaveTx,
    mrx: MasterRx,
    mtx: MasterTx,
    srx: SlaveRx,
}

/// Fills a burst as `AllocCommit` says; returns the packets it publishes.
fn fill_and_commit(
    m: &mut Model,
    mut b: TxBurst<'_>,
    lens: &[usize],
    next: &[bool],
    commit: Option<usize>,
) -> Vec<(Vec<u8>, usize)> {
    let got = b.len();
    let mut bufs = Vec::new();
    for i in 0..got {
        let len = lens[i % lens.len()].min(b.capacity(i));
        let data = frame(m.id(), len);
        b.buffer_mut(i)[..len].copy_from_slice(&data);
        b.set_len(i, len);
        b.set_next(i, next[i % next.len()]);
        bufs.push((data, next[i % next.len()]));
    }
    let Some(k) = commit else {
        // Dropped without commit: publishes nothing.
        return Vec::new();
    };
    // commit clamps k to the burst and leaves out a trailing incomplete chain.
    let asked = k;
    let mut k = k.min(got);
    while k > 0 && bufs[k - 1].1 {
        k -= 1;
    }
    assert_eq!(b.commit(asked), k);
    let mut pkts = Vec::new();
    let mut cur = (Vec::new(), 0);
    for (data, next) in &bufs[..k] {
        cur.0.extend_from_slice(data);
        cur.1 += 1;
        if !next {
            pkts.push(std::mem::take(&mut cur));
        }
    }
    pkts
}

type Packets = Vec<(Vec<u8>, usize)>;

/// The model's outcome of sending frames of `lens` bytes into `room` free buffers:
/// (packets sent, frames dropped, all the frames).
fn model_send(m: &mut Model, lens: &[usize], room: usize) -> (Packets, u64, Vec<Vec<u8>>) {
    let mut room = room;
    let mut sent = Vec::new();
    let mut drops = 0;
    let mut frames = Vec::new();
    let mut stopped = false;
    for &len in lens {
        let f = frame(m.id(), len);
        frames.push(f.clone());
        let need = len.div_ceil(m.bs).max(1);
        if stopped || need > m.size {
            drops += 1;
        } else if need <= room {
            room -= need;
            sent.push((f, need));
        } else {
            stopped = true;
            drops += 1;
        }
    }
    (sent, drops, frames)
}

fn run(log2: u8, bs: u32, start_s2m: u16, start_m2s: u16, ops: Vec<Op>) {
    let c = Conn::new(log2, bs);
    let mut q = Queues { stx: c.slave_tx(), mrx: c.master_rx(), mtx: c.master_tx(), srx: c.slave_rx() };
    q.stx.start_indices_at(start_s2m);
    q.mrx.start_indices_at(start_s2m);
    q.mtx.start_indices_at(start_m2s);
    q.srx.start_indices_at(start_m2s);
    let size = 1usize << log2;
    let mut m = Model {
        size,
        bs: bs as usize,
        next_id: 0,
        s2m: VecDeque::new(),
        m2s: VecDeque::new(),
        posted: 0,
        s2m_drops: 0,
        m2s_drops: 0,
    };
    assert_eq!(q.srx.refill(), size);
    m.posted = size;
    let mut sent_total = [0u64; 2];

    for op in ops {
        match op {
            Op::Send { s2m, lens } => {
                let room = if s2m { m.s2m_free() } else { m.posted };
                let (pkts, drops, frames) = model_send(&mut m, &lens, room);
                let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
                let n = if s2m { q.stx.send(&refs) } else { q.mtx.send(&refs) }.unwrap();
                assert_eq!(n, pkts.len());
                let used: usize = pkts.iter().map(|p| p.1).sum();
                sent_total[usize::from(s2m)] += n as u64;
                if s2m {
                    m.s2m_drops += drops;
                    m.s2m.extend(pkts);
                } else {
                    m.m2s_drops += drops;
                    m.posted -= used;
                    m.m2s.extend(pkts);
                }
            }
            Op::AllocCommit { s2m, n, lens, next, commit } => {
                let room = if s2m { m.s2m_free() } else { m.posted };
                let b = if s2m { q.stx.alloc(n) } else { q.mtx.alloc(n) }.unwrap();
                assert_eq!(b.len(), n.min(room), "alloc({n}) with {room} free");
                let pkts = fill_and_commit(&mut m, b, &lens, &next, commit);
                let used: usize = pkts.iter().map(|p| p.1).sum();
                sent_total[usize::from(s2m)] += pkts.len() as u64;
                if s2m {
                    m.s2m.extend(pkts);
                } else {
                    m.posted -= used;
                    m.m2s.extend(pkts);
                }
            }
            Op::Recv { s2m, max, reload, explicit } => {
                let queued = if s2m { &mut m.s2m } else { &mut m.m2s };
                let descs = Model::descs(queued);
                if reload {
                    let p = if s2m { q.mrx.pending() } else { q.srx.pending() }.unwrap();
                    assert_eq!(p, descs);
                }
                let burst = if s2m { q.mrx.rx_burst(max) } else { q.srx.rx_burst(max) }.unwrap();
                let n = burst.len();
                // The peer's index is read whenever the cached view runs out first, so a
                // burst is always as large as it can be.
                assert_eq!(n, max.min(queued.len()));
                for (i, p) in burst.iter().enumerate() {
                    let (want, nd) = &queued[i];
                    assert_eq!(p.num_segments(), *nd);
                    assert_eq!(p.len(), want.len());
                    assert_eq!(&p.to_vec(), want, "packet {i} of the burst");
                    for s in p.segments() {
                        assert!(s.len() <= m.bs);
                        assert!(c.inside_regions(s));
                    }
                }
                if explicit {
                    burst.release();
                } else {
                    drop(burst);
                }
                queued.drain(..n);
                if !s2m && n > 0 {
                    // Releasing refilled every free slot.
                    m.posted = size - m.m2s_filled();
                }
            }
            Op::Refill => {
                let expect = size - m.m2s_filled() - m.posted;
                assert_eq!(q.srx.refill(), expect);
                m.posted += expect;
            }
            Op::Forward { max } => {
                assert_eq!(q.srx.pending().unwrap(), m.m2s_filled());
                let mut room = m.s2m_free();
                let mut moved = 0;
                while moved < max.min(m.m2s.len()) && m.m2s[moved].1 <= room {
                    room -= m.m2s[moved].1;
                    moved += 1;
                }
                assert_eq!(q.srx.forward_to(&mut q.stx, max).unwrap(), moved);
                let pkts: Vec<_> = m.m2s.drain(..moved).collect();
                m.s2m.extend(pkts);
                if moved > 0 {
                    m.posted = size - m.m2s_filled();
                }
            }
            Op::Counts => {
                assert_eq!(q.stx.free_slots().unwrap(), m.s2m_free());
                assert_eq!(q.mrx.pending().unwrap(), Model::descs(&m.s2m));
                assert_eq!(q.mtx.available().unwrap(), m.posted);
                assert_eq!(q.srx.pending().unwrap(), m.m2s_filled());
            }
        }
    }
    // Drain both directions: everything still queued arrives, in order.
    for s2m in [true, false] {
        let queued = if s2m { &mut m.s2m } else { &mut m.m2s };
        let burst = if s2m { q.mrx.rx_burst(usize::MAX) } else { q.srx.rx_burst(usize::MAX) }.unwrap();
        assert_eq!(burst.len(), queued.len());
        for (p, (want, _)) in burst.iter().zip(queued.iter()) {
            assert_eq!(&p.to_vec(), want);
        }
    }
    assert_eq!(q.stx.counters().drops, m.s2m_drops);
    assert_eq!(q.mtx.counters().drops, m.m2s_drops);
    for qc in [q.stx.counters(), q.mrx.counters(), q.mtx.counters(), q.srx.counters()] {
        assert_eq!(qc.errors, 0);
    }
    // Everything was drained: each receiver counted what its transmitter published
    // (the S2M transmitter also counts what was forwarded to it).
    assert_eq!(q.mtx.counters().packets, sent_total[0]);
    assert_eq!(q.srx.counters().packets, q.mtx.counters().packets);
    assert_eq!(q.mrx.counters().packets, q.stx.counters().packets);
    assert_eq!(q.mrx.counters().bytes, q.stx.counters().bytes);
    assert_eq!(q.srx.counters().bytes, q.mtx.counters().bytes);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn queues_match_the_model(
        log2 in 1u8..=4,
        bs in 32u32..=64,
        start_s2m in prop_oneof![65_500u16..=65_535, any::<u16>()],
        start_m2s in prop_oneof![65_500u16..=65_535, any::<u16>()],
        ops in prop::collection::vec(op(), 1..80),
    ) {
        run(log2, bs, start_s2m, start_m2s, ops);
    }
}

#[test]
fn wraps_many_times() {
    // A long deterministic run across several u16 wraps of both rings.
    let ops: Vec<Op> = (0..3000)
        .map(|i| match i % 5 {
            0 => Op::Send { s2m: true, lens: vec![10, 100, 1, 64] },
            1 => Op::Send { s2m: false, lens: vec![65, 3, 0] },
            2 => Op::Forward { max: 2 },
            3 => Op::Recv { s2m: true, max: 64, reload: true, explicit: false },
            _ => Op::Recv { s2m: false, max: 64, reload: true, explicit: true },
        })
        .collect();
    run(3, 64, 65_530, 65_000, ops);
}
