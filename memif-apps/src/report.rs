//! What the subcommands print: ping's lines and summary, per-second rates and final
//! totals for traffic, counters for the long-running subcommands, and the `--json`
//! summary (one JSON object, on stdout, at the end of every subcommand).
//!
//! Nothing here reads the clock: callers pass `Instant`s and `Duration`s, so the
//! formatting is tested with exact inputs.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::packet::EchoReply;

/// The line ping prints before the first request:
/// `PING 192.168.1.1 (192.168.1.1) 56(84) bytes of data.`
pub fn ping_header(dest: Ipv4Addr, payload_size: usize) -> String {
    format!("PING {dest} ({dest}) {payload_size}({}) bytes of data.", payload_size + 28)
}

/// The line ping prints for one reply:
/// `64 bytes from 192.168.1.1: icmp_seq=1 ttl=64 time=0.123 ms`.
/// A reply whose payload is not what was sent is marked `(DIFFERENT DATA)`.
pub fn ping_reply_line(reply: &EchoReply, rtt: Duration) -> String {
    let mut line = format!(
        "{} bytes from {}: icmp_seq={} ttl={} time={} ms",
        reply.len,
        reply.from,
        reply.seq,
        reply.ttl,
        format_rtt(rtt)
    );
    if !reply.payload_ok {
        line.push_str(" (DIFFERENT DATA)");
    }
    line
}

/// A round-trip time in milliseconds with iputils ping's precision: three decimals
/// below 1 ms, two below 10 ms, one below 100 ms, none above.
pub fn format_rtt(rtt: Duration) -> String {
    let ms = rtt.as_secs_f64() * 1e3;
    let decimals = match ms {
        m if m < 1.0 => 3,
        m if m < 10.0 => 2,
        m if m < 100.0 => 1,
        _ => 0,
    };
    format!("{ms:.decimals$}")
}

/// Counts of a ping run, and its round-trip times.
#[derive(Debug, Clone, PartialEq)]
pub struct PingStats {
    dest: Ipv4Addr,
    transmitted: u64,
    received: u64,
    corrupted: u64,
    /// Every round trip, in milliseconds, in the order the replies came.
    rtts_ms: Vec<f64>,
}

/// Round-trip time statistics in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RttStats {
    /// Shortest.
    pub min: f64,
    /// Mean.
    pub avg: f64,
    /// Longest.
    pub max: f64,
    /// Standard deviation (ping's "mdev").
    pub mdev: f64,
    /// Median, at full precision (not in ping's summary line; a figure that one slow
    /// reply does not move, for benchmarks).
    pub median: f64,
}

impl PingStats {
    /// Nothing sent yet to `dest`.
    pub fn new(dest: Ipv4Addr) -> PingStats {
        PingStats { dest, transmitted: 0, received: 0, corrupted: 0, rtts_ms: Vec::new() }
    }

    /// Counts an echo request sent.
    pub fn on_sent(&mut self) {
        self.transmitted += 1;
    }

    /// Counts a reply that came after `rtt`.
    pub fn on_reply(&mut self, reply: &EchoReply, rtt: Duration) {
        let ms = rtt.as_secs_f64() * 1e3;
        self.received += 1;
        if !reply.payload_ok {
            self.corrupted += 1;
        }
        self.rtts_ms.push(ms);
    }

    /// Requests sent.
    pub fn transmitted(&self) -> u64 {
        self.transmitted
    }

    /// Replies received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Packet loss in percent (0 when nothing was sent).
    pub fn loss_percent(&self) -> f64 {
        if self.transmitted == 0 {
            return 0.0;
        }
        self.transmitted.saturating_sub(self.received) as f64 * 100.0 / self.transmitted as f64
    }

