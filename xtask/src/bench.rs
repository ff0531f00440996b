//! `cargo xtask bench [--quick]`: throughput and latency of memif-rs, measured beside
//! DPDK 22.11's testpmd (net_memif) in the same run, alternating, so every line of the
//! report carries the ratio ours / DPDK. Every figure is the median of several runs,
//! with min and max. The report is printed and written to `<target>/bench/` as
//! Markdown, JSON and an SVG chart (Mpps per frame size, ours and DPDK).
//!
//! # What runs
//! 1. The criterion benches: memif-ring's two-thread ring throughput and memif-conn's
//!    connection set-up (in `--quick`: burst 256 and one interface, short windows).
//! 2. Two processes, one core each (`taskset`), polling, for each frame size, burst and
//!    direction (slave to master, master to slave), each run in turn:
//!    - ours: `memif gen` into `memif sink`;
//!    - DPDK: a testpmd in txonly into a testpmd in rxonly;
//!    - mixed: our gen into testpmd rxonly, and testpmd txonly into our sink.
//!
//!    The order of the four alternates from run to run. The rate is always the
//!    receiver's, in steady state: our sink's `--warmup W --duration S` summary, or the
//!    mean `Rx-pps` of testpmd's periodic statistics (one a second) after the first
//!    samples. testpmd caps frames at 1518 bytes: no DPDK runs for 9000-byte frames.
//! 3. Ping-pong round trip: `memif ping` (many pings, a millisecond apart) against
//!    `memif icmp-responder` in polling and in interrupt mode, and against testpmd in
//!    icmpecho mode (polling); the figure of a run is the median of its pings, taken
//!    at full precision from ping's `--json` summary.
//! 4. System calls per million packets in polling mode, `strace -c` on gen and sink.
//! 5. Both ends in one process (memif-conn's `inprocess` example): 1 queue pair on one
//!    thread against 2 queue pairs on two threads, alternating (issue 8's scaling line).
//!
//! The receiver always runs on CPU 0 and the sender on CPU 1 (the ping on CPU 1, the
//! responder on CPU 0). Polling figures need an otherwise idle machine: the load
//! average before and after is in the report.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use crate::env::{self, Requirement};

/// The programs the bench runs besides cargo; installed as root on Debian.
const NEEDS: &[Requirement] = &[
    Requirement { program: "taskset", apt: "util-linux", why: "bench: one core per side" },
    Requirement { program: "dpdk-testpmd", apt: "dpdk-dev", why: "bench: DPDK testpmd beside ours" },
    Requirement { program: "setpriv", apt: "util-linux", why: "bench: testpmd dies with the bench" },
    Requirement { program: "strace", apt: "strace", why: "bench: system calls per million packets" },
];

/// The receiver's CPU (sink, rxonly, responder) and the sender's (gen, txonly, ping).
const RX_CPU: u32 = 0;
const TX_CPU: u32 = 1;

/// testpmd's largest frame on a memif port.
const DPDK_MAX_FRAME: u32 = 1518;

/// What a run measures and how long.
struct Cfg {
    quick: bool,
    /// Runs per figure.
    runs: usize,
    /// Seconds of traffic before the measured window.
    warm: f64,
    /// Seconds of the measured window.
    secs: f64,
    sizes: &'static [u32],
    bursts: &'static [u32],
    /// Pings per latency run, one a millisecond.
    pings: u32,
    /// Whether the mixed pairs (ours facing testpmd) run too.
    mixed: bool,
    /// Extra arguments to criterion.
    criterion: &'static [&'static str],
}

const FULL: Cfg = Cfg {
    quick: false,
    runs: 5,
    warm: 1.0,
    secs: 3.0,
    sizes: &[64, 1500, 9000],
    bursts: &[32, 256],
    pings: 1000,
    mixed: true,
    criterion: &["--warm-up-time", "1", "--measurement-time", "3"],
};

const QUICK: Cfg = Cfg {
    quick: true,
    runs: 2,
    warm: 0.5,
    secs: 1.5,
    sizes: &[64],
    bursts: &[256],
    pings: 200,
    mixed: false,
    criterion: &["--warm-up-time", "0.3", "--measurement-time", "1"],
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dir {
    /// Slave transmits, master receives.
    S2m,
    /// Master transmits, slave receives.
    M2s,
}

impl Dir {
    fn key(self) -> &'static str {
        match self {
            Dir::S2m => "s2m",
            Dir::M2s => "m2s",
        }
    }
}

/// Who sends and who receives in a throughput run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pair {
    Ours,
    Dpdk,
    /// Our gen into testpmd rxonly.
    OursIntoDpdk,
    /// testpmd txonly into our sink.
    DpdkIntoOurs,
}

impl Pair {
    fn key(self) -> &'static str {
        match self {
            Pair::Ours => "ours",
            Pair::Dpdk => "dpdk",
            Pair::OursIntoDpdk => "gen-into-testpmd",
            Pair::DpdkIntoOurs => "testpmd-into-sink",
        }
    }
}

/// A process of a throughput run.
enum Start {
    /// Our sink, in this role.
    Sink(&'static str),
    /// Our gen, in this role.
    Gen(&'static str),
    /// testpmd on this CPU, in this role and forwarding mode.
    Testpmd(u32, &'static str, &'static str),
}

impl Start {
    fn receives(&self) -> bool {
        match self {
            Start::Sink(_) => true,
            Start::Gen(_) => false,
            Start::Testpmd(_, _, mode) => *mode == "rxonly",
        }
    }
}

/// One line of the report: our figures and the DPDK figures beside them.
struct Line {
    name: String,
    kind: &'static str,
    size: Option<u32>,
    burst: Option<u32>,
    dir: Option<Dir>,
    unit: &'static str,
    ours: Vec<f64>,
    dpdk: Vec<f64>,
    lower_is_better: bool,
    /// Issue 8's target for ours / DPDK.
    target: Option<f64>,
}

impl Line {
    fn ratio(&self) -> Option<f64> {
        match (median(&self.ours), median(&self.dpdk)) {
            (Some(o), Some(d)) if d > 0.0 => Some(o / d),
            _ => None,
        }
    }

    /// "met" or "missed by N %", against the target.
    fn verdict(&self) -> Option<(bool, String)> {
        let (t, r) = (self.target?, self.ratio()?);
        Some(if self.lower_is_better {
            let ok = r <= t;
            (
                ok,
                if ok {
                    format!("met (<= {t})")
                } else {
                    format!("missed (<= {t}): {:.0} % over", (r / t - 1.0) * 100.0)
                },
            )
        } else {
            let ok = r >= t;
            (
                ok,
                if ok {
                    format!("met (>= {t})")
                } else {
                    format!("missed (>= {t}): {:.0} % short", (1.0 - r / t) * 100.0)
                },
            )
        })
    }
}

/// The figures besides the lines: system calls per packet and the in-process runs.
#[derive(Default)]
struct Extra {
    /// System calls per million packets of (gen, sink).
    syscalls: Option<(f64, f64)>,
    /// Mpps of the `inprocess` example with 1 queue pair (one thread: both ends of both
    /// rings) and with 2 (two threads, one per pair), alternating.
    one_pair: Vec<f64>,
    two_pairs: Vec<f64>,
}

/// Issue 8's target for 2 queue pairs on 2 cores against 1.
const SCALING_TARGET: f64 = 1.6;

impl Extra {
    fn scaling(&self) -> Option<f64> {
        match (median(&self.two_pairs), median(&self.one_pair)) {
            (Some(t), Some(o)) if o > 0.0 => Some(t / o),
            _ => None,
        }
    }
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    Some(if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 })
}

fn min_max(v: &[f64]) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    Some(v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x))))
}

