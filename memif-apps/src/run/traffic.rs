//! `memif gen` (txonly) and `memif sink` (rxonly).

use std::time::{Duration, Instant};

use memif_conn::RxBurst;

use crate::cli::{GenArgs, SinkArgs, StopAfter};
use crate::packet::{fill_test_frame, stamp_test_frame};
use crate::report::{RateMeter, Summary, Totals};
use crate::signals::StopFlag;

use super::{idle_wait, ControlPacer, Endpoint, Out};

/// Whether the run is over. `started` is when the measured window began (after any
/// warm-up); nothing is over before it.
fn done(stop_after: &StopAfter, packets: u64, started: Option<Instant>) -> bool {
    match *stop_after {
        StopAfter::Count(n) => started.is_some() && packets >= n,
        StopAfter::Duration(d) => started.is_some_and(|s| s.elapsed() >= d),
        StopAfter::Signal => false,
    }
}

/// How many frames the next burst may carry: `max`, or fewer to stop at exactly
/// `--count` once the measured window began.
fn allowed(stop_after: &StopAfter, packets: u64, started: Option<Instant>, max: usize) -> usize {
    match *stop_after {
        StopAfter::Count(n) if started.is_some() => (n.saturating_sub(packets)).min(max as u64) as usize,
        _ => max,
    }
}

/// The `--warmup` of gen and sink: the measured window starts once it is over.
struct Warmup {
    length: Option<Duration>,
    ends: Option<Instant>,
}

impl Warmup {
    fn new(length: Option<Duration>) -> Warmup {
        Warmup { length, ends: None }
    }

    /// Call while the window has not started and traffic flows (or, without a
    /// warm-up, may flow); true when the window starts `now`. The first call starts
    /// the warm-up.
    fn over(&mut self, now: Instant) -> bool {
        match self.length {
            None => true,
            Some(w) => now >= *self.ends.get_or_insert(now + w),
        }
    }

    /// Whether the warm-up began (always, without one).
    fn begun(&self) -> bool {
        self.length.is_none() || self.ends.is_some()
    }
}

/// Transmits test frames as fast as the peer takes them.
pub fn gen(args: &GenArgs, stop: &StopFlag, out: Out) -> Result<(Summary, u8), String> {
    let opts = args.endpoint.opts();
    let mut ep = Endpoint::open(std::slice::from_ref(&opts), out)?;
    let stop_after = args.stop.stop_after();
    let size = args.size as usize;
    let burst = usize::from(args.burst.max(1));
    // A master writes into the slave's buffers, which may be smaller than ours: then
    // it switches to chaining once it sees one.
    // With --pcap every frame is built apart (the send path), to be captured too.
    let capturing = ep.capturing();
    let mut chained = size > opts.buffer_size as usize || capturing;
    let mut frames: Vec<Vec<u8>> = Vec::new();
    // one prebuilt frame, copied and stamped with its sequence number per packet
    let mut template = vec![0u8; size];
    fill_test_frame(&mut template, 0);
    let (mut packets, mut bytes, mut seq) = (0u64, 0u64, 0u64);
    let mut started: Option<Instant> = None;
    let mut meter = RateMeter::new(Instant::now());
    let mut warmup = Warmup::new(args.warmup);
    let mut q_next = 0usize;
    let mut pacer = ControlPacer::new();
    // whether a frame fits in the ring of this link (checked once a buffer is posted)
    let mut fits = false;
    while !stop.should_stop() && !done(&stop_after, packets, started) {
        let Some(q) = ep.queues[0].as_mut() else {
            fits = false;
            ep.poll(Duration::from_millis(50))?;
            continue;
        };
        if !fits {
            fits = frame_fits(&mut q.tx[0], size)?;
        }
        if started.is_none() {
            let now = Instant::now();
            if warmup.over(now) {
                started = Some(now);
                meter = RateMeter::new(now);
                (packets, bytes) = (0, 0);
            }
        }
        let want = allowed(&stop_after, packets, started, burst);
        let nq = q.tx.len();
        let tx = &mut q.tx[q_next % nq];
        q_next = q_next.wrapping_add(1);
        let sent = if chained && !capturing {
            send_chained(tx, &template, seq, want, opts.buffer_size as usize)?
        } else if chained {
            if frames.len() != want {
                frames.resize_with(want, || vec![0u8; size]);
            }
            for (i, f) in frames.iter_mut().enumerate() {
                stamp_test_frame(f, &template, seq + i as u64);
            }
            let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
            tx.send(&refs).unwrap_or(0)
        } else {
            match tx.alloc(want) {
                Ok(b) => {
                    let (sent, too_small) = send_whole(b, &template, seq);
                    chained |= too_small;
                    sent
                }
                Err(_) => 0,
            }
        };
        if ep.capturing() {
            for f in &frames[..sent] {
                ep.capture(&[f]);
            }
        }
        packets += sent as u64;
        bytes += (sent * size) as u64;
        seq += sent as u64;
        if let Some(line) = meter.poll(Instant::now(), packets, bytes) {
            out.line(&format!("gen: {line}"));
        }
        if sent == 0 && pacer.due() || packets % 65536 < sent as u64 {
            ep.poll(Duration::ZERO)?;
        }
    }
    // let the peer take what is in flight before we go
    let end = Instant::now() + Duration::from_secs(5);
    while let Some(q) = ep.queues[0].as_mut() {
        if q.tx.iter_mut().all(|t| t.in_flight().map_or(true, |n| n == 0)) || Instant::now() > end {
            break;
        }
        ep.poll(Duration::from_millis(1))?;
    }
    if let Some(linger) = args.linger {
        let end = Instant::now() + linger;
        out.status(&format!(
            "gen: {packets} frames sent; keeping the link up for {:.1} s",
            linger.as_secs_f64()
        ));
        while ep.queues[0].is_some() && !stop.should_stop() && Instant::now() < end {
            ep.poll((end - Instant::now()).min(crate::signals::STOP_CHECK_INTERVAL))?;
        }
    }
    finish_traffic(&mut ep, "gen", &meter, packets, bytes, out, Summary::Gen)
}

