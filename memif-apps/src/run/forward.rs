//! `memif forward`: what arrives on interface a is sent on b, and back.

use crate::cli::ForwardArgs;
use crate::report::{BridgeCounters, PathCounters, Summary};
use crate::signals::StopFlag;

use super::{idle_wait, Endpoint, Out};
use memif_conn::Queues;

/// Moves one burst from `from` to `to` on every queue pair; returns frames moved.
fn pass(from: &mut Queues, to: &mut Queues, c: &mut PathCounters) -> usize {
    let mut moved = 0;
    for (rx, tx) in from.rx.iter_mut().zip(to.tx.iter_mut()) {
        // take only what the other side has room for: the rest waits in its ring
        // (backpressure) instead of being dropped here
        let room = tx.alloc(64).map_or(0, |b| b.len());
        if room == 0 {
            continue;
        }
        let Ok(b) = rx.rx_burst(room) else { continue };
        let frames: Vec<Vec<u8>> = b.iter().map(|p| p.to_vec()).collect();
        b.release();
        let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
        let sent = tx.send(&refs).unwrap_or(0);
        for f in &refs[..sent] {
            c.pass(f.len());
        }
        for _ in sent..refs.len() {
            c.drop_one();
        }
        moved += refs.len();
    }
    moved
}

/// Forwards until stopped.
pub fn run(args: &ForwardArgs, stop: &StopFlag, out: Out) -> Result<(Summary, u8), String> {
    let (a, b) = args.opts();
    let mode = a.rx_mode;
    let names = (a.name.to_string(), b.name.to_string());
    let mut ep = Endpoint::open(&[a, b], out)?;
    let mut c = BridgeCounters::default();
    while !stop.should_stop() {
        let mut moved = 0;
        if let [Some(qa), Some(qb)] = &mut ep.queues[..] {
            moved += pass(qa, qb, &mut c.a_to_b);
            moved += pass(qb, qa, &mut c.b_to_a);
        } else if let [Some(qa), None] = &mut ep.queues[..] {
            // b is down: what arrives on a has nowhere to go
            moved += drain(qa, &mut c.a_to_b);
        } else if let [None, Some(qb)] = &mut ep.queues[..] {
            moved += drain(qb, &mut c.b_to_a);
        }
        ep.poll(if moved > 0 { std::time::Duration::ZERO } else { idle_wait(mode) })?;
    }
    ep.finish()?;
    if !out.json {
        out.line(&c.human(&names.0, &names.1));
    }
    Ok((Summary::Forward(c), 0))
}

fn drain(q: &mut Queues, c: &mut PathCounters) -> usize {
    let mut n = 0;
    for rx in q.rx.iter_mut() {
        if let Ok(b) = rx.rx_burst(64) {
            n += b.len();
            for _ in 0..b.len() {
                c.drop_one();
            }
            b.release();
        }
    }
    n
}