    /// Round-trip statistics, if any reply came.
    pub fn rtt(&self) -> Option<RttStats> {
        let mut sorted = self.rtts_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let (&min, &max) = (sorted.first()?, sorted.last()?);
        let n = sorted.len() as f64;
        let avg = self.rtts_ms.iter().sum::<f64>() / n;
        let var = (self.rtts_ms.iter().map(|r| r * r).sum::<f64>() / n - avg * avg).max(0.0);
        let mid = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 };
        Some(RttStats { min, avg, max, mdev: var.sqrt(), median })
    }

    /// ping's closing lines, e.g.
    ///
    /// ```text
    /// --- 192.168.1.1 ping statistics ---
    /// 5 packets transmitted, 5 received, 0% packet loss, time 4005ms
    /// rtt min/avg/max/mdev = 0.040/0.061/0.099/0.020 ms
    /// ```
    ///
    /// `elapsed` is the time from the first request to the end.
    pub fn summary(&self, elapsed: Duration) -> String {
        let mut s = format!("--- {} ping statistics ---\n", self.dest);
        let _ = write!(s, "{} packets transmitted, {} received", self.transmitted, self.received);
        if self.corrupted > 0 {
            let _ = write!(s, ", +{} corrupted", self.corrupted);
        }
        let _ =
            writeln!(s, ", {}% packet loss, time {}ms", format_g(self.loss_percent()), elapsed.as_millis());
        if let Some(r) = self.rtt() {
            let _ =
                writeln!(s, "rtt min/avg/max/mdev = {:.3}/{:.3}/{:.3}/{:.3} ms", r.min, r.avg, r.max, r.mdev);
        }
        s
    }

    /// The `--json` summary.
    pub fn json_summary(&self, elapsed: Duration) -> PingSummary {
        PingSummary {
            destination: self.dest,
            transmitted: self.transmitted,
            received: self.received,
            corrupted: self.corrupted,
            loss_percent: self.loss_percent(),
            time_ms: elapsed.as_millis() as u64,
            rtt_ms: self.rtt(),
        }
    }
}

/// `--json` summary of a ping run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PingSummary {
    /// Address pinged.
    pub destination: Ipv4Addr,
    /// Echo requests sent.
    pub transmitted: u64,
    /// Echo replies received.
    pub received: u64,
    /// Replies whose payload differed from the request's.
    pub corrupted: u64,
    /// Packet loss in percent.
    pub loss_percent: f64,
    /// Milliseconds from the first request to the end.
    pub time_ms: u64,
    /// Round-trip times in milliseconds; `null` when no reply came.
    pub rtt_ms: Option<RttStats>,
}

/// `%g`-style formatting as ping uses for the loss: at most six significant digits,
/// no trailing zeros (`0`, `20`, `33.3333`, `100`).
fn format_g(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    // Digits before the point of the first significant digit, as printf's %g counts.
    let exponent = v.abs().log10().floor() as i32;
    let decimals = (5 - exponent).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Packets and bytes over a time: the totals of `gen` and `sink`, and of each
/// per-second line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Frames.
    pub packets: u64,
    /// Bytes of Ethernet frames (no FCS, preamble or gap).
    pub bytes: u64,
    /// Time they took.
    pub elapsed: Duration,
}

impl Totals {
    /// Millions of packets per second.
    pub fn mpps(&self) -> f64 {
        per_second(self.packets, self.elapsed) / 1e6
    }

    /// Gigabits per second of frame bytes.
    pub fn gbps(&self) -> f64 {
        per_second(self.bytes, self.elapsed) * 8.0 / 1e9
    }

    /// The final line: `gen: 1000000 packets, 64000000 bytes in 1.250 s: 0.800 Mpps, 0.410 Gbit/s`.
    pub fn line(&self, what: &str) -> String {
        format!(
            "{what}: {} packets, {} bytes in {:.3} s: {:.3} Mpps, {:.3} Gbit/s",
            self.packets,
            self.bytes,
            self.elapsed.as_secs_f64(),
            self.mpps(),
            self.gbps()
        )
    }

    /// The `--json` form.
    pub fn json_summary(&self) -> TrafficSummary {
        TrafficSummary {
            packets: self.packets,
            bytes: self.bytes,
            seconds: self.elapsed.as_secs_f64(),
            mpps: self.mpps(),
            gbps: self.gbps(),
        }
    }
}

fn per_second(n: u64, over: Duration) -> f64 {
    let s = over.as_secs_f64();
    if s > 0.0 {
        n as f64 / s
    } else {
        0.0
    }
}