// ---------------------------------------------------------------------------------
// Processes

/// A child process whose stdout and stderr lines are read as they come.
struct Proc {
    child: Child,
    lines: Receiver<(Instant, String)>,
    text: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    /// testpmd's `--file-prefix`: its runtime folder is removed when it is gone.
    dpdk_prefix: Option<String>,
    interrupted: bool,
    done: bool,
}

impl Proc {
    fn spawn(mut cmd: Command, dpdk_prefix: Option<String>) -> Result<Proc, String> {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
        let (tx, lines) = mpsc::channel();
        let text = Arc::new(Mutex::new(String::new()));
        let streams: Vec<Box<dyn Read + Send>> = vec![
            Box::new(child.stdout.take().expect("piped")),
            Box::new(child.stderr.take().expect("piped")),
        ];
        let readers = streams
            .into_iter()
            .map(|s| {
                let (tx, text) = (tx.clone(), Arc::clone(&text));
                thread::spawn(move || {
                    for l in BufReader::new(s).split(b'\n').map_while(Result::ok) {
                        let l = String::from_utf8_lossy(&l).into_owned();
                        if let Ok(mut t) = text.lock() {
                            t.push_str(&l);
                            t.push('\n');
                        }
                        let _ = tx.send((Instant::now(), l));
                    }
                })
            })
            .collect();
        Ok(Proc { child, lines, text, readers, dpdk_prefix, interrupted: false, done: false })
    }

    /// Waits up to `timeout` for it to exit.
    fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() >= end {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGINT once, if it still runs.
    fn interrupt(&mut self) {
        if !self.interrupted && self.wait(Duration::ZERO).is_none() {
            self.interrupted = true;
            let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        }
    }

    /// SIGINT, then SIGKILL after 3 s; reaps it, joins its readers, removes testpmd's
    /// runtime folder. Returns everything it printed.
    fn stop(&mut self) -> String {
        if !self.done {
            self.done = true;
            self.interrupt();
            if self.wait(Duration::from_secs(3)).is_none() {
                let _ = self.child.kill();
            }
            let _ = self.child.wait();
            for r in self.readers.drain(..) {
                let _ = r.join();
            }
            if let Some(p) = &self.dpdk_prefix {
                let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(p));
            }
        }
        self.text()
    }

