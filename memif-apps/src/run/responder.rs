//! `memif icmp-responder`: answers ARP and ICMP echo requests until stopped.

use std::time::Duration;

use crate::cli::IcmpResponderArgs;
use crate::packet::{respond_detailed, Answer};
use crate::report::{ResponderCounters, Summary};
use crate::signals::StopFlag;

use super::{idle_wait, Endpoint, Out};

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
    let mut frame = vec![0u8; 65536];
    let mut captured: Vec<Vec<u8>> = Vec::new();
    let capturing = ep.capturing();
    let wait = idle_wait(opts.rx_mode);
    while !stop.should_stop() {
        let mut busy = false;
        if let Some(q) = ep.queues[0].as_mut() {
            for (rx, tx) in q.rx.iter_mut().zip(q.tx.iter_mut()) {
                let mut answers: Vec<Vec<u8>> = Vec::new();
                match rx.rx_burst(32) {
                    Ok(burst) => {
                        for p in burst.iter() {
                            c.rx_packets += 1;
                            let n = p.copy_to(&mut frame);
                            if capturing {
                                captured.push(frame[..n].to_vec());
                            }
                            let mut reply = vec![0u8; n + 64];
                            match respond_detailed(&frame[..n], args.ip, args.mac.0, &mut reply) {
                                Some((kind, len)) => {
                                    match kind {
                                        Answer::ArpReply => c.arp_replies += 1,
                                        Answer::EchoReply => c.echo_replies += 1,
                                    }
                                    reply.truncate(len);
                                    answers.push(reply);
                                }
                                None => c.ignored += 1,
                            }
                        }
                        busy |= !burst.is_empty();
                        burst.release();
                    }
                    Err(e) => {
                        out.status(&format!("receive: {e}"));
                        continue;
                    }
                }
                if answers.is_empty() {
                    continue;
                }
                let refs: Vec<&[u8]> = answers.iter().map(|a| a.as_slice()).collect();
                let sent = tx.send(&refs).unwrap_or(0);
                c.tx_packets += sent as u64;
                c.tx_dropped += (refs.len() - sent) as u64;
                if capturing {
                    captured.extend(answers.drain(..sent));
                }
            }
        }
        for f in captured.drain(..) {
            ep.capture(&[&f]);
        }
        ep.poll(if busy { Duration::ZERO } else { wait })?;
    }
    c.connects = ep.connects;
    ep.finish()?;
    if !out.json {
        out.line(&c.human());
    }
    Ok((Summary::IcmpResponder(c), 0))
}
