//! Interoperability with DPDK 22.11's net_memif driver: our `memif` command (and, where a
//! test needs finer control, the memif-conn library) against `dpdk-testpmd`, an
//! implementation this project did not write.
//!
//! Every test starts a fresh testpmd pinned to one CPU, waits for the memif link by
//! polling, and judges by testpmd's own counters. testpmd's port counters drop to 0 when
//! its peer leaves, so they are read (or testpmd is stopped) while our side is still
//! connected. DPDK 22.11 sometimes crashes on teardown after its peer left; no test fails
//! for that. Needs `dpdk-testpmd` (Debian package dpdk-dev), which `cargo xtask test`
//! installs; without it these tests fail, saying so.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::testpmd::{FinalStats, ForwardMode, Testpmd, TestpmdOpts};
use common::{serial, unix_socket_names, TempDir};
use memif_apps::packet::{check_test_frame, fill_test_frame};
use memif_conn::{Event, InterfaceConfig, Queues, Role, RxMode, Socket, SocketOptions, SocketPath};

/// Budget for start-up and link up (usually 0.5-2.5 s).
const START: Duration = Duration::from_secs(10);
/// testpmd's CPU; our process floats.
const TESTPMD_CPU: usize = 1;

// ---------------------------------------------------------------------------------------
// Our `memif` process

/// A running `memif` subcommand with its stdout and stderr collected. Killed on drop.
struct Ours {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

fn collect(from: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            let mut s = into.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    })
}

