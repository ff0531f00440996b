//! `memif forward`: what arrives on interface a is sent on b, and back.

use crate::cli::ForwardArgs;
use crate::report::{BridgeCounters, PathCounters, Summary};
use crate::signals::StopFlag;

use super::{idle_wait, Endpoint, Out};
use memif_conn::{Queues, TxQueue};
use std::time::Duration;

/// Frames read from one side that the other had no room for yet, per queue pair.
type Backlog = Vec<Vec<Vec<u8>>>;

/// Moves one burst from `from` to `to` on every queue pair; returns frames moved. With
/// `capture`, a copy of each frame read goes there.
fn pass(
    from: &mut Queues,
    to: &mut Queues,
    backlog: &mut Backlog,
    c: &mut PathCounters,
    mut capture: Option<&mut Vec<Vec<u8>>>,
) -> usize {
    let mut moved = 0;
    // frames waiting for a queue pair the other side no longer has are dropped
    while backlog.len() > from.rx.len().min(to.tx.len()) {
        backlog.pop().into_iter().flatten().for_each(|_| c.drop_one());
    }
    backlog.resize_with(from.rx.len().min(to.tx.len()), Vec::new);
    for ((rx, tx), pending) in from.rx.iter_mut().zip(to.tx.iter_mut()).zip(backlog.iter_mut()) {
        // take only what the other side has room for: the rest waits in its ring
        // (backpressure) instead of being dropped here
        let room = tx.alloc(64).map_or(0, |b| b.len());
        if room == 0 {
            continue;
        }
        // a frame may need several buffers (chained), so what was read can still find
        // too little room: it stays in the backlog until there is
        if pending.is_empty() {
            let Ok(b) = rx.rx_burst(room) else { continue };
            pending.extend(b.iter().map(|p| p.to_vec()));
            b.release();
            if let Some(cap) = capture.as_deref_mut() {
                cap.extend(pending.iter().cloned());
            }
        }
        moved += send_pending(tx, pending, c);
    }
    moved
}

/// Sends what waits in `pending` on `tx`, as much as fits; returns frames sent.
fn send_pending(tx: &mut TxQueue, pending: &mut Vec<Vec<u8>>, c: &mut PathCounters) -> usize {
    if pending.is_empty() {
        return 0;
    }
    let refs: Vec<&[u8]> = pending.iter().map(|f| f.as_slice()).collect();
    let sent = tx.send(&refs).unwrap_or(0);
    for f in &refs[..sent] {
        c.pass(f.len());
    }
    pending.drain(..sent);
    sent
}

/// Sends what `backlog` holds for `to` after its source side went down.
fn flush(to: &mut Queues, backlog: &mut Backlog, c: &mut PathCounters) -> usize {
    to.tx.iter_mut().zip(backlog.iter_mut()).map(|(tx, pending)| send_pending(tx, pending, c)).sum()
}

/// Drops what waits for a side that went down.
fn drop_backlog(backlog: &mut Backlog, c: &mut PathCounters) {
    for _ in backlog.drain(..).flatten() {
        c.drop_one();
    }
}

/// Forwards until stopped.
pub fn run(args: &ForwardArgs, stop: &StopFlag, out: Out) -> Result<(Summary, u8), String> {
    let (a, b) = args.opts();
    let mode = a.rx_mode;
    let names = (a.name.to_string(), b.name.to_string());
    let mut ep = Endpoint::open(&[a, b], out)?;
    let mut c = BridgeCounters::default();
    let (mut to_b, mut to_a) = (Backlog::new(), Backlog::new());
    // --pcap: every frame once, as it arrives on either side
    let mut captured: Vec<Vec<u8>> = Vec::new();
    while !stop.should_stop() {
        let mut moved = 0;
        let mut cap = ep.capturing().then_some(&mut captured);
        if let [Some(qa), Some(qb)] = &mut ep.queues[..] {
            moved += pass(qa, qb, &mut to_b, &mut c.a_to_b, cap.as_deref_mut());
            moved += pass(qb, qa, &mut to_a, &mut c.b_to_a, cap);
        } else if let [Some(qa), None] = &mut ep.queues[..] {
            // b is down: what arrives on a has nowhere to go; what b sent still goes
            drop_backlog(&mut to_b, &mut c.a_to_b);
            moved += drain(qa, &mut c.a_to_b, cap);
            moved += flush(qa, &mut to_a, &mut c.b_to_a);
        } else if let [None, Some(qb)] = &mut ep.queues[..] {
            drop_backlog(&mut to_a, &mut c.b_to_a);
            moved += drain(qb, &mut c.b_to_a, cap);
            moved += flush(qb, &mut to_b, &mut c.a_to_b);
        } else {
            drop_backlog(&mut to_b, &mut c.a_to_b);
            drop_backlog(&mut to_a, &mut c.b_to_a);
        }
        for f in captured.drain(..) {
            ep.capture(&[&f]);
        }
        // frames waiting for room: look again soon, not after a whole idle wait
        let waiting = to_b.iter().chain(&to_a).any(|p| !p.is_empty());
        ep.poll(match (moved, waiting) {
            (1.., _) => Duration::ZERO,
            (0, true) => idle_wait(mode).min(Duration::from_millis(1)),
            (0, false) => idle_wait(mode),
        })?;
    }
    ep.finish()?;
    if !out.json {
        out.line(&c.human(&names.0, &names.1));
    }
    Ok((Summary::Forward(c), 0))
}

fn drain(q: &mut Queues, c: &mut PathCounters, mut capture: Option<&mut Vec<Vec<u8>>>) -> usize {
    let mut n = 0;
    for rx in q.rx.iter_mut() {
        if let Ok(b) = rx.rx_burst(64) {
            if let Some(cap) = capture.as_deref_mut() {
                cap.extend(b.iter().map(|p| p.to_vec()));
            }
            n += b.len();
            for _ in 0..b.len() {
                c.drop_one();
            }
            b.release();
        }
    }
    n
}
