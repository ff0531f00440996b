//! `memif ping`: ARP, then ICMP echo requests, printed like ping(8).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::cli::{PingArgs, RxMode};
use crate::packet::{build_arp_request, build_echo_request, parse_arp_reply, parse_echo_reply, EchoReply};
use crate::report::{ping_header, ping_reply_line, PingStats, Summary};
use crate::signals::StopFlag;

use super::{ControlPacer, Endpoint, Out};

/// Bytes of the next transmit buffer kept in our cache while waiting (polling): a
/// request of the default size.
const WARM_BYTES: usize = 128;

/// How long ping waits for the link before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends one frame on queue 0, waiting up to a second for a free buffer (a master
/// that just came up may have nothing to write into until the slave posts its receive
/// buffers); false when there was no room or no link.
fn send(ep: &mut Endpoint, frame: &[u8]) -> Result<bool, String> {
    let end = Instant::now() + Duration::from_secs(1);
    loop {
        let room = ep.queues[0].as_mut().and_then(|q| q.tx[0].alloc(1).ok().map(|b| b.len())).unwrap_or(0);
        if room > 0 {
            break;
        }
        if Instant::now() >= end {
            return Ok(false);
        }
        ep.poll(Duration::from_millis(1))?;
    }
    let ok = ep.queues[0].as_mut().is_some_and(|q| q.tx[0].send(&[frame]).unwrap_or(0) == 1);
    if ok {
        ep.capture(&[frame]);
    }
    Ok(ok)
}

/// Frames taken off the ring that no [`receive`] has looked at yet, with the time
/// they were taken: one burst can hold several replies.
type Backlog = VecDeque<(Instant, Vec<u8>)>;

/// Waits until `until` for a received frame that `want` accepts (given the frame and
/// when it was taken off the ring), looking at the frames left in `backlog` by the last
/// call first; captures every frame once, as it is taken off the ring. Polling, it looks
/// at the control channel when `pacer` says.
fn receive<T>(
    ep: &mut Endpoint,
    mode: RxMode,
    until: Instant,
    stop: &StopFlag,
    backlog: &mut Backlog,
    pacer: &mut ControlPacer,
    mut want: impl FnMut(&[u8], Instant) -> Option<T>,
) -> Result<Option<T>, String> {
    let mut idle_passes = 0u32;
    loop {
        while let Some((at, f)) = backlog.pop_front() {
            if let Some(found) = want(&f, at) {
                return Ok(Some(found));
            }
        }
        if let Some(q) = ep.queues[0].as_mut() {
            for rx in q.rx.iter_mut() {
                if let Ok(b) = rx.rx_burst(32) {
                    let at = Instant::now();
                    backlog.extend(b.iter().map(|p| (at, p.to_vec())));
                    b.release();
                }
            }
            // waiting (first pass, then every 64th): own the buffer the next request
            // goes to
            if backlog.is_empty() && mode == RxMode::Polling && idle_passes % 64 == 0 {
                let _ = q.tx[0].warm(WARM_BYTES);
            }
        }
        if !backlog.is_empty() {
            for (_, f) in backlog.iter() {
                ep.capture(&[f]);
            }
            continue;
        }
        let now = Instant::now();
        if now >= until || stop.should_stop() {
            return Ok(None);
        }
        match mode {
            RxMode::Interrupt => {
                ep.poll((until - now).min(crate::signals::STOP_CHECK_INTERVAL))?;
            }
            // a look at the control channel is a system call: not on every pass
            RxMode::Polling => {
                if pacer.due() {
                    ep.poll(Duration::ZERO)?;
                }
            }
        }
        idle_passes = idle_passes.wrapping_add(1);
    }
}