/// `--json` summary of a traffic run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrafficSummary {
    /// Frames sent or received.
    pub packets: u64,
    /// Bytes of those frames.
    pub bytes: u64,
    /// Seconds from the first frame to the end.
    pub seconds: f64,
    /// Millions of packets per second.
    pub mpps: f64,
    /// Gigabits per second of frame bytes.
    pub gbps: f64,
}

/// Turns running counters into one rate line per interval (a second by default).
#[derive(Debug, Clone)]
pub struct RateMeter {
    start: Instant,
    last: Instant,
    last_packets: u64,
    last_bytes: u64,
    interval: Duration,
}

impl RateMeter {
    /// Starts measuring at `now`, with one-second intervals.
    pub fn new(now: Instant) -> RateMeter {
        RateMeter::with_interval(now, Duration::from_secs(1))
    }

    /// Starts measuring at `now`, reporting every `interval`.
    pub fn with_interval(now: Instant, interval: Duration) -> RateMeter {
        RateMeter { start: now, last: now, last_packets: 0, last_bytes: 0, interval }
    }

    /// Call often with the running totals; once an interval has passed since the last
    /// line, returns the line for it: `   3.0 s   14210000 pkt/s   14.210 Mpps    7.276 Gbit/s`.
    #[must_use]
    pub fn poll(&mut self, now: Instant, packets: u64, bytes: u64) -> Option<String> {
        let since = now.saturating_duration_since(self.last);
        if since < self.interval {
            return None;
        }
        let window = Totals {
            packets: packets.saturating_sub(self.last_packets),
            bytes: bytes.saturating_sub(self.last_bytes),
            elapsed: since,
        };
        self.last = now;
        self.last_packets = packets;
        self.last_bytes = bytes;
        Some(format!(
            "{:6.1} s {:>10.0} pkt/s {:>8.3} Mpps {:>8.3} Gbit/s",
            now.saturating_duration_since(self.start).as_secs_f64(),
            window.mpps() * 1e6,
            window.mpps(),
            window.gbps()
        ))
    }

    /// Totals from the start to `now`.
    pub fn totals(&self, now: Instant, packets: u64, bytes: u64) -> Totals {
        Totals { packets, bytes, elapsed: now.saturating_duration_since(self.start) }
    }
}

/// Counters of `icmp-responder`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ResponderCounters {
    /// Frames received.
    pub rx_packets: u64,
    /// Frames sent (answers).
    pub tx_packets: u64,
    /// ARP requests answered.
    pub arp_replies: u64,
    /// ICMP echo requests answered.
    pub echo_replies: u64,
    /// Received frames not answered (not for us, not ARP/ICMP echo, malformed).
    pub ignored: u64,
    /// Answers that could not be sent (no free buffer, link down).
    pub tx_dropped: u64,
    /// Times the peer connected.
    pub connects: u64,
}

impl ResponderCounters {
    /// The closing lines.
    pub fn human(&self) -> String {
        format!(
            "icmp-responder: {} packets received, {} sent ({} ARP replies, {} echo replies), \
             {} ignored, {} dropped on transmit, {} connections",
            self.rx_packets,
            self.tx_packets,
            self.arp_replies,
            self.echo_replies,
            self.ignored,
            self.tx_dropped,
            self.connects
        )
    }
}

/// Packets and bytes one way through `forward` or `tap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PathCounters {
    /// Frames passed on.
    pub packets: u64,
    /// Bytes passed on.
    pub bytes: u64,
    /// Frames that arrived but could not be passed on.
    pub dropped: u64,
}

impl PathCounters {
    /// Counts a frame of `len` bytes passed on.
    pub fn pass(&mut self, len: usize) {
        self.packets += 1;
        self.bytes += len as u64;
    }

    /// Counts a frame dropped.
    pub fn drop_one(&mut self) {
        self.dropped += 1;
    }

    fn human(&self, from: &str, to: &str) -> String {
        format!("{from} -> {to}: {} packets, {} bytes, {} dropped", self.packets, self.bytes, self.dropped)
    }
}