/// Fills `b` with stamped copies of `template`, each whole in one buffer, and publishes
/// them up to the first buffer too small for a frame (a master writes into buffers the
/// slave sized, each as it likes). Returns frames sent and whether a buffer was too
/// small: then chain from now on.
fn send_whole(mut b: memif_conn::TxBurst<'_>, template: &[u8], seq: u64) -> (usize, bool) {
    let (size, n) = (template.len(), b.len());
    let mut fit = n;
    b.fill_each(|i, buf| match buf.get_mut(..size) {
        Some(dst) if i < fit => {
            stamp_test_frame(dst, template, seq + i as u64);
            size
        }
        _ => {
            fit = fit.min(i);
            0
        }
    });
    (b.commit(fit), fit < n)
}

/// Whether a `size`-byte frame fits in the ring of `tx`, chained over buffers of the
/// size of the first free one (false while none is free). An error if it never can
/// (more buffers than the ring has): gen would send nothing for ever.
fn frame_fits(tx: &mut memif_conn::TxQueue, size: usize) -> Result<bool, String> {
    let ring = tx.ring_size();
    let cap = match tx.alloc(1) {
        Ok(b) if !b.is_empty() => b.capacity(0), // dropped uncommitted: publishes nothing
        _ => return Ok(false),
    };
    let needed = size.div_ceil(cap.max(1));
    if needed > ring {
        return Err(format!(
            "a {size}-byte frame needs {needed} buffers of {cap} bytes, more than the ring's {ring} \
             descriptors: it can never be sent (use larger buffers, a larger ring or smaller frames)"
        ));
    }
    Ok(true)
}

/// Sends up to `want` copies of `template` (each stamped with its sequence number from
/// `seq`) chained over as many buffers as each needs, copied straight into the ring's
/// buffers; a frame that does not fit whole waits for the next burst. Returns frames
/// sent. `bs` (our buffer size) estimates the buffers a frame needs. An error if the
/// next buffer has no room at all (a slave posted it with length 0): nothing could
/// ever be sent.
fn send_chained(
    tx: &mut memif_conn::TxQueue,
    template: &[u8],
    seq: u64,
    want: usize,
    bs: usize,
) -> Result<usize, String> {
    let per_frame = |cap: usize| template.len().div_ceil(cap.max(1));
    let asked = want.saturating_mul(per_frame(bs));
    // a master writes into the slave's buffers, which may be smaller than ours: then
    // ask again for what the frames need in buffers of the size the first one has
    // (an allocation validates every descriptor it hands out: not twice when not needed)
    let cap = match tx.alloc(asked) {
        Ok(b) if !b.is_empty() && b.capacity(0) < bs => b.capacity(0),
        Ok(b) => return fill_chained(b, template, seq, want),
        Err(_) => return Ok(0),
    };
    match tx.alloc(want.saturating_mul(per_frame(cap)).max(asked)) {
        Ok(b) => fill_chained(b, template, seq, want),
        Err(_) => Ok(0),
    }
}