/// Pings; exit status 0 when at least one reply came.
pub fn run(args: &PingArgs, stop: &StopFlag, out: Out) -> Result<(Summary, u8), String> {
    let opts = args.endpoint.opts();
    let mode = opts.rx_mode;
    let mut ep = Endpoint::open(std::slice::from_ref(&opts), out)?;
    let mut stats = PingStats::new(args.dest);
    if !ep.wait_connected(stop, Some(CONNECT_TIMEOUT))? {
        out.status(&format!("memif ping: no memif link on {}", ep.sock.path()));
        return Ok((Summary::Ping(stats.json_summary(Duration::ZERO)), 1));
    }
    let my_mac = args.mac.0;
    let mut buf = vec![0u8; 65536];
    let mut backlog = Backlog::new();
    let mut pacer = ControlPacer::new();
    // ARP, a request a second until the timeout
    let mut peer_mac = None;
    let arp_deadline = Instant::now() + args.timeout.max(Duration::from_secs(1));
    while peer_mac.is_none() && Instant::now() < arp_deadline && !stop.should_stop() {
        let n = build_arp_request(my_mac, args.src_ip, args.dest, &mut buf).map_err(|e| e.to_string())?;
        let frame = buf[..n].to_vec();
        send(&mut ep, &frame)?;
        let until = (Instant::now() + Duration::from_secs(1)).min(arp_deadline);
        peer_mac = receive(&mut ep, mode, until, stop, &mut backlog, &mut pacer, |f, _| {
            parse_arp_reply(f, args.dest)
        })?;
    }
    let Some(peer_mac) = peer_mac else {
        out.status(&format!("memif ping: no ARP reply from {}", args.dest));
        ep.finish()?;
        if !out.json {
            out.line(&stats.summary(Duration::ZERO));
        }
        return Ok((Summary::Ping(stats.json_summary(Duration::ZERO)), 1));
    };
    out.line(&ping_header(args.dest, usize::from(args.size)));
    let id = (std::process::id() & 0xffff) as u16;
    let start = Instant::now();
    let mut sent_at: Vec<Instant> = Vec::new();
    let mut seq: u16 = 0;
    let mut last_reply = None::<Instant>;
    while u64::from(seq) < args.count && !stop.should_stop() {
        seq = seq.wrapping_add(1);
        let n = build_echo_request(
            my_mac,
            peer_mac,
            args.src_ip,
            args.dest,
            id,
            seq,
            usize::from(args.size),
            &mut buf,
        )
        .map_err(|e| e.to_string())?;
        let frame = buf[..n].to_vec();
        let t0 = Instant::now();
        sent_at.push(t0);
        stats.on_sent();
        send(&mut ep, &frame)?;
        // replies until the next request is due (the last one: until the timeout)
        let until = if u64::from(seq) < args.count { t0 + args.interval } else { t0 + args.timeout };
        loop {
            let r: Option<(EchoReply, Instant)> =
                receive(&mut ep, mode, until, stop, &mut backlog, &mut pacer, |f, at| {
                    parse_echo_reply(f, args.src_ip)
                        .filter(|r| r.id == id && r.from == args.dest)
                        .map(|r| (r, at))
                })?;
            let Some((reply, at)) = r else { break };
            if let Some(t) = sent_at.get(usize::from(reply.seq).wrapping_sub(1)) {
                let rtt = at.duration_since(*t);
                stats.on_reply(&reply, rtt);
                out.line(&ping_reply_line(&reply, rtt));
                last_reply = Some(at);
            }
            if reply.seq == seq && u64::from(seq) == args.count {
                break;
            }
        }
        let now = Instant::now();
        if now < until && u64::from(seq) < args.count {
            std::thread::sleep(until - now);
        }
    }
    let elapsed = last_reply.unwrap_or_else(Instant::now).duration_since(start);
    ep.finish()?;
    if !out.json {
        out.line("");
        out.line(stats.summary(elapsed).trim_end());
    }
    let code = if stats.received() > 0 { 0 } else { 1 };
    Ok((Summary::Ping(stats.json_summary(elapsed)), code))
}