/// Counters of `forward` (interfaces a and b) or `tap` (a = TAP device, b = memif).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct BridgeCounters {
    /// Frames from a to b.
    pub a_to_b: PathCounters,
    /// Frames from b to a.
    pub b_to_a: PathCounters,
}

impl BridgeCounters {
    /// The closing lines, naming the two sides.
    pub fn human(&self, a: &str, b: &str) -> String {
        format!("{}\n{}", self.a_to_b.human(a, b), self.b_to_a.human(b, a))
    }
}

/// Outcome of `loopback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct LoopbackResult {
    /// `false`: the master sent and the slave reflected zero-copy; `true` (`--reverse`):
    /// the slave sent and the master copied back.
    pub reverse: bool,
    /// Test frames sent.
    pub sent: u64,
    /// Frames that came back.
    pub received: u64,
    /// Frames that came back exactly as sent, in order.
    pub intact: u64,
    /// Frames that came back damaged, out of order or unexpected.
    pub bad: u64,
}

impl LoopbackResult {
    /// Whether every frame came back intact.
    pub fn ok(&self) -> bool {
        self.sent > 0 && self.intact == self.sent && self.received == self.sent && self.bad == 0
    }

    /// The verdict line.
    pub fn human(&self) -> String {
        let path = if self.reverse {
            "slave -> master -> slave (master copies back)"
        } else {
            "master -> slave -> master (slave reflects zero-copy)"
        };
        let verdict = if self.ok() { "data intact" } else { "DATA NOT INTACT" };
        format!(
            "loopback {path}: {} sent, {} received, {} intact, {} bad: {verdict}",
            self.sent, self.received, self.intact, self.bad
        )
    }
}

/// `--json` summary of `demo`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoSummary {
    /// The ping part.
    pub ping: PingSummary,
    /// The throughput part.
    pub throughput: TrafficSummary,
}

/// The `--json` summary of any subcommand: one object whose `command` field names the
/// subcommand, the other fields are that subcommand's counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Summary {
    /// `icmp-responder`.
    IcmpResponder(ResponderCounters),
    /// `ping`.
    Ping(PingSummary),
    /// `gen`.
    Gen(TrafficSummary),
    /// `sink`.
    Sink(TrafficSummary),
    /// `loopback`.
    Loopback(LoopbackResult),
    /// `forward`.
    Forward(BridgeCounters),
    /// `tap` (a = TAP device, b = memif).
    Tap(BridgeCounters),
    /// `demo`.
    Demo(DemoSummary),
}

