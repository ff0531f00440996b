//! `memif tap`: a Linux TAP device bridged to a memif interface both ways.

use std::time::Duration;

use crate::cli::TapArgs;
use crate::report::{BridgeCounters, Summary};
use crate::signals::StopFlag;
use crate::tap::TapDevice;

use super::{Endpoint, Out};

/// Bridges until stopped.
pub fn run(args: &TapArgs, stop: &StopFlag, out: Out) -> Result<(Summary, u8), String> {
    let opts = args.endpoint.opts();
    let tap = TapDevice::open(&args.tap).map_err(|e| format!("cannot open TAP device {}: {e}", args.tap))?;
    let mut ep = Endpoint::open(std::slice::from_ref(&opts), out)?;
    out.status(&format!("tap: bridging {} and {} on {}", tap.name(), opts.name, ep.sock.path()));
    let mut c = BridgeCounters::default();
    let mut buf = vec![0u8; 65536];
    while !stop.should_stop() {
        let mut moved = 0;
        // TAP -> memif
        for _ in 0..64 {
            let Some(n) = tap.try_recv(&mut buf).map_err(|e| format!("TAP read: {e}"))? else { break };
            moved += 1;
            let sent = ep.queues[0].as_mut().map_or(0, |q| q.tx[0].send(&[&buf[..n]]).unwrap_or(0));
            if sent == 1 {
                c.a_to_b.pass(n);
                ep.capture(&[&buf[..n]]);
            } else {
                c.a_to_b.drop_one();
            }
        }
        // memif -> TAP
        let mut frames = Vec::new();
        if let Some(q) = ep.queues[0].as_mut() {
            for rx in q.rx.iter_mut() {
                if let Ok(b) = rx.rx_burst(64) {
                    frames.extend(b.iter().map(|p| p.to_vec()));
                    b.release();
                }
            }
        }
        for f in &frames {
            moved += 1;
            ep.capture(&[f]);
            match tap.send(f) {
                Ok(()) => c.b_to_a.pass(f.len()),
                Err(_) => c.b_to_a.drop_one(),
            }
        }
        if moved == 0 {
            // nothing moved: wait a little on the TAP device, then on the control side
            if let Some(n) =
                tap.recv_timeout(&mut buf, Duration::from_millis(1)).map_err(|e| e.to_string())?
            {
                let sent = ep.queues[0].as_mut().map_or(0, |q| q.tx[0].send(&[&buf[..n]]).unwrap_or(0));
                if sent == 1 {
                    c.a_to_b.pass(n);
                    ep.capture(&[&buf[..n]]);
                } else {
                    c.a_to_b.drop_one();
                }
            }
        }
        ep.poll(Duration::ZERO)?;
    }
    ep.finish()?;
    if !out.json {
        out.line(&c.human(tap.name(), &opts.name.to_string()));
    }
    Ok((Summary::Tap(c), 0))
}
