//! `memif icmp-responder`: answers ARP and ICMP echo requests until stopped.

use std::time::Duration;

use crate::cli::IcmpResponderArgs;
use crate::packet::{respond_detailed, Answer};
use crate::report::{ResponderCounters, Summary};
use crate::signals::StopFlag;

use super::{idle_wait, ControlPacer, Endpoint, Out};

/// Bytes of the next transmit buffer kept in our cache while idle: a ping of the
/// default size and its headers.
const WARM_BYTES: usize = 128;

/// Runs the responder until `stop`; a slave reconnects, a master keeps listening.
pub fn run(args: &IcmpResponderArgs, stop: &StopFlag, out: Out) -> Result<(Summary, u8), String> {
    let opts = args.endpoint.opts();
    let mut ep = Endpoint::open(std::slice::from_ref(&opts), out)?;
    out.status(&format!(
        "icmp-responder: {} on {} as {:?} id {}, answering for {} ({})",
        opts.name,
        ep.sock.path(),
        opts.role,
        opts.id,
        args.ip,
        args.mac
    ));
    let mut c = ResponderCounters::default();
    // a request is copied out of shared memory before it is parsed (the peer may write
    // to its buffer meanwhile); answers too large for one buffer are built here
    let mut frame = vec![0u8; 65536];
    let mut big = vec![0u8; 65536 + 64];
    let mut captured: Vec<Vec<u8>> = Vec::new();
    let capturing = ep.capturing();
    let wait = idle_wait(opts.rx_mode);
    let mut pacer = ControlPacer::new();
    let mut idle_passes = 0u32;
    while !stop.should_stop() {
        let mut busy = false;
        if let Some(q) = ep.queues[0].as_mut() {
            for (rx, tx) in q.rx.iter_mut().zip(q.tx.iter_mut()) {
                let burst = match rx.rx_burst(32) {
                    Ok(b) => b,
                    Err(e) => {
                        out.status(&format!("receive: {e}"));
                        continue;
                    }
                };
                if burst.is_empty() {
                    // idle (first pass, then every 64th): own the buffer the next
                    // answer goes to, so that writing it does not wait for the
                    // pinger's core (a tenth of a round trip)
                    if idle_passes % 64 == 0 {
                        let _ = tx.warm(WARM_BYTES);
                    }
                    continue;
                }
                busy = true;
                c.rx_packets += burst.len() as u64;
                let answer = |request: &[u8], out: &mut [u8], c: &mut ResponderCounters| {
                    let (kind, len) = respond_detailed(request, args.ip, args.mac.0, out)?;
                    match kind {
                        Answer::ArpReply => c.arp_replies += 1,
                        Answer::EchoReply => c.echo_replies += 1,
                    }
                    Some(len)
                };
                // answers go straight into transmit buffers, published together
                let mut next = 0;
                if let Ok(mut txb) = tx.alloc(burst.len()) {
                    let mut k = 0;
                    while k < txb.len() {
                        let Some(p) = burst.get(next) else { break };
                        let n = p.copy_to(&mut frame);
                        // an answer is never longer than its request: one that does not
                        // fit the buffer is left to the copying path below
                        if n > txb.capacity(k) {
                            break;
                        }
                        next += 1;
                        if capturing {
                            captured.push(frame[..n].to_vec());
                        }
                        match answer(&frame[..n], txb.buffer_mut(k), &mut c) {
                            Some(len) => {
                                if capturing {
                                    captured.push(txb.buffer_mut(k)[..len].to_vec());
                                }
                                txb.set_len(k, len);
                                k += 1;
                            }
                            None => c.ignored += 1,
                        }
                    }
                    let sent = txb.commit(k);
                    c.tx_packets += sent as u64;
                    c.tx_dropped += (k - sent) as u64;
                }
                // the rest: answers chained over several buffers, or no buffer left
                while let Some(p) = burst.get(next) {
                    next += 1;
                    let n = p.copy_to(&mut frame);
                    if capturing {
                        captured.push(frame[..n].to_vec());
                    }
                    let Some(len) = answer(&frame[..n], &mut big, &mut c) else {
                        c.ignored += 1;
                        continue;
                    };
                    let sent = tx.send(&[&big[..len]]).unwrap_or(0);
                    c.tx_packets += sent as u64;
                    c.tx_dropped += (1 - sent) as u64;
                    if capturing && sent == 1 {
                        captured.push(big[..len].to_vec());
                    }
                }
                burst.release();
            }
        }
        for f in captured.drain(..) {
            ep.capture(&[&f]);
        }
        idle_passes = if busy { 0 } else { idle_passes.wrapping_add(1) };
        if ep.queues[0].is_none() || wait > Duration::ZERO || pacer.due() {
            let timeout = match (&ep.queues[0], busy) {
                (None, _) => Duration::from_millis(50),
                (Some(_), true) => Duration::ZERO,
                (Some(_), false) => wait,
            };
            ep.poll(timeout)?;
        }
    }
    c.connects = ep.connects;
    ep.finish()?;
    if !out.json {
        out.line(&c.human());
    }
    Ok((Summary::IcmpResponder(c), 0))
}