impl Ours {
    fn start(args: &[&str]) -> Ours {
        let mut child = Command::new(env!("CARGO_BIN_EXE_memif"))
            .arg("--json")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start memif");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Ours { child, stdout, stderr, readers, status: None }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until `needle` shows on stderr; panics with the output after `timeout`.
    fn wait_stderr(&mut self, needle: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        while !self.stderr().contains(needle) {
            assert!(
                Instant::now() < end,
                "memif did not print {needle:?} within {timeout:?}:\n{}",
                self.stderr()
            );
            if self.status.is_none() {
                self.status = self.child.try_wait().unwrap();
            }
            assert!(
                self.status.is_none() || self.stderr().contains(needle),
                "memif exited ({:?}) before printing {needle:?}:\n{}",
                self.status,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGINT: our command stops and prints its summary.
    fn interrupt(&self) {
        let ok = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
    }

    /// Waits for the exit (panics after `timeout`); returns the status and the JSON
    /// summary from stdout.
    fn wait(&mut self, timeout: Duration) -> (ExitStatus, serde_json::Value) {
        let end = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < end, "memif did not exit within {timeout:?}:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(20));
        };
        self.status = Some(status);
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let out = self.stdout.lock().unwrap().clone();
        let json = serde_json::from_str(out.trim()).unwrap_or_else(|e| {
            panic!("no JSON summary on stdout ({e}): {out:?}\nstderr:\n{}", self.stderr())
        });
        (status, json)
    }

    /// SIGINT, then [`Ours::wait`].
    fn stop(&mut self) -> (ExitStatus, serde_json::Value) {
        self.interrupt();
        self.wait(Duration::from_secs(5))
    }
}

impl Drop for Ours {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn num(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no number {key:?} in {v}"))
}

/// Waits until a path exists (our master's socket file).
fn wait_path(p: &Path) {
    let end = Instant::now() + START;
    while !p.exists() {
        assert!(Instant::now() < end, "{} did not appear", p.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn sock_arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Waits until testpmd forwards. A client's link is up a little before that, and
/// testpmd discards whatever it received by then (it flushes its RX queues just before
/// it prints its forwarding set-up).
fn wait_forwarding(pmd: &mut Testpmd) {
    pmd.wait_for_output("forwards packets on", START).unwrap();
}

/// testpmd's final TX count of port 0, from its `Forward statistics` block.
fn final_tx(f: &FinalStats) -> u64 {
    f.port0().expect("no forward statistics for port 0").tx_packets
}

fn final_rx(f: &FinalStats) -> u64 {
    f.port0().expect("no forward statistics for port 0").rx_packets
}

// ---------------------------------------------------------------------------------------
// Our side transmits, testpmd (rxonly) counts.

/// Our `gen` sends `n` frames of `size` bytes (keeping the link up afterwards with
/// --linger); testpmd must count exactly `n` received, and so must we sent.
fn ours_gen_to_testpmd_rxonly(our_role: &str, size: u32, n: u64, extra: &[&str]) {
    let dir = TempDir::new("dpdk-tx");
    let sock = dir.join("t.sock");
    let count = n.to_string();
    let size_s = size.to_string();
    let mut args = vec!["gen", "--role", our_role, "--socket", sock_arg(&sock), "--size", &size_s];
    args.extend(["--count", &count, "--linger", "20"]);
    args.extend(extra);
    let (mut ours, mut pmd) = if our_role == "slave" {
        let mut pmd =
            Testpmd::start(TestpmdOpts { cpu: Some(TESTPMD_CPU), ..TestpmdOpts::server(&sock) }).unwrap();
        pmd.wait_listening(START).unwrap();
        assert!(sock.exists(), "testpmd with socket-abstract=no made no socket file");
        (Ours::start(&args), pmd)
    } else {
        let ours = Ours::start(&args);
        wait_path(&sock);
        let pmd =
            Testpmd::start(TestpmdOpts { cpu: Some(TESTPMD_CPU), ..TestpmdOpts::client(&sock) }).unwrap();
        (ours, pmd)
    };
    pmd.wait_link_up(START).unwrap();
    ours.wait_stderr("keeping the link up", Duration::from_secs(15));
    // the periodic block that shows them all, while we are still connected
    let seen = pmd.wait_for_stats(0, Duration::from_secs(10), |s| s.rx_packets >= n);
    let fin = pmd.stop().unwrap();
    let seen = seen.unwrap_or_else(|e| panic!("testpmd never counted {n} frames: {e}"));
    assert_eq!(seen.rx_packets, n, "testpmd's periodic RX-packets");
    assert_eq!(seen.rx_errors, 0);
    // The `Forward statistics` block counts from the start of forwarding; a client's
    // link is up (and our master already sending) a little before that, so it may
    // show fewer. The port counter above is the whole count.
    assert!(final_rx(&fin) <= n, "testpmd's final RX-packets {} > {n}", final_rx(&fin));
    // the peer left: --linger ends early
    let (status, json) = ours.wait(Duration::from_secs(10));
    assert!(status.success(), "{status}\n{}", ours.stderr());
    assert_eq!(num(&json, "packets"), n);
    assert_eq!(num(&json, "bytes"), n * u64::from(size));
}

#[test]
fn our_slave_sends_n_frames_to_testpmd_server_rxonly() {
    let _serial = serial();
    ours_gen_to_testpmd_rxonly("slave", 64, 100_000, &["--rx-mode", "polling"]);
    ours_gen_to_testpmd_rxonly("slave", 1500, 20_000, &["--rx-mode", "polling"]);
}

#[test]
fn our_master_sends_n_frames_to_testpmd_client_rxonly() {
    let _serial = serial();
    ours_gen_to_testpmd_rxonly("master", 64, 100_000, &["--rx-mode", "polling"]);
    ours_gen_to_testpmd_rxonly("master", 1500, 20_000, &["--rx-mode", "polling"]);
}

// ---------------------------------------------------------------------------------------
// testpmd (txonly) transmits, our sink counts.

/// The `--socket` argument that reaches testpmd's socket: `@name` for an abstract one.
fn our_socket_arg(opts: &TestpmdOpts) -> String {
    let p = opts.socket.to_str().unwrap();
    if opts.socket_abstract {
        format!("@{p}")
    } else {
        p.to_owned()
    }
}

/// Waits until our master listens on testpmd's socket (file or abstract name).
fn wait_our_listener(opts: &TestpmdOpts) {
    if opts.socket_abstract {
        let name = our_socket_arg(opts);
        let end = Instant::now() + START;
        while !unix_socket_names().contains(&name) {
            assert!(Instant::now() < end, "{name} not listed in /proc/net/unix");
            std::thread::sleep(Duration::from_millis(10));
        }
    } else {
        wait_path(&opts.socket);
    }
}

/// testpmd in txonly sends `size`-byte frames to our `sink` for a while and is stopped
/// (SIGINT); our count must equal its final TX-packets. `opts` names the socket (ours
/// uses the same). Returns testpmd's final stats.
fn testpmd_txonly_to_our_sink(our_role: &str, size: u32, opts: TestpmdOpts, extra: &[&str]) -> FinalStats {
    let sock = our_socket_arg(&opts);
    let mut args = vec!["sink", "--role", our_role, "--socket", &sock];
    args.extend(extra);
    let opts =
        TestpmdOpts { cpu: Some(TESTPMD_CPU), forward_mode: ForwardMode::Txonly, txpkts: Some(size), ..opts };
    let (mut ours, mut pmd) = if our_role == "slave" {
        let mut pmd = Testpmd::start(opts).unwrap();
        pmd.wait_listening(START).unwrap();
        (Ours::start(&args), pmd)
    } else {
        let ours = Ours::start(&args);
        wait_our_listener(&opts);
        (ours, Testpmd::start(opts).unwrap())
    };
    pmd.wait_link_up(START).unwrap();
    ours.wait_stderr("connected to", START);
    let sent = pmd.wait_for_stats(0, Duration::from_secs(5), |s| s.tx_packets > 0);
    let fin = pmd.stop().unwrap();
    sent.unwrap();
    let tx = final_tx(&fin);
    assert!(tx > 0);
    // testpmd left; everything it put on the ring before has been taken by then
    ours.wait_stderr("disconnected by the peer", Duration::from_secs(5));
    let (status, json) = ours.stop();
    assert!(status.success(), "{status}\n{}", ours.stderr());
    assert_eq!(num(&json, "packets"), tx, "our sink's count against testpmd's final TX-packets");
    assert_eq!(num(&json, "bytes"), tx * u64::from(size), "every frame {size} bytes");
    fin
}

#[test]
fn testpmd_client_txonly_to_our_master_sink() {
    let _serial = serial();
    let dir = TempDir::new("dpdk-rx");
    testpmd_txonly_to_our_sink(
        "master",
        64,
        TestpmdOpts::client(dir.join("t.sock")),
        &["--rx-mode", "polling"],
    );
}

#[test]
fn testpmd_server_txonly_to_our_slave_sink() {
    let _serial = serial();
    let dir = TempDir::new("dpdk-rx");
    testpmd_txonly_to_our_sink(
        "slave",
        64,
        TestpmdOpts::server(dir.join("t.sock")),
        &["--rx-mode", "polling"],
    );
}

// ---------------------------------------------------------------------------------------
// Ping against testpmd's icmpecho.

fn ping_testpmd_icmpecho(our_role: &str, extra: &[&str]) {
    let dir = TempDir::new("dpdk-ping");
    let sock = dir.join("t.sock");
    // -W 5: ARP requests once a second for up to 5 s. A testpmd client discards what
    // arrives between link up and the start of forwarding (see `wait_forwarding`), which
    // can be our first request. 8 requests half a second apart keep the link up for
    // about 3.5 s after testpmd counted 3 frames each way: a periodic block (about one a
    // second, slower on a loaded machine) must show them before ping leaves and
    // testpmd's port counters drop to 0.
    let mut args = vec!["ping", "192.168.1.1", "--src-ip", "192.168.1.2", "-c", "8", "-i", "0.5", "-W", "5"];
    args.extend(["--role", our_role, "--socket", sock_arg(&sock)]);
    args.extend(extra);
    let opts = TestpmdOpts {
        cpu: Some(TESTPMD_CPU),
        forward_mode: ForwardMode::Icmpecho,
        ..TestpmdOpts::server(&sock)
    };
    let (mut ours, mut pmd) = if our_role == "slave" {
        let mut pmd = Testpmd::start(opts).unwrap();
        pmd.wait_listening(START).unwrap();
        (Ours::start(&args), pmd)
    } else {
        let ours = Ours::start(&args);
        wait_path(&sock);
        (ours, Testpmd::start(TestpmdOpts { role: common::testpmd::Role::Client, ..opts }).unwrap())
    };
    pmd.wait_link_up(START).unwrap();
    // ARP request and reply, then echo requests and replies, on testpmd's own counters
    let seen = pmd.wait_for_stats(0, Duration::from_secs(10), |s| s.rx_packets >= 3 && s.tx_packets >= 3);
    let (status, json) = ours.wait(Duration::from_secs(15));
    let _ = pmd.stop_tolerating_crash();
    seen.unwrap_or_else(|e| panic!("testpmd did not answer: {e}\nours:\n{}", ours.stderr()));
    assert!(status.success(), "ping failed: {status}\n{}", ours.stderr());
    assert_eq!(num(&json, "transmitted"), 8, "{json}");
    assert_eq!(num(&json, "received"), 8, "{json}");
    assert_eq!(num(&json, "corrupted"), 0, "{json}");
}

#[test]
fn testpmd_icmpecho_answers_our_slave_ping() {
    let _serial = serial();
    ping_testpmd_icmpecho("slave", &["--rx-mode", "polling"]);
}

#[test]
fn testpmd_icmpecho_answers_our_master_ping() {
    let _serial = serial();
    ping_testpmd_icmpecho("master", &["--rx-mode", "polling"]);
}

// ---------------------------------------------------------------------------------------
// Two queue pairs.

#[test]
fn two_queue_pairs_carry_traffic_both_ways() {
    let _serial = serial();
    let n = 100_000u64;
    // ours (slave, 2 queues) -> testpmd server rxonly --rxq=2 --txq=2
    {
        let dir = TempDir::new("dpdk-q2");
        let sock = dir.join("t.sock");
        let mut pmd = Testpmd::start(TestpmdOpts {
            cpu: Some(TESTPMD_CPU),
            rxq: Some(2),
            txq: Some(2),
            ..TestpmdOpts::server(&sock)
        })
        .unwrap();
        pmd.wait_listening(START).unwrap();
        let mut ours = Ours::start(&[
            "gen",
            "--queues",
            "2",
            "--socket",
            sock_arg(&sock),
            "--count",
            &n.to_string(),
            "--linger",
            "20",
            "--rx-mode",
            "polling",
        ]);
        pmd.wait_link_up(START).unwrap();
        ours.wait_stderr("keeping the link up", Duration::from_secs(15));
        let seen = pmd.wait_for_stats(0, Duration::from_secs(10), |s| s.rx_packets >= n);
        let fin = pmd.stop().unwrap();
        assert_eq!(seen.unwrap().rx_packets, n);
        let per_queue: Vec<(u16, u64)> =
            fin.streams.iter().filter(|s| s.rx_port == 0).map(|s| (s.rx_queue, s.rx_packets)).collect();
        assert_eq!(per_queue.len(), 2, "stream blocks: {:?}", fin.streams);
        for (q, p) in &per_queue {
            // gen alternates between its queues burst by burst
            assert!(*p >= n / 4, "RX queue {q} got only {p} of {n}: {per_queue:?}");
        }
        let (status, json) = ours.wait(Duration::from_secs(10));
        assert!(status.success());
        assert_eq!(num(&json, "packets"), n);
    }
    // testpmd client txonly --rxq=2 --txq=2 -> ours (master, 2 queues)
    let dir = TempDir::new("dpdk-rx");
    let fin = testpmd_txonly_to_our_sink(
        "master",
        64,
        TestpmdOpts { rxq: Some(2), txq: Some(2), ..TestpmdOpts::client(dir.join("t.sock")) },
        &["--queues", "2", "--rx-mode", "polling"],
    );
    let per_queue: Vec<(u16, u64)> =
        fin.streams.iter().filter(|s| s.tx_port == 0).map(|s| (s.tx_queue, s.tx_packets)).collect();
    assert_eq!(per_queue.len(), 2, "stream blocks: {:?}", fin.streams);
    assert!(per_queue.iter().all(|&(_, p)| p > 0), "a TX queue carried nothing: {per_queue:?}");
}

// ---------------------------------------------------------------------------------------
// Frames larger than one buffer: chained descriptors.

/// A memif-conn interface of ours, driven in the test.
struct Lib {
    sock: Socket,
    queues: Option<Queues>,
}

impl Lib {
    fn new(path: SocketPath, cfg: InterfaceConfig) -> Lib {
        let mut sock = Socket::new(path, SocketOptions::default()).unwrap();
        sock.add_interface(cfg).unwrap();
        Lib { sock, queues: None }
    }

    fn wait_connected(&mut self, timeout: Duration) -> &mut Queues {
        let end = Instant::now() + timeout;
        let mut ev = Vec::new();
        // A slave may be turned away while testpmd is still configuring its port ("ID
        // not found"); it reconnects on its timer.
        let mut failures = Vec::new();
        while self.queues.is_none() {
            assert!(Instant::now() < end, "our interface did not connect: {failures:?}");
            self.sock.poll(Some(Duration::from_millis(20)), &mut ev).unwrap();
            for e in ev.drain(..) {
                match e {
                    Event::Connected { queues, .. } => self.queues = Some(queues),
                    Event::Disconnected { reason, .. } => failures.push(reason.to_string()),
                    Event::Refused { reason, .. } => failures.push(reason.to_string()),
                    Event::Interrupt { .. } => {}
                }
            }
        }
        self.queues.as_mut().unwrap()
    }
}

/// Our memif-conn interface sends `n` 1500-byte test frames to testpmd in io mode,
/// which reflects them; every frame must come back intact, in `segments` descriptors.
fn reflect_through_testpmd_io(ours: &mut Lib, pmd: &mut Testpmd, n: u64, segments: usize) {
    let q = ours.wait_connected(START);
    pmd.wait_link_up(START).unwrap();
    wait_forwarding(pmd);
    let mut frame = vec![0u8; 1500];
    let (mut sent, mut got) = (0u64, 0u64);
    let end = Instant::now() + Duration::from_secs(10);
    while got < n && Instant::now() < end {
        if sent < n && sent - got < 32 {
            fill_test_frame(&mut frame, sent);
            sent += q.tx[0].send(&[&frame]).unwrap() as u64;
        }
        let b = q.rx[0].rx_burst(32).unwrap();
        for p in b.iter() {
            assert_eq!(p.len(), 1500);
            assert_eq!(p.num_segments(), segments, "a 1500-byte frame in 1024-byte buffers");
            let seq = check_test_frame(&p.to_vec())
                .unwrap_or_else(|e| panic!("frame {got} came back damaged: {e:?}"));
            assert_eq!(seq, got, "out of order");
            got += 1;
        }
        b.release();
    }
    let seen = pmd.wait_for_stats(0, Duration::from_secs(5), |s| s.rx_packets >= n && s.tx_packets >= n);
    let diag = format!(
        "sent {sent}, got {got}, our tx counters {:?}, testpmd {:?}",
        q.tx[0].counters(),
        pmd.stats()
    );
    let fin = pmd.stop().unwrap();
    assert_eq!(got, n, "frames reflected intact: {diag}; final {:?}", fin.forward);
    let seen = seen.unwrap();
    assert_eq!((seen.rx_packets, seen.tx_packets), (n, n), "testpmd's port counters");
    assert_eq!((seen.rx_bytes, seen.tx_bytes), (n * 1500, n * 1500));
    assert_eq!(fin.port0().unwrap().tx_dropped, 0);
}

#[test]
fn chained_frames_both_ways_through_testpmd_server_io() {
    let _serial = serial();
    let dir = TempDir::new("dpdk-chain");
    let sock = dir.join("t.sock");
    // testpmd server in io mode (one port, paired with itself) reflects every frame;
    // our slave owns the buffers, 1024 bytes each: a 1500-byte frame takes two
    // descriptors on the way out and on the way back.
    let mut pmd = Testpmd::start(TestpmdOpts {
        cpu: Some(TESTPMD_CPU),
        forward_mode: ForwardMode::Io,
        ..TestpmdOpts::server(&sock)
    })
    .unwrap();
    pmd.wait_listening(START).unwrap();
    let mut cfg = InterfaceConfig::new(0, Role::Slave);
    cfg.rx_mode = RxMode::Polling;
    cfg.buffer_size = 1024;
    let mut ours = Lib::new(SocketPath::Path(sock.clone()), cfg);
    reflect_through_testpmd_io(&mut ours, &mut pmd, 200, 2);
}

#[test]
fn chained_frames_both_ways_through_testpmd_client_io_with_bsize_1024() {
    let _serial = serial();
    let dir = TempDir::new("dpdk-chain");
    let sock = dir.join("t.sock");
    // Our master; testpmd is the slave and owns the buffers: bsize=1024.
    let mut cfg = InterfaceConfig::new(0, Role::Master);
    cfg.rx_mode = RxMode::Polling;
    let mut ours = Lib::new(SocketPath::Path(sock.clone()), cfg);
    wait_path(&sock);
    let mut pmd = Testpmd::start(TestpmdOpts {
        cpu: Some(TESTPMD_CPU),
        bsize: Some(1024),
        forward_mode: ForwardMode::Io,
        ..TestpmdOpts::client(&sock)
    })
    .unwrap();
    reflect_through_testpmd_io(&mut ours, &mut pmd, 200, 2);
}

#[test]
fn testpmd_server_sends_1500_byte_frames_into_our_1024_byte_buffers() {
    let _serial = serial();
    let dir = TempDir::new("dpdk-rx");
    // Our slave owns the buffers (1024 bytes): each frame arrives in two descriptors and
    // the sink counts it at its full length.
    testpmd_txonly_to_our_sink(
        "slave",
        1500,
        TestpmdOpts::server(dir.join("t.sock")),
        &["--buffer-size", "1024", "--rx-mode", "polling"],
    );
}

// ---------------------------------------------------------------------------------------
// Secrets.

#[test]
fn matching_secrets_connect_both_roles() {
    let _serial = serial();
    let dir = TempDir::new("dpdk-secret");
    testpmd_txonly_to_our_sink(
        "master",
        64,
        TestpmdOpts { secret: Some("s3cret".into()), ..TestpmdOpts::client(dir.join("m.sock")) },
        &["--secret", "s3cret", "--rx-mode", "polling"],
    );
    testpmd_txonly_to_our_sink(
        "slave",
        64,
        TestpmdOpts { secret: Some("s3cret".into()), ..TestpmdOpts::server(dir.join("s.sock")) },
        &["--secret", "s3cret", "--rx-mode", "polling"],
    );
}

#[test]
fn different_secrets_are_refused_with_the_reason_on_both_sides() {
    let _serial = serial();
    let dir = TempDir::new("dpdk-secret");
    // our master refuses testpmd's client
    {
        let sock = dir.join("m.sock");
        let mut ours =
            Ours::start(&["sink", "--role", "master", "--socket", sock_arg(&sock), "--secret", "right"]);
        wait_path(&sock);
        let mut pmd = Testpmd::start(TestpmdOpts {
            cpu: Some(TESTPMD_CPU),
            secret: Some("wrong".into()),
            ..TestpmdOpts::client(&sock)
        })
        .unwrap();
        let e = pmd.wait_link_up(START).unwrap_err();
        assert!(e.message().contains("the server refused the connection"), "{}", e.message());
        ours.wait_stderr("refused a connection for id 0", START);
        let ours_err = ours.stderr();
        let refusal = ours_err.lines().find(|l| l.contains("refused a connection")).unwrap().to_owned();
        assert!(refusal.to_lowercase().contains("secret"), "our reason: {refusal}");
        // and testpmd shows the reason we sent it
        let reason = refusal.rsplit(": ").next().unwrap();
        assert!(pmd.output().contains(&format!("Disconnect received: {reason}")), "{}", pmd.output());
        assert!(!ours_err.contains("connected to"), "{ours_err}");
        let _ = pmd.stop_tolerating_crash();
        let (status, json) = ours.stop();
        assert!(status.success());
        assert_eq!(num(&json, "packets"), 0);
    }
    // testpmd's server refuses our slave
    {
        let sock = dir.join("s.sock");
        let mut pmd = Testpmd::start(TestpmdOpts {
            cpu: Some(TESTPMD_CPU),
            secret: Some("right".into()),
            ..TestpmdOpts::server(&sock)
        })
        .unwrap();
        pmd.wait_listening(START).unwrap();
        let mut ours = Ours::start(&["sink", "--socket", sock_arg(&sock), "--secret", "wrong"]);
        ours.wait_stderr("Incorrect secret", START);
        // testpmd sent DISCONNECT (type 8) and its link never came up
        pmd.wait_for_output("Sent msg type 8", START).unwrap();
        assert!(!pmd.output().contains("memif_connect(): Connected."), "{}", pmd.output());
        assert!(!ours.stderr().contains("connected to"), "{}", ours.stderr());
        let (status, _) = ours.stop();
        assert!(status.success());
        let _ = pmd.stop_tolerating_crash();
    }
}

// ---------------------------------------------------------------------------------------
// Socket names.

#[test]
fn abstract_socket_both_roles() {
    let _serial = serial();
    let dir = TempDir::new("dpdk-abs");
    // testpmd's server listens on NUL + the path; no file appears. Our slave reaches it
    // as `@path`.
    {
        let name = dir.join("s.sock");
        let n = 10_000u64;
        let mut pmd = Testpmd::start(TestpmdOpts {
            cpu: Some(TESTPMD_CPU),
            socket_abstract: true,
            ..TestpmdOpts::server(&name)
        })
        .unwrap();
        pmd.wait_listening(START).unwrap();
        let at = format!("@{}", name.display());
        assert!(!name.exists(), "socket-abstract=yes made a file");
        assert!(unix_socket_names().contains(&at), "{at} not in /proc/net/unix");
        let mut ours = Ours::start(&["gen", "--socket", &at, "--count", &n.to_string(), "--linger", "20"]);
        pmd.wait_link_up(START).unwrap();
        ours.wait_stderr("keeping the link up", Duration::from_secs(15));
        let seen = pmd.wait_for_stats(0, Duration::from_secs(10), |s| s.rx_packets >= n);
        pmd.stop().unwrap();
        assert_eq!(seen.unwrap().rx_packets, n);
        let (status, json) = ours.wait(Duration::from_secs(10));
        assert!(status.success());
        assert_eq!(num(&json, "packets"), n);
    }
    // our master listens on an abstract name; testpmd's client connects to it
    let fin = testpmd_txonly_to_our_sink(
        "master",
        64,
        TestpmdOpts { socket_abstract: true, ..TestpmdOpts::client(dir.join("m.sock")) },
        &["--rx-mode", "polling"],
    );
    assert!(final_tx(&fin) > 0);
    assert!(!dir.join("m.sock").exists());
}

// ---------------------------------------------------------------------------------------
// Our side in interrupt mode while testpmd polls.

#[test]
fn our_interrupt_mode_is_woken_by_testpmd() {
    let _serial = serial();
    let dir = TempDir::new("dpdk-irq");
    let sock = dir.join("t.sock");
    // Frame by frame through testpmd's io server: each reply must wake our queue's
    // eventfd (RxQueue::wait returns true only for an interrupt).
    {
        let mut pmd = Testpmd::start(TestpmdOpts {
            cpu: Some(TESTPMD_CPU),
            forward_mode: ForwardMode::Io,
            ..TestpmdOpts::server(&sock)
        })
        .unwrap();
        pmd.wait_listening(START).unwrap();
        let mut cfg = InterfaceConfig::new(0, Role::Slave);
        cfg.rx_mode = RxMode::Interrupt;
        let mut ours = Lib::new(SocketPath::Path(sock.clone()), cfg);
        let q = ours.wait_connected(START);
        pmd.wait_link_up(START).unwrap();
        wait_forwarding(&mut pmd);
        let n = 20u64;
        let mut frame = vec![0u8; 64];
        for i in 0..n {
            fill_test_frame(&mut frame, i);
            assert_eq!(q.tx[0].send(&[&frame]).unwrap(), 1);
            assert!(q.rx[0].wait(Some(Duration::from_secs(2))).unwrap(), "no interrupt for frame {i}");
            let b = q.rx[0].rx_burst(32).unwrap();
            assert_eq!(b.len(), 1, "frame {i}");
            assert_eq!(check_test_frame(&b.iter().next().unwrap().to_vec()).unwrap(), i);
            b.release();
        }
        // nothing more arrives: a wait now times out
        assert!(!q.rx[0].wait(Some(Duration::from_millis(300))).unwrap());
        let seen = pmd
            .wait_for_stats(0, Duration::from_secs(5), |s| s.rx_packets >= n && s.tx_packets >= n)
            .unwrap();
        assert_eq!((seen.rx_packets, seen.tx_packets), (n, n));
        pmd.stop().unwrap();
    }
    // and `memif sink --rx-mode interrupt` counts all testpmd sends
    testpmd_txonly_to_our_sink(
        "master",
        64,
        TestpmdOpts::client(dir.join("m.sock")),
        &["--rx-mode", "interrupt"],
    );
}