/// Fills `b` with up to `want` stamped copies of `template`, chained, and publishes the
/// complete ones; returns how many. An error if the burst's first buffer has no room.
fn fill_chained(
    mut b: memif_conn::TxBurst<'_>,
    template: &[u8],
    seq: u64,
    want: usize,
) -> Result<usize, String> {
    let seq_at = crate::packet::ETH_HEADER_LEN;
    let (mut used, mut complete, mut frames) = (0usize, 0usize, 0usize);
    'frames: while frames < want {
        let s = (seq + frames as u64).to_be_bytes();
        let mut off = 0;
        while off < template.len() {
            if used == b.len() {
                break 'frames;
            }
            let buf = b.buffer_mut(used);
            let take = buf.len().min(template.len() - off);
            if take == 0 {
                if used == 0 {
                    // it stays first in line: waiting would wait for ever
                    return Err("the peer posted a buffer of 0 bytes: gen cannot send into it".into());
                }
                break 'frames; // send what is complete; the next burst starts here
            }
            buf[..take].copy_from_slice(&template[off..off + take]);
            // the part of the sequence number in this piece (all of it in the first,
            // but for buffers of a few bytes): one copy of the overlap
            let (lo, hi) = (seq_at.max(off), (seq_at + s.len()).min(off + take));
            if lo < hi {
                buf[lo - off..hi - off].copy_from_slice(&s[lo - seq_at..hi - seq_at]);
            }
            b.set_len(used, take);
            off += take;
            b.set_next(used, off < template.len());
            used += 1;
        }
        complete = used;
        frames += 1;
    }
    b.commit(complete);
    Ok(frames)
}

fn finish_traffic(
    ep: &mut Endpoint,
    what: &str,
    meter: &RateMeter,
    packets: u64,
    bytes: u64,
    out: Out,
    wrap: fn(crate::report::TrafficSummary) -> Summary,
) -> Result<(Summary, u8), String> {
    ep.finish()?;
    let t: Totals = meter.totals(Instant::now(), packets, bytes);
    if !out.json {
        out.line(&t.line(what));
    }
    Ok((wrap(t.json_summary()), 0))
}

/// Receives and counts frames.
pub fn sink(args: &SinkArgs, stop: &StopFlag, out: Out) -> Result<(Summary, u8), String> {
    let opts = args.endpoint.opts();
    let mut ep = Endpoint::open(std::slice::from_ref(&opts), out)?;
    let stop_after = args.stop.stop_after();
    let (mut packets, mut bytes) = (0u64, 0u64);
    let mut started: Option<Instant> = None;
    let mut meter = RateMeter::new(Instant::now());
    let wait = idle_wait(opts.rx_mode);
    let capturing = ep.capturing();
    let mut captured: Vec<Vec<u8>> = Vec::new();
    let mut pacer = ControlPacer::new();
    let mut per_burst = SINK_DESCRIPTORS;
    let mut warmup = Warmup::new(args.warmup);
    while !stop.should_stop() && !done(&stop_after, packets, started) {
        let mut got = 0usize;
        if let Some(q) = ep.queues[0].as_mut() {
            // the warm-up starts with the first frame; without one, at link up
            if started.is_none() && warmup.begun() {
                let now = Instant::now();
                if warmup.over(now) {
                    started = Some(now);
                    meter = RateMeter::new(now);
                    (packets, bytes) = (0, 0);
                }
            }
            for rx in q.rx.iter_mut() {
                let max = allowed(&stop_after, packets, started, per_burst);
                if max == 0 {
                    break;
                }
                if let Ok(b) = rx.rx_burst(max) {
                    // about 256 descriptors a burst: with chained frames, bursts of 256
                    // packets would hold the whole ring until released, and the peer
                    // would wait for all of it instead of refilling as we go
                    if !b.is_empty() {
                        per_burst = (SINK_DESCRIPTORS * b.len() / b.descriptors().max(1)).max(1);
                    }
                    got += take_burst(b, &mut packets, &mut bytes, capturing.then_some(&mut captured));
                    if got > 0 && !warmup.begun() {
                        let _ = warmup.over(Instant::now());
                    }
                }
            }
        }
        if let Some(line) = meter.poll(Instant::now(), packets, bytes) {
            out.line(&format!("sink: {line}"));
        }
        if got == 0 && (ep.queues[0].is_none() || wait > Duration::ZERO || pacer.due()) {
            ep.poll(if ep.queues[0].is_none() { Duration::from_millis(50) } else { wait })?;
            // The peer left: what it put on the rings before (and counted as sent)
            // is still ours, read at once (before a stop signal ends the loop).
            if let Some(mut q) = ep.left[0].take() {
                for rx in q.rx.iter_mut() {
                    loop {
                        let max = allowed(&stop_after, packets, started, 256);
                        match rx.drain(max) {
                            Ok(b) if max > 0 && !b.is_empty() => {
                                let c = capturing.then_some(&mut captured);
                                take_burst(b, &mut packets, &mut bytes, c);
                            }
                            _ => break,
                        }
                    }
                }
            }
        }
        for f in captured.drain(..) {
            ep.capture(&[&f]);
        }
    }
    finish_traffic(&mut ep, "sink", &meter, packets, bytes, out, Summary::Sink)
}