impl Summary {
    /// The object as one line of JSON.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail (no maps with non-string keys,
        // no failing Serialize impls); non-finite floats become null.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn reply(seq: u16, ok: bool) -> EchoReply {
        EchoReply { from: Ipv4Addr::new(192, 168, 1, 1), id: 1, seq, ttl: 64, len: 64, payload_ok: ok }
    }

    #[test]
    fn ping_lines_look_like_iputils() {
        assert_eq!(
            ping_header(Ipv4Addr::new(192, 168, 1, 1), 56),
            "PING 192.168.1.1 (192.168.1.1) 56(84) bytes of data."
        );
        assert_eq!(
            ping_reply_line(&reply(1, true), Duration::from_micros(123)),
            "64 bytes from 192.168.1.1: icmp_seq=1 ttl=64 time=0.123 ms"
        );
        assert_eq!(
            ping_reply_line(&reply(2, false), Duration::from_micros(1500)),
            "64 bytes from 192.168.1.1: icmp_seq=2 ttl=64 time=1.50 ms (DIFFERENT DATA)"
        );
        assert_eq!(format_rtt(Duration::from_micros(12_345)), "12.3");
        assert_eq!(format_rtt(Duration::from_micros(123_456)), "123");
    }

    #[test]
    fn ping_summary_with_all_replies() {
        let mut s = PingStats::new(Ipv4Addr::new(192, 168, 1, 1));
        for (i, us) in [40u64, 60, 80, 100, 120].iter().enumerate() {
            s.on_sent();
            s.on_reply(&reply(i as u16 + 1, true), Duration::from_micros(*us));
        }
        // mean 0.080 ms; population standard deviation of 40..120 step 20 us = 28.284 us
        assert_eq!(
            s.summary(Duration::from_millis(4005)),
            "--- 192.168.1.1 ping statistics ---\n\
             5 packets transmitted, 5 received, 0% packet loss, time 4005ms\n\
             rtt min/avg/max/mdev = 0.040/0.080/0.120/0.028 ms\n"
        );
    }

    #[test]
    fn median_round_trip_ignores_one_slow_reply() {
        let mut s = PingStats::new(Ipv4Addr::new(192, 168, 1, 1));
        for (i, ns) in [2_400u64, 9_000_000, 2_100, 2_600, 2_200].iter().enumerate() {
            s.on_sent();
            s.on_reply(&reply(i as u16 + 1, true), Duration::from_nanos(*ns));
        }
        let r = s.rtt().unwrap();
        assert!((r.median - 0.0024).abs() < 1e-12, "{r:?}");
        assert!(r.avg > 1.0, "{r:?}");
        s.on_sent();
        s.on_reply(&reply(6, true), Duration::from_nanos(2_300));
        // an even count: the mean of the two middle ones, 2.3 and 2.4 us
        assert!((s.rtt().unwrap().median - 0.00235).abs() < 1e-12, "{:?}", s.rtt());
    }

    #[test]
    fn ping_summary_with_loss_and_none() {
        let mut s = PingStats::new(Ipv4Addr::new(10, 0, 0, 1));
        for _ in 0..3 {
            s.on_sent();
        }
        assert_eq!(
            s.summary(Duration::from_millis(2002)),
            "--- 10.0.0.1 ping statistics ---\n3 packets transmitted, 0 received, 100% packet loss, time 2002ms\n"
        );
        s.on_reply(&reply(1, false), Duration::from_millis(2));
        assert!(s
            .summary(Duration::from_millis(2002))
            .contains("3 packets transmitted, 1 received, +1 corrupted, 66.6667% packet loss"));
        assert_eq!(s.loss_percent(), 200.0 / 3.0);
    }

    #[test]
    fn g_formatting() {
        assert_eq!(format_g(0.0), "0");
        assert_eq!(format_g(20.0), "20");
        assert_eq!(format_g(100.0), "100");
        assert_eq!(format_g(100.0 / 3.0), "33.3333");
        assert_eq!(format_g(100.0 / 7.0), "14.2857");
        assert_eq!(format_g(100.0 / 1024.0), "0.0976562");
        assert_eq!(format_g(0.1), "0.1");
    }

    #[test]
    fn traffic_totals() {
        let t = Totals { packets: 1_000_000, bytes: 64_000_000, elapsed: Duration::from_millis(1250) };
        assert!((t.mpps() - 0.8).abs() < 1e-9);
        assert!((t.gbps() - 0.4096).abs() < 1e-9);
        assert_eq!(
            t.line("gen"),
            "gen: 1000000 packets, 64000000 bytes in 1.250 s: 0.800 Mpps, 0.410 Gbit/s"
        );
        let zero = Totals::default();
        assert_eq!((zero.mpps(), zero.gbps()), (0.0, 0.0));
    }

    #[test]
    fn rate_meter_prints_once_per_interval_for_that_interval() {
        let t0 = Instant::now();
        let mut m = RateMeter::new(t0);
        assert_eq!(m.poll(t0 + Duration::from_millis(999), 500, 32_000), None);
        let line = m.poll(t0 + Duration::from_secs(1), 1_000_000, 64_000_000).unwrap();
        assert_eq!(line, "   1.0 s    1000000 pkt/s    1.000 Mpps    0.512 Gbit/s");
        assert_eq!(m.poll(t0 + Duration::from_millis(1500), 1_500_000, 96_000_000), None);
        // The second line covers only the second interval.
        let line = m.poll(t0 + Duration::from_secs(2), 3_000_000, 192_000_000).unwrap();
        assert_eq!(line, "   2.0 s    2000000 pkt/s    2.000 Mpps    1.024 Gbit/s");
        let t = m.totals(t0 + Duration::from_secs(4), 4_000_000, 256_000_000);
        assert_eq!(t.elapsed, Duration::from_secs(4));
        assert!((t.mpps() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn counters_and_verdicts() {
        let mut b = BridgeCounters::default();
        b.a_to_b.pass(60);
        b.a_to_b.pass(100);
        b.b_to_a.drop_one();
        assert_eq!(
            b.human("memtap0", "memif0"),
            "memtap0 -> memif0: 2 packets, 160 bytes, 0 dropped\nmemif0 -> memtap0: 0 packets, 0 bytes, 1 dropped"
        );
        let good = LoopbackResult { reverse: false, sent: 3, received: 3, intact: 3, bad: 0 };
        assert!(good.ok());
        assert_eq!(
            good.human(),
            "loopback master -> slave -> master (slave reflects zero-copy): 3 sent, 3 received, 3 intact, 0 bad: data intact"
        );
        let bad = LoopbackResult { reverse: true, sent: 3, received: 3, intact: 2, bad: 1 };
        assert!(!bad.ok());
        assert!(
            bad.human().starts_with("loopback slave -> master -> slave")
                && bad.human().ends_with("DATA NOT INTACT")
        );
        assert!(!LoopbackResult::default().ok(), "nothing sent is not a success");
        let r = ResponderCounters {
            rx_packets: 3,
            tx_packets: 2,
            arp_replies: 1,
            echo_replies: 1,
            ignored: 1,
            ..Default::default()
        };
        assert!(r.human().contains("3 packets received, 2 sent (1 ARP replies, 1 echo replies), 1 ignored"));
    }

    #[test]
    fn json_summaries_name_the_command() {
        let mut s = PingStats::new(Ipv4Addr::new(192, 168, 1, 1));
        s.on_sent();
        s.on_sent();
        s.on_reply(&reply(1, true), Duration::from_micros(500));
        let v: Value =
            serde_json::from_str(&Summary::Ping(s.json_summary(Duration::from_millis(1001))).to_json())
                .unwrap();
        assert_eq!(
            v,
            json!({"command": "ping", "destination": "192.168.1.1", "transmitted": 2, "received": 1,
                   "corrupted": 0, "loss_percent": 50.0, "time_ms": 1001,
                   "rtt_ms": {"min": 0.5, "avg": 0.5, "max": 0.5, "mdev": 0.0, "median": 0.5}})
        );
        let none = PingStats::new(Ipv4Addr::new(192, 168, 1, 1)).json_summary(Duration::ZERO);
        let v: Value = serde_json::from_str(&Summary::Ping(none).to_json()).unwrap();
        assert_eq!(v["rtt_ms"], Value::Null);

        let t = Totals { packets: 10, bytes: 640, elapsed: Duration::from_secs(2) };
        let v: Value = serde_json::from_str(&Summary::Sink(t.json_summary()).to_json()).unwrap();
        assert_eq!(
            v,
            json!({"command": "sink", "packets": 10, "bytes": 640, "seconds": 2.0, "mpps": 5e-6, "gbps": 2.56e-6})
        );

        let v: Value =
            serde_json::from_str(&Summary::IcmpResponder(ResponderCounters::default()).to_json()).unwrap();
        assert_eq!(v["command"], "icmp-responder");
        assert_eq!(v["echo_replies"], 0);
        let v: Value = serde_json::from_str(&Summary::Tap(BridgeCounters::default()).to_json()).unwrap();
        assert_eq!(v["a_to_b"]["packets"], 0);
        let demo = DemoSummary { ping: none_summary(), throughput: t.json_summary() };
        let v: Value = serde_json::from_str(&Summary::Demo(demo).to_json()).unwrap();
        assert_eq!((v["command"].as_str(), v["throughput"]["packets"].as_u64()), (Some("demo"), Some(10)));
        assert!(!Summary::Loopback(LoopbackResult::default()).to_json().contains('\n'));
    }

    fn none_summary() -> PingSummary {
        PingStats::new(Ipv4Addr::new(192, 168, 1, 1)).json_summary(Duration::ZERO)
    }
}
