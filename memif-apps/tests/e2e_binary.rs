//! The `memif` binary end to end over real sockets: responder against ping in both role
//! assignments (two pings each, so the responder outlives its peer), gen into sink with
//! exact counts both ways (with chained jumbo frames and two queue pairs), loopback
//! both ways, forward between gen and sink, demo, abstract sockets, and pings that get
//! no answer. Every process is killed on drop; sockets live in fresh temp folders.

mod common;

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::TempDir;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_memif");

/// What a process printed so far on one stream, collected by a thread.
struct Stream {
    text: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Stream {
    fn collect(mut from: impl Read + Send + 'static) -> Stream {
        let text = Arc::new(Mutex::new(String::new()));
        let t = Arc::clone(&text);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = from.read(&mut buf) {
                t.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Stream { text, reader: Some(reader) }
    }
    fn now(&self) -> String {
        self.text.lock().unwrap().clone()
    }
    /// Everything, once the writer closed its end.
    fn all(mut self) -> String {
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        self.now()
    }
}

/// A `memif` process whose output is collected as it comes, killed on drop.
struct Proc {
    child: Option<Child>,
    out: Option<Stream>,
    err: Option<Stream>,
}

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        let mut c = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = Stream::collect(c.stdout.take().unwrap());
        let err = Stream::collect(c.stderr.take().unwrap());
        Proc { child: Some(c), out: Some(out), err: Some(err) }
    }
    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        assert!(Command::new("kill").args([sig, &pid]).status().unwrap().success());
    }
    /// Waits until stdout (or stderr) shows `needle`; panics after `timeout`.
    fn wait_for(&self, stderr: bool, needle: &str, timeout: Duration) {
        let s = if stderr { self.err.as_ref() } else { self.out.as_ref() }.unwrap();
        let end = Instant::now() + timeout;
        while !s.now().contains(needle) {
            assert!(
                Instant::now() < end,
                "no {needle:?} in {timeout:?}; stdout: {}\nstderr: {}",
                self.out.as_ref().unwrap().now(),
                self.err.as_ref().unwrap().now()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    /// Waits up to `timeout` for the exit, then stops it with SIGTERM (so it prints its
    /// counters) and waits for that.
    fn wait_or_term(mut self, timeout: Duration) -> (ExitStatus, String, String) {
        let end = Instant::now() + timeout;
        while self.child.as_mut().unwrap().try_wait().unwrap().is_none() {
            if Instant::now() >= end {
                self.signal("-TERM");
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.wait(Duration::from_secs(10))
    }
    /// Waits for the exit (killing it after `timeout`) and returns status, stdout, stderr.
    fn wait(mut self, timeout: Duration) -> (ExitStatus, String, String) {
        let mut c = self.child.take().unwrap();
        let end = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = c.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > end {
                let _ = c.kill();
                let s = c.wait().unwrap();
                panic!(
                    "memif did not finish in {timeout:?} ({s}); stdout: {}\nstderr: {}",
                    self.out.take().unwrap().all(),
                    self.err.take().unwrap().all()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        (status, self.out.take().unwrap().all(), self.err.take().unwrap().all())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn run(args: &[&str], timeout: Duration) -> (ExitStatus, String, String) {
    Proc::spawn(args).wait(timeout)
}

/// Waits until the socket file exists (a master is listening).
fn wait_file(p: &std::path::Path) {
    let end = Instant::now() + Duration::from_secs(10);
    while !p.exists() {
        assert!(Instant::now() < end, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until the kernel lists the abstract socket `@name` (a master is listening).
fn wait_abstract(name: &str) {
    let end = Instant::now() + Duration::from_secs(10);
    while !common::unix_socket_names().iter().any(|n| n == name) {
        assert!(Instant::now() < end, "{name} never appeared in /proc/net/unix");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The `--json` summary: the last line of stdout, which must be one JSON object.
fn json(out: &str) -> Value {
    let line = out.lines().last().unwrap_or_else(|| panic!("no output"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"))
}

/// The responder answers two pingers in a row (a slave responder reconnects, a master
/// waits): the first printed like ping(8), the second with `--json`. SIGTERM then ends
/// the responder cleanly with its counters.
fn responder_and_ping(responder_role: &str, ping_role: &str, sock: &str) {
    let resp = Proc::spawn(&["icmp-responder", "--role", responder_role, "--socket", sock]);
    if responder_role == "master" {
        wait_file(std::path::Path::new(sock));
    }
    let ping = ["ping", "192.168.1.1", "--interval", "0.1", "--role", ping_role, "--socket", sock];
    let (st, out, err) = run(&[&ping[..], &["-c", "3"]].concat(), Duration::from_secs(30));
    assert!(st.success(), "ping: {st}\n{out}\n{err}");
    assert!(out.starts_with("PING 192.168.1.1 (192.168.1.1) 56(84) bytes of data.\n"), "{out}");
    for seq in 1..=3 {
        assert!(out.contains(&format!("64 bytes from 192.168.1.1: icmp_seq={seq} ttl=64 time=")), "{out}");
    }
    assert!(out.contains("\n--- 192.168.1.1 ping statistics ---\n"), "{out}");
    assert!(out.contains("\n3 packets transmitted, 3 received, 0% packet loss, time "), "{out}");
    assert!(out.contains("\nrtt min/avg/max/mdev = "), "{out}");

    // the second pinger, after the first one left
    let (st, out, err) = run(&[&["--json"], &ping[..], &["-c", "2"]].concat(), Duration::from_secs(30));
    assert!(st.success(), "ping --json: {st}\n{out}\n{err}");
    assert_eq!(out.lines().count(), 1, "under --json stdout holds only the summary: {out}");
    let j = json(&out);
    assert_eq!(j["command"], "ping");
    assert_eq!(j["destination"], "192.168.1.1");
    assert_eq!((j["transmitted"].as_u64(), j["received"].as_u64()), (Some(2), Some(2)), "{j}");
    assert_eq!((j["corrupted"].as_u64(), j["loss_percent"].as_f64()), (Some(0), Some(0.0)), "{j}");
    let rtt = |k: &str| j["rtt_ms"][k].as_f64().unwrap_or_else(|| panic!("no rtt_ms.{k} in {j}"));
    assert!(0.0 < rtt("min") && rtt("min") <= rtt("avg") && rtt("avg") <= rtt("max"), "{j}");
    assert!(rtt("min") <= rtt("median") && rtt("median") <= rtt("max"), "{j}");
    assert!(err.contains("64 bytes from 192.168.1.1: icmp_seq=2 ttl=64 time="), "lines go to stderr: {err}");

    resp.signal("-TERM");
    let (st, out, err) = resp.wait(Duration::from_secs(10));
    assert!(st.success(), "{st}\n{err}");
    assert!(
        out.contains("icmp-responder: 7 packets received, 7 sent (2 ARP replies, 5 echo replies), 0 ignored, 0 dropped on transmit, 2 connections"),
        "{out}"
    );
}

#[test]
fn responder_and_ping_master_responder() {
    let d = TempDir::new("e2e-rp1");
    responder_and_ping("master", "slave", d.join("m.sock").to_str().unwrap());
}

#[test]
fn responder_and_ping_slave_responder() {
    let d = TempDir::new("e2e-rp2");
    // the responder (slave) retries until the pinging master listens
    responder_and_ping("slave", "master", d.join("m.sock").to_str().unwrap());
}

#[test]
fn responder_and_ping_on_an_abstract_socket_with_json() {
    let name = format!("memif-test-{}", std::process::id());
    let sock = format!("@{name}");
    let resp = Proc::spawn(&["--json", "icmp-responder", "--role", "master", "--socket", &sock]);
    wait_abstract(&sock);
    let (st, out, err) = run(
        &["--json", "ping", "192.168.1.1", "-c", "2", "--interval", "0.1", "--socket", &sock],
        Duration::from_secs(30),
    );
    assert!(st.success(), "{out}\n{err}");
    let j = json(&out);
    assert_eq!((j["transmitted"].as_u64(), j["received"].as_u64()), (Some(2), Some(2)), "{j}");
    assert!(err.contains(&format!("connected to memif0 on @{name}")), "{err}");
    resp.signal("-INT");
    let (st, out, _) = resp.wait(Duration::from_secs(10));
    assert!(st.success());
    let j = json(&out);
    assert_eq!(j["command"], "icmp-responder");
    for (k, v) in
        [("rx_packets", 3), ("tx_packets", 3), ("arp_replies", 1), ("echo_replies", 2), ("connects", 1)]
    {
        assert_eq!(j[k].as_u64(), Some(v), "{k} in {j}");
    }
}

/// Replies that arrive together in one burst all count. ping counted only the first
/// matching frame of a burst and threw the others away: with the responder held for
/// 200 ms, the ~20 replies it then sent at once came back as one reply.
#[test]
fn ping_counts_every_reply_of_a_burst() {
    let d = TempDir::new("e2e-burst");
    let sock = d.join("b.sock");
    let sock = sock.to_str().unwrap();
    let resp = Proc::spawn(&["icmp-responder", "--role", "master", "--socket", sock]);
    wait_file(std::path::Path::new(sock));
    let ping =
        Proc::spawn(&["ping", "192.168.1.1", "-c", "40", "--interval", "0.01", "-W", "3", "--socket", sock]);
    ping.wait_for(false, "icmp_seq=2 ", Duration::from_secs(15));
    resp.signal("-STOP");
    std::thread::sleep(Duration::from_millis(200));
    resp.signal("-CONT");
    let (st, out, err) = ping.wait(Duration::from_secs(30));
    assert!(st.success(), "{out}\n{err}");
    assert!(out.contains("40 packets transmitted, 40 received, 0% packet loss"), "{out}");
    for seq in 1..=40 {
        assert!(out.contains(&format!(": icmp_seq={seq} ttl=64 time=")), "no reply line for {seq}: {out}");
    }
}

#[test]
fn ping_with_a_payload_larger_than_a_buffer() {
    // 8000 bytes of payload: the request and the reply go out chained (2048-byte buffers)
    let d = TempDir::new("e2e-bigping");
    let sock = d.join("b.sock");
    let sock = sock.to_str().unwrap();
    let _resp = Proc::spawn(&["icmp-responder", "--role", "master", "--socket", sock]);
    wait_file(std::path::Path::new(sock));
    let (st, out, err) = run(
        &["ping", "192.168.1.1", "-c", "2", "-i", "0.1", "-s", "8000", "--socket", sock],
        Duration::from_secs(30),
    );
    assert!(st.success(), "{out}\n{err}");
    assert!(out.starts_with("PING 192.168.1.1 (192.168.1.1) 8000(8028) bytes of data."), "{out}");
    assert!(out.contains("8008 bytes from 192.168.1.1: icmp_seq=2 ttl=64 time="), "{out}");
    assert!(!out.contains("DIFFERENT DATA"), "{out}");
    assert!(out.contains("2 packets transmitted, 2 received, 0% packet loss"), "{out}");
}

#[test]
fn ping_without_a_peer_exits_1() {
    let d = TempDir::new("e2e-nopeer");
    let sock = d.join("none.sock");
    // a master nobody connects to: no link, no reply
    let (st, out, err) = run(
        &[
            "ping",
            "192.168.1.1",
            "-c",
            "1",
            "-W",
            "1",
            "--role",
            "master",
            "--socket",
            sock.to_str().unwrap(),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(st.code(), Some(1), "{out}\n{err}");
    assert!(err.contains("memif ping: no memif link on "), "{err}");
}

#[test]
fn ping_of_an_address_nobody_has_exits_1() {
    let d = TempDir::new("e2e-noarp");
    let sock = d.join("a.sock");
    let sock = sock.to_str().unwrap();
    let _resp = Proc::spawn(&["icmp-responder", "--role", "master", "--ip", "192.168.1.1", "--socket", sock]);
    wait_file(std::path::Path::new(sock));
    let (st, out, err) = run(
        &["--json", "ping", "192.168.1.9", "-c", "1", "-W", "1", "--socket", sock],
        Duration::from_secs(30),
    );
    assert_eq!(st.code(), Some(1), "{out}\n{err}");
    assert!(err.contains("memif ping: no ARP reply from 192.168.1.9"), "{err}");
    assert_eq!(json(&out)["received"].as_u64(), Some(0), "{out}");
}

/// gen into sink, the master started first; both must count exactly `n` frames.
fn gen_into_sink(gen_role: &str, sink_role: &str, size: &str, n: u64, extra: &[&str]) {
    let d = TempDir::new("e2e-gs");
    let sock = d.join("t.sock");
    let sock = sock.to_str().unwrap();
    let count = n.to_string();
    let sink =
        [&["--json", "sink", "--role", sink_role, "--count", &count, "--socket", sock], extra].concat();
    let gen =
        [&["--json", "gen", "--role", gen_role, "--count", &count, "--size", size, "--socket", sock], extra]
            .concat();
    let (master, slave) = if sink_role == "master" { (sink, gen) } else { (gen, sink) };
    let m = Proc::spawn(&master);
    wait_file(std::path::Path::new(sock));
    let s = Proc::spawn(&slave);
    let (st1, out1, err1) = m.wait(Duration::from_secs(60));
    let (st2, out2, err2) = s.wait(Duration::from_secs(60));
    assert!(st1.success() && st2.success(), "{err1}\n{err2}");
    for out in [&out1, &out2] {
        let j = json(out);
        assert_eq!(j["packets"].as_u64(), Some(n), "{out}");
        assert_eq!(j["bytes"].as_u64(), Some(n * size.parse::<u64>().unwrap()), "{out}");
    }
}

#[test]
fn gen_slave_into_sink_master_exact() {
    gen_into_sink("slave", "master", "64", 200_000, &[]);
}

#[test]
fn gen_master_into_sink_slave_exact() {
    gen_into_sink("master", "slave", "1500", 100_000, &[]);
}

#[test]
fn jumbo_frames_go_out_chained_exact() {
    // 9000-byte frames over 2048-byte buffers: five descriptors each
    gen_into_sink("slave", "master", "9000", 20_000, &["--buffer-size", "2048"]);
}

#[test]
fn jumbo_frames_from_a_master_go_out_chained_exact() {
    // the master chains over the 2048-byte buffers the slave posted
    gen_into_sink("master", "slave", "9000", 20_000, &["--buffer-size", "2048"]);
}

#[test]
fn gen_into_sink_over_two_queue_pairs_exact() {
    gen_into_sink("slave", "master", "64", 100_000, &["--queues", "2"]);
    gen_into_sink("master", "slave", "64", 100_000, &["--queues", "2"]);
}

#[test]
fn gen_for_a_duration_then_sink_stopped_by_sigterm_agree() {
    let d = TempDir::new("e2e-dur");
    let sock = d.join("t.sock");
    let sock = sock.to_str().unwrap();
    let sink = Proc::spawn(&["--json", "sink", "--role", "master", "--socket", sock]);
    wait_file(std::path::Path::new(sock));
    let (st, gen_out, err) =
        run(&["--json", "gen", "--duration", "0.5", "--socket", sock], Duration::from_secs(30));
    assert!(st.success(), "{err}");
    let sent = json(&gen_out)["packets"].as_u64().unwrap();
    assert!(sent > 0, "{gen_out}");
    // gen waited until the sink had taken every frame before it left
    sink.signal("-TERM");
    let (st, out, err) = sink.wait(Duration::from_secs(10));
    assert!(st.success(), "{err}");
    assert_eq!(json(&out)["packets"].as_u64(), Some(sent), "gen: {gen_out}\nsink: {out}");
}

#[test]
fn loopback_both_directions() {
    let d = TempDir::new("e2e-loop");
    let sock = d.join("l.sock");
    let (st, out, err) =
        run(&["loopback", "--count", "500", "--socket", sock.to_str().unwrap()], Duration::from_secs(30));
    assert!(st.success(), "{out}{err}");
    assert!(out.contains("master -> slave -> master (slave reflects zero-copy): 500 sent, 500 received, 500 intact, 0 bad: data intact"), "{out}");
    let (st, out, err) = run(
        &["--json", "loopback", "--reverse", "--count", "500", "--socket", sock.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert!(st.success(), "{out}{err}");
    let j = json(&out);
    assert_eq!(j["reverse"], true, "{j}");
    for k in ["sent", "received", "intact"] {
        assert_eq!(j[k].as_u64(), Some(500), "{k} in {j}");
    }
    assert_eq!(j["bad"].as_u64(), Some(0), "{j}");
}

/// forward (master, interfaces 1 and 2) between a gen and a sink (slaves): the sink
/// gets exactly what gen sent. The sink connects first, so every frame has somewhere
/// to go (forward drops what arrives while the other side is down).
fn forward_gen_to_sink(
    gen_id: &str,
    sink_id: &str,
    n: u64,
    gen_extra: &[&str],
    sink_extra: &[&str],
) -> Value {
    let d = TempDir::new("e2e-fwd");
    let sock = d.join("f.sock");
    let sock = sock.to_str().unwrap();
    let count = n.to_string();
    let fwd = Proc::spawn(&["--json", "forward", "--id-a", "1", "--id-b", "2", "--socket", sock]);
    wait_file(std::path::Path::new(sock));
    let sink = Proc::spawn(
        &[
            &["--json", "sink", "--role", "slave", "--id", sink_id, "--count", &count, "--socket", sock],
            sink_extra,
        ]
        .concat(),
    );
    fwd.wait_for(true, &format!("memif{sink_id}: connected to memif{sink_id}"), Duration::from_secs(10));
    let (st, out, err) = run(
        &[
            &["--json", "gen", "--role", "slave", "--id", gen_id, "--count", &count, "--socket", sock],
            gen_extra,
        ]
        .concat(),
        Duration::from_secs(60),
    );
    assert!(st.success(), "{err}");
    assert_eq!(json(&out)["packets"].as_u64(), Some(n), "{out}");
    // gen left once forward had taken every frame: the sink has them all soon after
    let (st, out, err) = sink.wait_or_term(Duration::from_secs(20));
    assert!(st.success(), "{err}");
    assert_eq!(json(&out)["packets"].as_u64(), Some(n), "sink got {out}");
    fwd.signal("-INT");
    let (st, out, _) = fwd.wait(Duration::from_secs(10));
    assert!(st.success());
    let j = json(&out);
    assert_eq!(j["command"], "forward", "{j}");
    j
}

#[test]
fn forward_between_gen_and_sink() {
    let j = forward_gen_to_sink("1", "2", 50_000, &[], &[]);
    assert_eq!(j["a_to_b"]["packets"].as_u64(), Some(50_000), "{j}");
    assert_eq!(j["a_to_b"]["dropped"].as_u64(), Some(0), "{j}");
}

/// Chained frames through forward, b to a, into a sink with a small ring: forward
/// read as many frames as the other ring had free buffers and dropped those that
/// needed more buffers than were left (a 9000-byte frame takes five).
#[test]
fn forward_passes_chained_frames_without_loss() {
    let j = forward_gen_to_sink("2", "1", 5_000, &["--size", "9000"], &["--ring-size", "256"]);
    assert_eq!(j["b_to_a"]["packets"].as_u64(), Some(5_000), "{j}");
    assert_eq!(j["b_to_a"]["bytes"].as_u64(), Some(45_000_000), "{j}");
    assert_eq!(j["b_to_a"]["dropped"].as_u64(), Some(0), "{j}");
}

/// What forward holds for the sink still reaches it after gen left: 10 chained frames
/// (five buffers each) into a stopped sink with a 16-entry ring take one burst from
/// gen, of which 3 fit; gen sees its ring empty and leaves. forward kept the other 7
/// only while both sides were up, so the sink, resumed, got 3.
#[test]
fn forward_delivers_what_it_holds_after_the_sender_left() {
    let d = TempDir::new("e2e-fwdleft");
    let sock = d.join("f.sock");
    let sock = sock.to_str().unwrap();
    let fwd = Proc::spawn(&["--json", "forward", "--id-a", "1", "--id-b", "2", "--socket", sock]);
    wait_file(std::path::Path::new(sock));
    let sink =
        Proc::spawn(&["--json", "sink", "--id", "1", "--count", "10", "--ring-size", "16", "--socket", sock]);
    fwd.wait_for(true, "memif1: connected to memif1", Duration::from_secs(10));
    sink.signal("-STOP");
    let (st, out, err) = run(
        &["--json", "gen", "--id", "2", "--size", "9000", "--count", "10", "--socket", sock],
        Duration::from_secs(30),
    );
    assert!(st.success(), "{err}");
    assert_eq!(json(&out)["packets"].as_u64(), Some(10), "{out}");
    fwd.wait_for(true, "memif2: disconnected", Duration::from_secs(10));
    sink.signal("-CONT");
    let (st, out, err) = sink.wait_or_term(Duration::from_secs(5));
    assert!(st.success(), "{err}");
    assert_eq!(json(&out)["packets"].as_u64(), Some(10), "sink got {out}");
    fwd.signal("-INT");
    let (_, out, _) = fwd.wait(Duration::from_secs(10));
    let j = json(&out);
    assert_eq!(
        (j["b_to_a"]["packets"].as_u64(), j["b_to_a"]["dropped"].as_u64()),
        (Some(10), Some(0)),
        "{j}"
    );
}

#[test]
fn demo_answers_pings_and_moves_frames() {
    let (st, out, err) = run(&["demo"], Duration::from_secs(60));
    assert!(st.success(), "{out}\n{err}");
    for seq in 1..=5 {
        assert!(out.contains(&format!("64 bytes from 192.168.1.1: icmp_seq={seq} ttl=64 time=")), "{out}");
    }
    assert!(out.contains("5 packets transmitted, 5 received, 0% packet loss"), "{out}");
    let thr = out.lines().find(|l| l.starts_with("demo: sent ")).unwrap_or_else(|| panic!("{out}"));
    let received: u64 =
        thr.split(" received ").nth(1).and_then(|r| r.split(' ').next()).unwrap().parse().unwrap();
    assert!(received > 0 && thr.contains(" Mpps, ") && thr.ends_with(" Gbit/s"), "{thr}");
    assert!(out.trim_end().ends_with("demo: OK"), "{out}");
}