/// Descriptors the sink takes off the ring at a time.
const SINK_DESCRIPTORS: usize = 256;

/// Counts a received burst (and copies it for the capture) and releases it; returns
/// its packets.
fn take_burst(
    b: RxBurst<'_>,
    packets: &mut u64,
    bytes: &mut u64,
    captured: Option<&mut Vec<Vec<u8>>>,
) -> usize {
    let n = b.len();
    *bytes += b.iter().map(|p| p.len() as u64).sum::<u64>();
    if let Some(c) = captured {
        c.extend(b.iter().map(|p| p.to_vec()));
    }
    *packets += n as u64;
    b.release();
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_counts_before_the_window() {
        let now = Instant::now();
        assert!(!done(&StopAfter::Count(5), 10, None));
        assert!(done(&StopAfter::Count(5), 5, Some(now)));
        assert!(!done(&StopAfter::Duration(Duration::from_secs(60)), 10, Some(now)));
        assert_eq!(allowed(&StopAfter::Count(5), 100, None, 32), 32);
        assert_eq!(allowed(&StopAfter::Count(5), 3, Some(now), 32), 2);
        assert_eq!(allowed(&StopAfter::Count(5), 7, Some(now), 32), 0);
        assert_eq!(allowed(&StopAfter::Signal, 7, Some(now), 32), 32);
    }

    #[test]
    fn warmup_starts_at_the_first_call() {
        let t0 = Instant::now();
        let mut none = Warmup::new(None);
        assert!(none.begun() && none.over(t0));
        let mut w = Warmup::new(Some(Duration::from_secs(1)));
        assert!(!w.begun());
        assert!(!w.over(t0));
        assert!(w.begun());
        assert!(!w.over(t0 + Duration::from_millis(999)));
        assert!(w.over(t0 + Duration::from_secs(1)));
    }

    /// A slave's M2S ring with its 16 buffers posted, one of them (slot 2) posted
    /// shorter than `short`: the slave sizes the buffers it posts, each as it likes. The
    /// master's transmit queue over it, and the slave's receive queue.
    fn posted_with_one_short(short: u32) -> (memif_ring::MasterTx, memif_ring::SlaveRx) {
        let (tx, rx, ring) = posted(2048);
        let d = ring.descriptor(2);
        ring.set_descriptor(2, &memif_proto::Descriptor::new(0, d.region.get(), short, d.offset.get()));
        (tx, rx)
    }

    /// A slave's M2S ring of 16 slots with its buffers of `buffer_size` bytes posted:
    /// the master's transmit queue over it, the slave's receive queue and the ring.
    fn posted(buffer_size: u32) -> (memif_ring::MasterTx, memif_ring::SlaveRx, memif_ring::Ring) {
        use memif_proto::Direction;
        let layout = memif_shm::Layout { log2_ring_size: 4, buffer_size, ..Default::default() };
        let mem = std::sync::Arc::new(memif_ring::Memory::new(layout.create_regions("gen-test").unwrap()));
        let ring =
            || memif_ring::Ring::new(mem.clone(), 0, layout.ring_offset(Direction::M2S, 0), 4).unwrap();
        ring().init(&layout, Direction::M2S, 0);
        let irq = memif_ring::Interrupt::new().unwrap();
        let mut rx = memif_ring::SlaveRx::new(ring(), &layout, 0, irq.clone());
        assert_eq!(rx.refill(), 16);
        (memif_ring::MasterTx::new(ring(), 2048, irq), rx, ring())
    }

    #[test]
    fn a_sequence_number_split_over_tiny_buffers_arrives_whole() {
        // 16-byte buffers: the number at bytes 14..22 is split over pieces 0 and 1
        let (mut tx, mut rx, _) = posted(16);
        let mut template = vec![0u8; 40];
        fill_test_frame(&mut template, 0);
        assert_eq!(fill_chained(tx.alloc(16).unwrap(), &template, 0x0102_0304_0506_0708, 5), Ok(5));
        let b = rx.rx_burst(16).unwrap();
        let seqs: Vec<Option<u64>> = b.iter().map(|p| crate::packet::test_frame_seq(&p.to_vec())).collect();
        let want: Vec<Option<u64>> = (0..5).map(|k| Some(0x0102_0304_0506_0708 + k)).collect();
        assert_eq!(seqs, want);
        for p in b.iter() {
            assert_eq!(p.num_segments(), 3);
        }
    }

    #[test]
    fn whole_frames_stop_at_a_buffer_posted_too_small_for_them() {
        let (mut tx, mut rx) = posted_with_one_short(1000);
        let mut template = vec![0u8; 1500];
        fill_test_frame(&mut template, 0);
        // it sliced buffer 2 to 1500 bytes and panicked: a slave could crash gen
        let (sent, too_small) = send_whole(tx.alloc(16).unwrap(), &template, 7);
        assert_eq!((sent, too_small), (2, true));
        assert_eq!(tx.counters().packets, 2);
        let b = rx.rx_burst(16).unwrap();
        assert_eq!(b.len(), 2);
        for (k, p) in b.iter().enumerate() {
            let f = p.to_vec();
            assert_eq!(f.len(), 1500);
            assert_eq!(crate::packet::test_frame_seq(&f), Some(7 + k as u64));
        }
    }

    #[test]
    fn chained_frames_use_a_short_buffer_as_it_is() {
        let (mut tx, mut rx) = posted_with_one_short(1000);
        let mut template = vec![0u8; 1500];
        fill_test_frame(&mut template, 0);
        // 2 frames whole in slots 0 and 1, the third over slots 2 (1000 bytes) and 3
        let sent = fill_chained(tx.alloc(16).unwrap(), &template, 0, 3);
        assert_eq!(sent, Ok(3));
        let b = rx.rx_burst(16).unwrap();
        let lens: Vec<(usize, usize)> = b.iter().map(|p| (p.num_segments(), p.len())).collect();
        assert_eq!(lens, [(1, 1500), (1, 1500), (2, 1500)]);
        for (k, p) in b.iter().enumerate() {
            assert_eq!(crate::packet::test_frame_seq(&p.to_vec()), Some(k as u64));
        }
    }

    #[test]
    fn a_buffer_posted_empty_is_an_error_once_it_is_first_in_line() {
        let (mut tx, mut rx) = posted_with_one_short(0);
        let mut template = vec![0u8; 1500];
        fill_test_frame(&mut template, 0);
        // slots 0 and 1 carry two frames; the burst stops at the empty slot 2
        assert_eq!(fill_chained(tx.alloc(16).unwrap(), &template, 0, 8), Ok(2));
        assert_eq!(rx.rx_burst(16).unwrap().len(), 2);
        // now it is first: an error, not a gen that sends nothing for ever
        let e = fill_chained(tx.alloc(16).unwrap(), &template, 2, 8).unwrap_err();
        assert!(e.contains("0 bytes"), "{e}");
        let (sent, too_small) = send_whole(tx.alloc(16).unwrap(), &template, 2);
        assert_eq!((sent, too_small), (0, true));
    }
}
