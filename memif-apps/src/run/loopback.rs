//! `memif loopback`: a master and a slave in this process over a real socket. By
//! default the master sends test frames and the slave sends them back zero-copy (by
//! swapping descriptors); with `--reverse` the slave sends and the master copies them
//! back. Each frame is checked on its return.

use std::time::{Duration, Instant};

use crate::cli::LoopbackArgs;
use crate::packet::{check_test_frame, fill_test_frame};
use crate::report::{LoopbackResult, Summary};
use crate::signals::StopFlag;

use super::{Endpoint, Out};

const FRAME: usize = 128;

/// Runs the loopback; exit status 0 when every frame came back intact.
pub fn run(args: &LoopbackArgs, stop: &StopFlag, out: Out) -> Result<(Summary, u8), String> {
    let (mo, mut so) = args.opts();
    // --pcap: one capture, the master's view (both would write the same file)
    so.pcap = None;
    let mut m = Endpoint::open(&[mo], out)?;
    let mut s = Endpoint::open(&[so], out)?;
    let end = Instant::now() + Duration::from_secs(10);
    while m.queues[0].is_none() || s.queues[0].is_none() {
        if Instant::now() > end || stop.should_stop() {
            return Err(format!("loopback: the two ends did not connect on {}", m.sock.path()));
        }
        m.poll(Duration::from_millis(1))?;
        s.poll(Duration::from_millis(1))?;
    }
    let mut r = LoopbackResult { reverse: args.reverse, ..LoopbackResult::default() };
    let (mut next_check, mut frame) = (0u64, vec![0u8; FRAME]);
    let capturing = m.capturing();
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let end = Instant::now() + Duration::from_secs(30);
    while r.received < args.count && Instant::now() < end && !stop.should_stop() {
        let (mq, sq) = match (m.queues[0].as_mut(), s.queues[0].as_mut()) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err("loopback: a link went down".into()),
        };
        // the sender: keep up to 64 frames out
        let (tx, echo_rx, echo_tx, rx) = if args.reverse {
            (&mut sq.tx[0], &mut mq.rx[0], &mut mq.tx[0], &mut sq.rx[0])
        } else {
            (&mut mq.tx[0], &mut sq.rx[0], &mut sq.tx[0], &mut mq.rx[0])
        };
        if r.sent < args.count && r.sent - r.received < 64 {
            fill_test_frame(&mut frame, r.sent);
            let sent = tx.send(&[&frame]).map_err(|e| e.to_string())?;
            if capturing && sent == 1 && !args.reverse {
                seen.push(frame.clone());
            }
            r.sent += sent as u64;
        }
        // the echo side
        if args.reverse {
            if let Ok(b) = echo_rx.rx_burst(64) {
                let frames: Vec<Vec<u8>> = b.iter().map(|p| p.to_vec()).collect();
                b.release();
                let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
                let mut done = 0;
                while done < refs.len() {
                    done += echo_tx.send(&refs[done..]).map_err(|e| e.to_string())?;
                }
                if capturing {
                    // received by the master, and sent back
                    seen.extend(frames.iter().chain(frames.iter()).cloned());
                }
            }
        } else {
            echo_rx.forward_to(echo_tx, 64).map_err(|e| e.to_string())?;
        }
        // back home
        if let Ok(b) = rx.rx_burst(64) {
            for p in b.iter() {
                if capturing && !args.reverse {
                    seen.push(p.to_vec());
                }
                r.received += 1;
                match check_test_frame(&p.to_vec()) {
                    Ok(seq) if seq == next_check => r.intact += 1,
                    _ => r.bad += 1,
                }
                next_check += 1;
            }
            b.release();
        }
        for f in seen.drain(..) {
            m.capture(&[&f]);
        }
        m.poll(Duration::ZERO)?;
        s.poll(Duration::ZERO)?;
    }
    m.finish()?;
    if !out.json {
        out.line(&r.human());
    }
    let code = if r.ok() { 0 } else { 1 };
    Ok((Summary::Loopback(r), code))
}