    fn text(&self) -> String {
        self.text.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A folder for one run's socket, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("memif-bench-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::create_dir_all(&d);
        TempDir(d)
    }
    fn sock(&self) -> String {
        self.0.join("b.sock").to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits for a listener's socket file, then a little more: testpmd's client never
/// retries, so it must not come between bind and listen.
fn wait_socket(sock: &str, who: &mut Proc) -> Result<(), String> {
    let end = Instant::now() + Duration::from_secs(15);
    while !Path::new(sock).exists() {
        if who.wait(Duration::ZERO).is_some() || Instant::now() > end {
            return Err(format!("no listener on {sock}: {}", tail(&who.stop())));
        }
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(Duration::from_millis(200));
    Ok(())
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

/// The bench's own state: where the binary is and what is installed.
struct Bench {
    /// memif-conn's `inprocess` example (release).
    inprocess: PathBuf,
    cfg: &'static Cfg,
    bin: PathBuf,
}

impl Bench {
    fn memif(&self, cpu: u32, args: &[String]) -> Command {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(cpu.to_string()).arg(&self.bin).args(args);
        c
    }

    fn sink(&self, role: &str, sock: &str) -> Result<Proc, String> {
        let args = strings(&[
            "--json",
            "sink",
            "--role",
            role,
            "--rx-mode",
            "polling",
            "--socket",
            sock,
            "--warmup",
            &self.cfg.warm.to_string(),
            "--duration",
            &self.cfg.secs.to_string(),
        ]);
        Proc::spawn(self.memif(RX_CPU, &args), None)
    }

    /// A gen that runs until stopped (well past the measured window).
    fn gen(&self, role: &str, sock: &str, size: u32, burst: u32) -> Result<Proc, String> {
        let args = strings(&[
            "--json",
            "gen",
            "--role",
            role,
            "--rx-mode",
            "polling",
            "--socket",
            sock,
            "--size",
            &size.to_string(),
            "--burst",
            &burst.to_string(),
            "--duration",
            "300",
        ]);
        Proc::spawn(self.memif(TX_CPU, &args), None)
    }

    fn testpmd(
        &self,
        cpu: u32,
        role: &str,
        sock: &str,
        mode: &str,
        size: u32,
        burst: u32,
    ) -> Result<Proc, String> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let prefix = format!("memif-bench-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let mut c = Command::new("setpriv");
        c.args(["--pdeathsig", "KILL", "dpdk-testpmd", "--lcores"])
            .arg(format!("0@{cpu},1@{cpu}"))
            .args(["--no-huge", "-m", "512", "--no-pci", "--file-prefix", &prefix])
            .arg(format!("--vdev=net_memif0,role={role},socket={sock},socket-abstract=no"))
            .args(["--", "--auto-start", "--stats-period=1", "--total-num-mbufs=16384"])
            .arg(format!("--forward-mode={mode}"))
            .arg(format!("--txpkts={size}"))
            .arg(format!("--burst={burst}"));
        Proc::spawn(c, Some(prefix))
    }

    /// Waits for our sink's summary; its Mpps over the measured window.
    fn sink_rate(&self, sink: &mut Proc) -> Result<f64, String> {
        let limit = Duration::from_secs_f64(self.cfg.warm + self.cfg.secs + 30.0);
        if sink.wait(limit).is_none() {
            return Err(format!("the sink did not finish in {limit:?}: {}", tail(&sink.stop())));
        }
        let text = sink.stop();
        json_num(&text, "sink", "mpps").ok_or_else(|| format!("no summary from the sink: {}", tail(&text)))
    }

    /// The mean `Rx-pps` of testpmd's periodic statistics over the measured window, in
    /// Mpps. Samples come about once a second; the first one with traffic covers the
    /// start-up and is skipped, and so are `warm` whole seconds more.
    fn testpmd_rate(&self, p: &mut Proc) -> Result<f64, String> {
        let skip = 1 + self.cfg.warm.floor() as usize;
        let need = (self.cfg.secs.round() as usize).max(1);
        let end = Instant::now() + Duration::from_secs_f64(self.cfg.warm + self.cfg.secs + 30.0);
        let (mut seen, mut samples) = (0usize, Vec::new());
        while samples.len() < need {
            let left = end.saturating_duration_since(Instant::now());
            let Ok((_, l)) = p.lines.recv_timeout(left) else {
                return Err(format!(
                    "testpmd: {} of {need} rate samples in time: {}",
                    samples.len(),
                    tail(&p.stop())
                ));
            };
            let Some(v) = l.trim().strip_prefix("Rx-pps:") else { continue };
            let pps: f64 = v.split_whitespace().next().and_then(|x| x.parse().ok()).unwrap_or(0.0);
            if seen == 0 && pps == 0.0 {
                continue; // not started yet
            }
            seen += 1;
            if seen > skip {
                samples.push(pps / 1e6);
            }
        }
        Ok(samples.iter().sum::<f64>() / samples.len() as f64)
    }

    /// One throughput run; Mpps at the receiver.
    fn throughput(&self, pair: Pair, dir: Dir, size: u32, burst: u32) -> Result<f64, String> {
        let d = TempDir::new();
        let sock = d.sock();
        let sock = sock.as_str();
        // the listener first: our slave retries, testpmd's client does not
        let (first, second): (Start, Start) = match (pair, dir) {
            (Pair::Ours, Dir::S2m) => (Start::Sink("master"), Start::Gen("slave")),
            (Pair::Ours, Dir::M2s) => (Start::Gen("master"), Start::Sink("slave")),
            (Pair::Dpdk, Dir::S2m) => {
                (Start::Testpmd(RX_CPU, "server", "rxonly"), Start::Testpmd(TX_CPU, "client", "txonly"))
            }
            (Pair::Dpdk, Dir::M2s) => {
                (Start::Testpmd(TX_CPU, "server", "txonly"), Start::Testpmd(RX_CPU, "client", "rxonly"))
            }
            (Pair::OursIntoDpdk, Dir::S2m) => {
                (Start::Testpmd(RX_CPU, "server", "rxonly"), Start::Gen("slave"))
            }
            (Pair::OursIntoDpdk, Dir::M2s) => {
                (Start::Gen("master"), Start::Testpmd(RX_CPU, "client", "rxonly"))
            }
            (Pair::DpdkIntoOurs, Dir::S2m) => {
                (Start::Sink("master"), Start::Testpmd(TX_CPU, "client", "txonly"))
            }
            (Pair::DpdkIntoOurs, Dir::M2s) => {
                (Start::Testpmd(TX_CPU, "server", "txonly"), Start::Sink("slave"))
            }
        };
        let start = |s: &Start| match *s {
            Start::Sink(role) => self.sink(role, sock),
            Start::Gen(role) => self.gen(role, sock, size, burst),
            Start::Testpmd(cpu, role, mode) => self.testpmd(cpu, role, sock, mode, size, burst),
        };
        let mut a = start(&first)?;
        wait_socket(sock, &mut a)?;
        let mut b = start(&second)?;
        // measured at the receiver
        let (rx, rx_proc) = if first.receives() { (&first, &mut a) } else { (&second, &mut b) };
        let r = match rx {
            Start::Sink(_) => self.sink_rate(rx_proc),
            _ => self.testpmd_rate(rx_proc),
        };
        // both stop at once (testpmd takes about a second)
        a.interrupt();
        b.interrupt();
        r
    }

    /// One latency run: the median round trip of its pings, in microseconds.
    fn round_trip(&self, against_dpdk: bool, mode: &str) -> Result<f64, String> {
        let d = TempDir::new();
        let sock = d.sock();
        let mut peer = if against_dpdk {
            self.testpmd(RX_CPU, "server", &sock, "icmpecho", 64, 32)?
        } else {
            let args = strings(&["icmp-responder", "--role", "master", "--rx-mode", mode, "--socket", &sock]);
            Proc::spawn(self.memif(RX_CPU, &args), None)?
        };
        wait_socket(&sock, &mut peer)?;
        let args = strings(&[
            "--json",
            "ping",
            "192.168.1.1",
            "-c",
            &self.cfg.pings.to_string(),
            "-i",
            "0.001",
            "-W",
            "2",
            "--rx-mode",
            mode,
            "--socket",
            &sock,
        ]);
        let mut ping = Proc::spawn(self.memif(TX_CPU, &args), None)?;
        let limit = Duration::from_secs(30 + u64::from(self.cfg.pings) / 100);
        if ping.wait(limit).is_none() {
            return Err(format!("ping did not finish in {limit:?}"));
        }
        let text = ping.stop();
        // the median at full precision: the reply lines print whole microseconds
        let received = json_num(&text, "ping", "received").unwrap_or(0.0);
        if received * 2.0 < f64::from(self.cfg.pings) {
            return Err(format!("{received} replies to {} pings: {}", self.cfg.pings, tail(&text)));
        }
        json_num(&text, "ping", "median")
            .map(|ms| ms * 1000.0)
            .ok_or_else(|| format!("no median: {}", tail(&text)))
    }

    /// One run of the `inprocess` example: Mpps received with `pairs` queue pairs.
    fn inprocess(&self, pairs: u16) -> Result<f64, String> {
        let cpus = if pairs == 1 { "0" } else { "0,1" };
        let mut c = Command::new("taskset");
        c.args(["-c", cpus]).arg(&self.inprocess).args(["--pairs", &pairs.to_string(), "--size", "64"]);
        c.args(["--burst", "256", "--secs", &self.cfg.secs.to_string()]);
        let mut p = Proc::spawn(c, None)?;
        if p.wait(Duration::from_secs_f64(self.cfg.secs + 20.0)).is_none() {
            return Err("inprocess did not finish".into());
        }
        let text = p.stop();
        json_num(&text, "inprocess", "mpps").ok_or_else(|| format!("no figure: {}", tail(&text)))
    }

    /// System calls per million packets of gen and sink, polling, 64-byte frames,
    /// burst 32, slave to master, under `strace -f -c` (start-up included).
    fn syscalls(&self) -> Result<(f64, f64), String> {
        let d = TempDir::new();
        let sock = d.sock();
        let (gen_calls, sink_calls) = (d.0.join("gen.strace"), d.0.join("sink.strace"));
        let traced = |cpu: u32, out: &Path, args: &[&str]| {
            let mut c = Command::new("taskset");
            c.arg("-c")
                .arg(cpu.to_string())
                .args(["strace", "-f", "-c", "-o"])
                .arg(out)
                .arg(&self.bin)
                .args(args);
            Proc::spawn(c, None)
        };
        let secs = self.cfg.secs.to_string();
        let longer = (self.cfg.secs + 1.0).to_string();
        let mut sink = traced(
            RX_CPU,
            &sink_calls,
            &[
                "--json",
                "sink",
                "--role",
                "master",
                "--rx-mode",
                "polling",
                "--socket",
                &sock,
                "--duration",
                &longer,
            ],
        )?;
        wait_socket(&sock, &mut sink)?;
        let mut gen = traced(
            TX_CPU,
            &gen_calls,
            &[
                "--json",
                "gen",
                "--rx-mode",
                "polling",
                "--socket",
                &sock,
                "--burst",
                "32",
                "--duration",
                &secs,
            ],
        )?;
        let limit = Duration::from_secs_f64(self.cfg.secs + 30.0);
        if gen.wait(limit).is_none() || sink.wait(limit).is_none() {
            return Err("gen or sink under strace did not finish".into());
        }
        let (gt, st) = (gen.stop(), sink.stop());
        let packets = |t: &str, who| json_num(t, who, "packets").filter(|&n| n > 0.0);
        let calls = |p: &Path| strace_calls(&std::fs::read_to_string(p).unwrap_or_default());
        match (packets(&gt, "gen"), packets(&st, "sink"), calls(&gen_calls), calls(&sink_calls)) {
            (Some(gp), Some(sp), Some(gc), Some(sc)) => Ok((gc / gp * 1e6, sc / sp * 1e6)),
            _ => Err(format!("no counts: gen {} | sink {}", tail(&gt), tail(&st))),
        }
    }
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// `key` of the `--json` summary line of `command` in `text`.
fn json_num(text: &str, command: &str, key: &str) -> Option<f64> {
    let line = text.lines().rev().find(|l| l.starts_with(&format!("{{\"command\":\"{command}\"")))?;
    json_field(line, key)
}

/// The number after `"key":` in a JSON text (the first one).
fn json_field(text: &str, key: &str) -> Option<f64> {
    let k = format!("\"{key}\":");
    let i = text.find(&k)? + k.len();
    text[i..].split([',', '}']).next()?.trim().parse().ok()
}

/// The `calls` column of strace -c's `total` line.
fn strace_calls(text: &str) -> Option<f64> {
    let l = text.lines().rev().find(|l| l.trim_end().ends_with("total"))?;
    let f: Vec<&str> = l.split_whitespace().collect();
    f.get(3)?.parse().ok()
}

// ---------------------------------------------------------------------------------
// The run

/// Runs the bench; `quick` for a first look in under two minutes.
pub fn run(quick: bool) -> ExitCode {
    let cfg: &'static Cfg = if quick { &QUICK } else { &FULL };
    let root = crate::workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |t| root.join(t));
    let builds: [(&str, &[&str]); 3] = [
        ("the release binary", &["build", "--release", "-p", "memif-apps", "--bin", "memif"]),
        ("the in-process example", &["build", "--release", "-p", "memif-conn", "--example", "inprocess"]),
        (
            "the criterion benches",
            &["bench", "-p", "memif-ring", "-p", "memif-conn", "--benches", "--no-run"],
        ),
    ];
    for (what, args) in builds {
        println!("xtask bench: building {what} (cargo {})", args.join(" "));
        let built = Command::new(crate::cargo()).args(args).current_dir(&root).status();
        if !built.is_ok_and(|s| s.success()) {
            eprintln!("xtask bench: cargo {} failed", args.join(" "));
            return ExitCode::FAILURE;
        }
    }
    let missing = env::install_missing(NEEDS);
    for m in &missing {
        println!("xtask bench: missing {m}");
    }
    if env::find_program("taskset").is_none() {
        eprintln!("xtask bench: taskset is needed to pin each side to its core (Debian package util-linux)");
        return ExitCode::FAILURE;
    }
    if std::thread::available_parallelism().map_or(0, |n| n.get()) < 2 {
        eprintln!("xtask bench: needs two CPUs, one per side");
        return ExitCode::FAILURE;
    }
    let dpdk = env::find_program("dpdk-testpmd").is_some() && env::find_program("setpriv").is_some();
    let bench = Bench {
        cfg,
        bin: target.join("release/memif"),
        inprocess: target.join("release/examples/inprocess"),
    };
    let mut notes: Vec<String> = Vec::new();
    if !dpdk {
        notes.push("dpdk-testpmd (Debian package dpdk-dev) is not installed: no DPDK figures.".into());
    }

    let started = Instant::now();
    let started_at = SystemTime::now();
    let load_before = loadavg();
    println!("xtask bench: load average {load_before}");

    // 1. criterion
    let crit = criterion(cfg, &root, started_at);
    let crit_took = started.elapsed();

    // 2. two processes, alternating
    let mut lines: Vec<Line> = Vec::new();
    let total = cfg.sizes.len() * cfg.bursts.len() * 2;
    let mut n = 0;
    for &size in cfg.sizes {
        for &burst in cfg.bursts {
            for dir in [Dir::S2m, Dir::M2s] {
                n += 1;
                let with_dpdk = dpdk && size <= DPDK_MAX_FRAME;
                let target = match size {
                    64 => Some(1.25),
                    1500 => Some(1.0),
                    _ => None,
                };
                let what = match dir {
                    Dir::S2m => "slave gen -> master sink",
                    Dir::M2s => "master gen -> slave sink",
                };
                let mixed_names = match dir {
                    Dir::S2m => {
                        ["our slave gen -> testpmd server rxonly", "testpmd client txonly -> our master sink"]
                    }
                    Dir::M2s => {
                        ["our master gen -> testpmd client rxonly", "testpmd server txonly -> our slave sink"]
                    }
                };
                let line = |name: String, kind, target| Line {
                    name,
                    kind,
                    size: Some(size),
                    burst: Some(burst),
                    dir: Some(dir),
                    unit: "Mpps",
                    ours: vec![],
                    dpdk: vec![],
                    lower_is_better: false,
                    target,
                };
                let mut pair = line(format!("{size} B, burst {burst}, {what}"), "pair", target);
                let mut into_dpdk =
                    line(format!("{size} B, burst {burst}, {}", mixed_names[0]), "mixed", None);
                let mut into_ours =
                    line(format!("{size} B, burst {burst}, {}", mixed_names[1]), "mixed", None);
                for run in 0..cfg.runs {
                    let order: &[Pair] = match (with_dpdk, run % 2) {
                        (false, _) => &[Pair::Ours],
                        (true, 0) => &[Pair::Ours, Pair::Dpdk, Pair::OursIntoDpdk, Pair::DpdkIntoOurs],
                        (true, _) => &[Pair::Dpdk, Pair::DpdkIntoOurs, Pair::OursIntoDpdk, Pair::Ours],
                    };
                    let mut shown = Vec::new();
                    for &p in order.iter().filter(|p| cfg.mixed || matches!(p, Pair::Ours | Pair::Dpdk)) {
                        let r = bench.throughput(p, dir, size, burst);
                        match &r {
                            Ok(v) => shown.push(format!("{} {v:.2}", p.key())),
                            Err(e) => shown.push(format!("{} FAILED ({e})", p.key())),
                        }
                        if let Ok(v) = r {
                            match p {
                                Pair::Ours => pair.ours.push(v),
                                Pair::Dpdk => pair.dpdk.push(v),
                                Pair::OursIntoDpdk => into_dpdk.ours.push(v),
                                Pair::DpdkIntoOurs => into_ours.ours.push(v),
                            }
                        }
                    }
                    println!(
                        "[{n}/{total}] {size} B burst {burst} {} run {}/{}: {} Mpps  ({:.0} s)",
                        dir.key(),
                        run + 1,
                        cfg.runs,
                        shown.join(", "),
                        started.elapsed().as_secs_f64()
                    );
                }
                lines.push(pair);
                for mut m in [into_dpdk, into_ours] {
                    if !m.ours.is_empty() {
                        m.dpdk = lines.last().map(|p| p.dpdk.clone()).unwrap_or_default();
                        lines.push(m);
                    }
                }
            }
        }
    }

    // 3. latency, alternating ours and DPDK
    for mode in ["polling", "interrupt"] {
        let with_dpdk = dpdk && mode == "polling";
        let mut l = Line {
            name: format!(
                "ping round trip, {mode}: our ping -> our responder{}",
                if with_dpdk { " (DPDK: our ping -> testpmd icmpecho)" } else { "" }
            ),
            kind: "latency",
            size: None,
            burst: None,
            dir: None,
            unit: "us",
            ours: vec![],
            dpdk: vec![],
            lower_is_better: true,
            target: if with_dpdk { Some(1.0) } else { None },
        };
        for run in 0..cfg.runs {
            let mut shown = Vec::new();
            let order: &[bool] = match (with_dpdk, run % 2) {
                (false, _) => &[false],
                (true, 0) => &[false, true],
                (true, _) => &[true, false],
            };
            for &against_dpdk in order {
                let who = if against_dpdk { "dpdk" } else { "ours" };
                match bench.round_trip(against_dpdk, mode) {
                    Ok(v) => {
                        shown.push(format!("{who} {v:.2}"));
                        if against_dpdk {
                            l.dpdk.push(v)
                        } else {
                            l.ours.push(v)
                        }
                    }
                    Err(e) => shown.push(format!("{who} FAILED ({e})")),
                }
            }
            println!(
                "latency {mode} run {}/{}: {} us (median of {} pings)",
                run + 1,
                cfg.runs,
                shown.join(", "),
                cfg.pings
            );
        }
        lines.push(l);
    }

    // 4. system calls
    let syscalls = if env::find_program("strace").is_some() {
        match bench.syscalls() {
            Ok(v) => {
                println!("system calls per million packets (polling): gen {:.1}, sink {:.1}", v.0, v.1);
                Some(v)
            }
            Err(e) => {
                notes.push(format!("system calls per million packets: {e}"));
                None
            }
        }
    } else {
        notes.push("strace is not installed: no system call counts.".into());
        None
    };

    // 5. both ends in one process: 1 queue pair (one thread) and 2 (two threads), alternating
    let mut extra = Extra { syscalls, ..Extra::default() };
    for run in 0..cfg.runs {
        let order: [u16; 2] = if run % 2 == 0 { [1, 2] } else { [2, 1] };
        let mut shown = Vec::new();
        for pairs in order {
            match bench.inprocess(pairs) {
                Ok(v) => {
                    shown.push(format!("{pairs} pair(s) {v:.2}"));
                    if pairs == 1 {
                        extra.one_pair.push(v)
                    } else {
                        extra.two_pairs.push(v)
                    }
                }
                Err(e) => shown.push(format!("{pairs} pair(s) FAILED ({e})")),
            }
        }
        println!("in-process run {}/{}: {} Mpps", run + 1, cfg.runs, shown.join(", "));
    }

    let took = started.elapsed();
    let meta = Meta {
        quick,
        runs: cfg.runs,
        warm: cfg.warm,
        secs: cfg.secs,
        pings: cfg.pings,
        date: command_out("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        commit: command_out("git", &["-C", &root.to_string_lossy(), "describe", "--always", "--dirty"]),
        cpu: cpu_model(),
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        kernel: command_out("uname", &["-r"]),
        dpdk: if dpdk {
            command_out("dpkg-query", &["-W", "-f", "${Version}", "dpdk-dev"])
        } else {
            "-".into()
        },
        load_before,
        load_after: loadavg(),
        took,
        crit_took,
    };
    let report = markdown(&meta, &lines, &crit, &extra, &notes);
    println!("\n{report}");
    let out = target.join("bench");
    let _ = std::fs::create_dir_all(&out);
    let written = [
        ("report.md", report.clone()),
        ("report.json", json(&meta, &lines, &crit, &extra, &notes)),
        ("mpps.svg", svg(cfg, &lines)),
    ]
    .iter()
    .map(|(f, s)| std::fs::write(out.join(f), s).map_err(|e| format!("{f}: {e}")))
    .collect::<Result<Vec<()>, String>>();
    match written {
        Ok(_) => println!("xtask bench: written {}/report.md, report.json, mpps.svg", out.display()),
        Err(e) => {
            eprintln!("xtask bench: cannot write the report: {e}");
            return ExitCode::FAILURE;
        }
    }
    println!("xtask bench: done in {:.0} s", took.as_secs_f64());
    if lines.iter().filter(|l| l.kind == "pair").any(|l| l.ours.is_empty()) {
        eprintln!("xtask bench: some of our own runs failed (see above)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn command_out(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "?".into())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "?".into())
}

// ---------------------------------------------------------------------------------
// criterion

/// One criterion result: its id and its median with the 95 % interval, in ns per
/// iteration; packets per iteration when it declared a throughput.
struct Crit {
    id: String,
    median_ns: f64,
    lower_ns: f64,
    upper_ns: f64,
    elements: Option<f64>,
}

/// Runs the criterion benches and reads back the estimates they wrote in this run.
fn criterion(cfg: &Cfg, root: &Path, since: SystemTime) -> Vec<Crit> {
    let runs: Vec<(&str, Vec<&str>)> = if cfg.quick {
        vec![("memif-ring", vec!["--bench", "burst_256"]), ("memif-conn", vec!["--bench", "connect"])]
    } else {
        vec![("memif-ring", vec!["--benches"]), ("memif-conn", vec!["--bench", "connect"])]
    };
    for (pkg, sel) in runs {
        let mut args = vec!["bench", "-p", pkg];
        args.extend(sel);
        args.push("--");
        args.extend(cfg.criterion);
        if cfg.quick && pkg == "memif-conn" {
            args.push("one interface"); // the 1000-interface bench alone takes half a minute
        }
        println!("\n$ cargo {}", args.join(" "));
        let ok =
            Command::new(crate::cargo()).args(&args).current_dir(root).status().is_ok_and(|s| s.success());
        if !ok {
            println!("xtask bench: cargo bench -p {pkg} failed");
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |t| root.join(t));
    let mut found = Vec::new();
    collect_estimates(&target.join("criterion"), since, &mut found);
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found
}

fn collect_estimates(dir: &Path, since: SystemTime, out: &mut Vec<Crit>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "new") {
                let est = p.join("estimates.json");
                let fresh = est.metadata().and_then(|m| m.modified()).is_ok_and(|m| m >= since);
                if let (true, Ok(e), Ok(b)) =
                    (fresh, std::fs::read_to_string(&est), std::fs::read_to_string(p.join("benchmark.json")))
                {
                    if let Some(c) = parse_crit(&e, &b) {
                        out.push(c);
                    }
                }
            } else if !p.file_name().is_some_and(|n| n == "base" || n == "change" || n == "report") {
                collect_estimates(&p, since, out);
            }
        }
    }
}

fn parse_crit(estimates: &str, benchmark: &str) -> Option<Crit> {
    let id_start = benchmark.find("\"full_id\":\"")? + 11;
    let id = benchmark[id_start..].split('"').next()?.to_owned();
    let elements = benchmark.find("\"Elements\":").and_then(|i| json_field(&benchmark[i..], "Elements"));
    let m = &estimates[estimates.find("\"median\":")?..];
    Some(Crit {
        id,
        median_ns: json_field(m, "point_estimate")?,
        lower_ns: json_field(m, "lower_bound")?,
        upper_ns: json_field(m, "upper_bound")?,
        elements,
    })
}

// ---------------------------------------------------------------------------------
// Report

struct Meta {
    quick: bool,
    runs: usize,
    warm: f64,
    secs: f64,
    pings: u32,
    date: String,
    commit: String,
    cpu: String,
    cpus: usize,
    kernel: String,
    dpdk: String,
    load_before: String,
    load_after: String,
    took: Duration,
    crit_took: Duration,
}

fn fmt_stat(v: &[f64], decimals: usize, runs: usize) -> String {
    match (median(v), min_max(v)) {
        (Some(m), Some((lo, hi))) => {
            let short = if v.len() < runs { format!(" ({} runs)", v.len()) } else { String::new() };
            format!("{m:.decimals$} [{lo:.decimals$}-{hi:.decimals$}]{short}")
        }
        _ => "-".into(),
    }
}

fn markdown(meta: &Meta, lines: &[Line], crit: &[Crit], extra: &Extra, notes: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# memif-rs bench{}\n", if meta.quick { " (--quick)" } else { "" });
    let _ = writeln!(
        s,
        "{} · commit {} · {} ({} CPUs), Linux {} · DPDK {} · load average {} before, {} after · took {:.0} s ({:.0} s criterion).\n",
        meta.date,
        meta.commit,
        meta.cpu,
        meta.cpus,
        meta.kernel,
        meta.dpdk,
        meta.load_before,
        meta.load_after,
        meta.took.as_secs_f64(),
        meta.crit_took.as_secs_f64()
    );
    let _ = writeln!(
        s,
        "Each figure: median [min-max] of {} runs{}. Two processes, one core each (receiver on CPU 0, sender on \
         CPU 1), polling. Ours and DPDK's runs alternate within each line. Rates are the receiver's over a {} s \
         window after {} s of traffic (our sink's `--warmup`/`--duration`; testpmd's periodic `Rx-pps`, \
         start-up sample and warm-up skipped). Latency: median round trip of {} pings 1 ms apart per run. \
         DPDK is testpmd {} with net_memif, same cores; it caps frames at {} B. On a shared machine, read the load average: a \
         spinning process that shares its core with another loses whole time slices.\n",
        meta.runs,
        if meta.quick { " (--quick: 2 runs, 64-byte frames, burst 256 only, no mixed pairs; `cargo xtask bench` runs 5 of everything)" } else { "" },
        meta.secs,
        meta.warm,
        meta.pings,
        meta.dpdk,
        DPDK_MAX_FRAME
    );
    let busy = |l: &str| l.split_whitespace().next().and_then(|x| x.parse::<f64>().ok()).filter(|&x| x > 0.5);
    if let Some(l) = busy(&meta.load_before) {
        let _ = writeln!(
            s,
            "**The machine was not idle** (1-minute load average {l} when the bench started): other processes \
             took turns on the pinned cores, so absolute figures are low and noisy; the ratios of alternating \
             runs are the figures to read.\n"
        );
    }
    let _ = writeln!(s, "| scenario | unit | ours | DPDK | ours/DPDK | ours Gbit/s | issue 8 target |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    for l in lines {
        let gbps = match (l.size, median(&l.ours)) {
            (Some(size), Some(m)) if l.unit == "Mpps" => format!("{:.2}", m * f64::from(size) * 8.0 / 1000.0),
            _ => "-".into(),
        };
        let ratio = l.ratio().map_or("-".into(), |r| format!("{r:.2}"));
        let verdict = l.verdict().map_or("-".into(), |v| v.1);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {ratio} | {gbps} | {verdict} |",
            l.name,
            l.unit,
            fmt_stat(&l.ours, 2, meta.runs),
            fmt_stat(&l.dpdk, 2, meta.runs)
        );
    }
    let _ = writeln!(
        s,
        "\nMixed lines (one of ours facing testpmd): the ours column is that pair; the DPDK column repeats the \
         testpmd pair of the line above it, measured in the same runs. Latency in microseconds, lower is better."
    );
    if let Some((g, k)) = extra.syscalls {
        let _ = writeln!(
            s,
            "\nSystem calls per million packets, polling, 64 B, burst 32, slave gen -> master sink, `strace -f -c`, \
             start-up and teardown included: gen {g:.1}, sink {k:.1}."
        );
    }
    if !extra.one_pair.is_empty() || !extra.two_pairs.is_empty() {
        let ratio = extra.scaling();
        let verdict = ratio.map_or("-".into(), |r| {
            if r >= SCALING_TARGET {
                format!("met (>= {SCALING_TARGET})")
            } else {
                format!("missed (>= {SCALING_TARGET}): {:.0} % short", (1.0 - r / SCALING_TARGET) * 100.0)
            }
        });
        let _ = writeln!(s, "\n## Both ends in one process (`inprocess` example)\n");
        let _ = writeln!(s, "| 64 B, burst 256, Mpps | 1 queue pair, 1 thread | 2 queue pairs, 2 threads | 2/1 | issue 8 target |");
        let _ = writeln!(s, "|---|---|---|---|---|");
        let _ = writeln!(
            s,
            "| slave -> master and master -> slave, received | {} | {} | {} | {verdict} |",
            fmt_stat(&extra.one_pair, 2, meta.runs),
            fmt_stat(&extra.two_pairs, 2, meta.runs),
            ratio.map_or("-".into(), |r| format!("{r:.2}"))
        );
        let _ = writeln!(
            s,
            "\nA master and a slave over a real socket in one process; each thread drives both rings of its queue \
             pair (a burst S2M, then a burst M2S, each copied in and read out). The 1-pair figure is issue 8's \
             \"both ends on one thread\"; set it against libmemif likewise (README, Performance). Runs alternate \
             1 and 2 pairs; 1 pair on CPU 0, 2 pairs on CPUs 0 and 1."
        );
    }
    if !crit.is_empty() {
        let _ = writeln!(s, "\n## criterion (in one process)\n");
        let _ = writeln!(s, "| bench | median | 95 % interval | Mpps (median) |");
        let _ = writeln!(s, "|---|---|---|---|");
        for c in crit {
            let mpps = c.elements.map_or("-".into(), |e| format!("{:.2}", e * 1000.0 / c.median_ns));
            let _ = writeln!(
                s,
                "| {} | {} | {} - {} | {mpps} |",
                c.id,
                fmt_ns(c.median_ns),
                fmt_ns(c.lower_ns),
                fmt_ns(c.upper_ns)
            );
        }
        let _ = writeln!(
            s,
            "\nmemif-ring: two threads over one ring in one process (per packet). memif-conn `connect`: from the \
             slave's first connect to link up on both sides, both in one process; issue 8's targets are under 1 ms \
             for one interface and under 2 s for 1000 interfaces."
        );
    }
    if !notes.is_empty() {
        let _ = writeln!(s, "\n## Notes\n");
        for n in notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}

fn fmt_ns(ns: f64) -> String {
    match ns {
        n if n < 1e3 => format!("{n:.2} ns"),
        n if n < 1e6 => format!("{:.2} us", n / 1e3),
        n if n < 1e9 => format!("{:.2} ms", n / 1e6),
        n => format!("{:.2} s", n / 1e9),
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_opt(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite()).map_or("null".into(), |x| format!("{x}"))
}

fn json(meta: &Meta, lines: &[Line], crit: &[Crit], extra: &Extra, notes: &[String]) -> String {
    let arr = |v: &[f64]| format!("[{}]", v.iter().map(|x| format!("{x}")).collect::<Vec<_>>().join(","));
    let stats = |v: &[f64]| {
        let (lo, hi) = min_max(v).map_or((None, None), |(a, b)| (Some(a), Some(b)));
        format!(
            "\"median\":{},\"min\":{},\"max\":{},\"runs\":{}",
            json_opt(median(v)),
            json_opt(lo),
            json_opt(hi),
            arr(v)
        )
    };
    let mut s = String::from("{\n");
    let _ = writeln!(
        s,
        "\"quick\":{},\"runs\":{},\"warmup_seconds\":{},\"window_seconds\":{},\"pings_per_run\":{},",
        meta.quick, meta.runs, meta.warm, meta.secs, meta.pings
    );
    let _ = writeln!(
        s,
        "\"date\":{},\"commit\":{},\"cpu\":{},\"cpus\":{},\"kernel\":{},\"dpdk\":{},\"load_before\":{},\"load_after\":{},\"seconds\":{:.1},",
        json_str(&meta.date),
        json_str(&meta.commit),
        json_str(&meta.cpu),
        meta.cpus,
        json_str(&meta.kernel),
        json_str(&meta.dpdk),
        json_str(&meta.load_before),
        json_str(&meta.load_after),
        meta.took.as_secs_f64()
    );
    let items: Vec<String> = lines
        .iter()
        .map(|l| {
            let v = l.verdict();
            format!(
                "{{\"scenario\":{},\"kind\":{},\"size\":{},\"burst\":{},\"direction\":{},\"unit\":{},\"ours\":{{{}}},\"dpdk\":{{{}}},\"ratio\":{},\"lower_is_better\":{},\"target\":{},\"target_met\":{}}}",
                json_str(&l.name),
                json_str(l.kind),
                l.size.map_or("null".into(), |x| x.to_string()),
                l.burst.map_or("null".into(), |x| x.to_string()),
                l.dir.map_or("null".into(), |d| json_str(d.key())),
                json_str(l.unit),
                stats(&l.ours),
                stats(&l.dpdk),
                json_opt(l.ratio()),
                l.lower_is_better,
                json_opt(l.target),
                v.map_or("null".into(), |v| v.0.to_string())
            )
        })
        .collect();
    let _ = writeln!(s, "\"lines\":[\n{}\n],", items.join(",\n"));
    let crits: Vec<String> = crit
        .iter()
        .map(|c| {
            format!(
                "{{\"id\":{},\"median_ns\":{},\"lower_ns\":{},\"upper_ns\":{},\"elements_per_iteration\":{}}}",
                json_str(&c.id),
                c.median_ns,
                c.lower_ns,
                c.upper_ns,
                json_opt(c.elements)
            )
        })
        .collect();
    let _ = writeln!(s, "\"criterion\":[\n{}\n],", crits.join(",\n"));
    let _ = writeln!(
        s,
        "\"syscalls_per_million_packets\":{},",
        extra.syscalls.map_or("null".into(), |(g, k)| format!("{{\"gen\":{g},\"sink\":{k}}}"))
    );
    let _ = writeln!(
        s,
        "\"inprocess_64B_burst256_mpps\":{{\"one_pair_one_thread\":{{{}}},\"two_pairs_two_threads\":{{{}}},\"ratio\":{},\"target\":{SCALING_TARGET},\"target_met\":{}}},",
        stats(&extra.one_pair),
        stats(&extra.two_pairs),
        json_opt(extra.scaling()),
        extra.scaling().map_or("null".into(), |r| (r >= SCALING_TARGET).to_string())
    );
    let _ = writeln!(s, "\"notes\":[{}]", notes.iter().map(|n| json_str(n)).collect::<Vec<_>>().join(","));
    s.push_str("}\n");
    s
}

/// A bar chart of Mpps per frame size, one panel per burst: ours and DPDK side by side
/// in each direction, whiskers from min to max.
fn svg(cfg: &Cfg, lines: &[Line]) -> String {
    const W: f64 = 880.0;
    const PANEL: f64 = 280.0;
    const LEFT: f64 = 60.0;
    const TOP: f64 = 60.0;
    let series: [(&str, Dir, bool, &str); 4] = [
        ("ours, slave -> master", Dir::S2m, false, "#1f5fbf"),
        ("DPDK, slave -> master", Dir::S2m, true, "#f28e2b"),
        ("ours, master -> slave", Dir::M2s, false, "#6fa8ff"),
        ("DPDK, master -> slave", Dir::M2s, true, "#ffc285"),
    ];
    let find = |size: u32, burst: u32, dir: Dir| {
        lines.iter().find(|l| {
            l.kind == "pair" && l.size == Some(size) && l.burst == Some(burst) && l.dir == Some(dir)
        })
    };
    let h = TOP + PANEL * cfg.bursts.len() as f64 + 10.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{h}\" viewBox=\"0 0 {W} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let _ = writeln!(
        s,
        "<text x=\"{LEFT}\" y=\"20\" font-size=\"15\">Mpps per frame size: median of {} runs, whiskers min-max, one core each side, polling</text>",
        cfg.runs
    );
    for (i, (label, _, _, color)) in series.iter().enumerate() {
        let x = LEFT + i as f64 * 200.0;
        let _ = writeln!(s, "<rect x=\"{x}\" y=\"32\" width=\"12\" height=\"12\" fill=\"{color}\"/>");
        let _ = writeln!(s, "<text x=\"{}\" y=\"43\">{}</text>", x + 16.0, esc(label));
    }
    for (p, &burst) in cfg.bursts.iter().enumerate() {
        let y0 = TOP + p as f64 * PANEL;
        let (plot_top, plot_bottom) = (y0 + 25.0, y0 + PANEL - 40.0);
        let max = cfg
            .sizes
            .iter()
            .flat_map(|&size| [Dir::S2m, Dir::M2s].map(|d| find(size, burst, d)))
            .flatten()
            .flat_map(|l| l.ours.iter().chain(&l.dpdk).copied())
            .fold(0.0f64, f64::max);
        let top = nice_ceiling(max);
        let y = |v: f64| plot_bottom - (plot_bottom - plot_top) * v / top;
        let _ = writeln!(
            s,
            "<text x=\"{LEFT}\" y=\"{}\" font-size=\"13\">burst {burst} (Mpps)</text>",
            y0 + 15.0
        );
        for k in 0..=4 {
            let v = top * f64::from(k) / 4.0;
            let yy = y(v);
            let _ = writeln!(
                s,
                "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/>",
                W - 10.0
            );
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                LEFT - 6.0,
                yy + 4.0,
                trim_num(v)
            );
        }
        let group_w = (W - 10.0 - LEFT) / cfg.sizes.len() as f64;
        let bar_w = group_w * 0.8 / series.len() as f64;
        for (g, &size) in cfg.sizes.iter().enumerate() {
            let gx = LEFT + g as f64 * group_w + group_w * 0.1;
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{size}-byte frames</text>",
                gx + group_w * 0.4,
                plot_bottom + 18.0
            );
            for (i, &(_, dir, dpdk, color)) in series.iter().enumerate() {
                let Some(l) = find(size, burst, dir) else { continue };
                let v = if dpdk { &l.dpdk } else { &l.ours };
                let x = gx + i as f64 * bar_w;
                let (Some(m), Some((lo, hi))) = (median(v), min_max(v)) else {
                    let _ = writeln!(
                        s,
                        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#888\">n/a</text>",
                        x + bar_w / 2.0,
                        plot_bottom - 4.0
                    );
                    continue;
                };
                let _ = writeln!(
                    s,
                    "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"/>",
                    y(m),
                    bar_w - 2.0,
                    plot_bottom - y(m)
                );
                let cx = x + bar_w / 2.0 - 1.0;
                let _ = writeln!(
                    s,
                    "<line x1=\"{cx:.1}\" x2=\"{cx:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>",
                    y(lo),
                    y(hi)
                );
                let _ = writeln!(
                    s,
                    "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\">{m:.1}</text>",
                    y(hi) - 3.0
                );
            }
        }
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{plot_bottom:.1}\" y2=\"{plot_bottom:.1}\" stroke=\"#333\"/>",
            W - 10.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// 1, 2 or 5 times a power of ten, at least `v`.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * p).find(|&c| c >= v).unwrap_or(10.0 * p)
}

fn trim_num(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ranges() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(min_max(&[3.0, 1.0, 2.0]), Some((1.0, 3.0)));
        assert_eq!(nice_ceiling(23.0), 50.0);
        assert_eq!(nice_ceiling(0.7), 1.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
    }

    #[test]
    fn parses_what_the_tools_print() {
        let out = "memif0: connected\nsink:    1.0 s\n{\"command\":\"sink\",\"packets\":12599808,\"bytes\":806387712,\"seconds\":2.0,\"mpps\":6.2999,\"gbps\":3.2}\n";
        assert_eq!(json_num(out, "sink", "mpps"), Some(6.2999));
        assert_eq!(json_num(out, "sink", "packets"), Some(12599808.0));
        assert_eq!(json_num(out, "gen", "mpps"), None);
        let strace = "% time     seconds  usecs/call     calls    errors syscall\n------ ----------- ----------- --------- --------- ----------------\n 50.00    0.000010           1        10           epoll_wait\n------ ----------- ----------- --------- --------- ----------------\n100.00    0.000020           1        17         2 total\n";
        assert_eq!(strace_calls(strace), Some(17.0));
        let est = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":22.3,"upper_bound":23.0},"point_estimate":22.6,"standard_error":0.19},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":22.1,"upper_bound":22.4},"point_estimate":22.36,"standard_error":0.08}}"#;
        let b = r#"{"group_id":"S2M/burst32","function_id":"bytes","value_str":"64","throughput":{"Elements":1},"full_id":"S2M/burst32/bytes/64"}"#;
        let c = parse_crit(est, b).unwrap();
        assert_eq!(
            (c.id.as_str(), c.median_ns, c.lower_ns, c.upper_ns, c.elements),
            ("S2M/burst32/bytes/64", 22.36, 22.1, 22.4, Some(1.0))
        );
        let b = r#"{"group_id":"connect","function_id":"one interface","value_str":null,"throughput":null,"full_id":"connect/one interface"}"#;
        assert_eq!(parse_crit(est, b).unwrap().elements, None);
    }

    #[test]
    fn verdicts_say_by_how_much() {
        let l = |ours: f64, dpdk: f64, lower, target| Line {
            name: String::new(),
            kind: "pair",
            size: Some(64),
            burst: Some(32),
            dir: Some(Dir::S2m),
            unit: "Mpps",
            ours: vec![ours],
            dpdk: vec![dpdk],
            lower_is_better: lower,
            target: Some(target),
        };
        assert_eq!(l(15.0, 10.0, false, 1.25).verdict(), Some((true, "met (>= 1.25)".into())));
        assert_eq!(
            l(10.0, 10.0, false, 1.25).verdict(),
            Some((false, "missed (>= 1.25): 20 % short".into()))
        );
        assert_eq!(l(12.0, 10.0, true, 1.0).verdict(), Some((false, "missed (<= 1): 20 % over".into())));
        assert_eq!(json_str("a\"b\n"), "\"a\\\"b\\u000a\"");
    }
}
