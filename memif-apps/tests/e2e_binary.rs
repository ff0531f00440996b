//! The `memif` binary end to end over real sockets: responder against ping in both role
//! assignments, gen into sink with exact counts both ways (and chained jumbo frames),
//! loopback both ways, forward between gen and sink, demo, abstract sockets, and a ping
//! with no peer. Every process is killed on drop; sockets live in fresh temp folders.

mod common;

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_memif");

/// A `memif` process with piped output, killed on drop.
struct Proc(Option<Child>);

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        Proc(Some(
            Command::new(BIN).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap(),
        ))
    }
    fn signal(&self, sig: &str) {
        let pid = self.0.as_ref().unwrap().id().to_string();
        assert!(Command::new("kill").args([sig, &pid]).status().unwrap().success());
    }
    /// Waits for the exit (killing it after `timeout`) and returns status, stdout, stderr.
    fn wait(mut self, timeout: Duration) -> (ExitStatus, String, String) {
        let mut c = self.0.take().unwrap();
        let end = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = c.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > end {
                let _ = c.kill();
                let s = c.wait().unwrap();
                let mut e = String::new();
                c.stderr.take().unwrap().read_to_string(&mut e).unwrap();
                panic!("memif did not finish in {timeout:?} ({s}); stderr: {e}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let (mut o, mut e) = (String::new(), String::new());
        c.stdout.take().unwrap().read_to_string(&mut o).unwrap();
        c.stderr.take().unwrap().read_to_string(&mut e).unwrap();
        (status, o, e)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
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

/// A numeric field of the last JSON line of `out`.
fn field(out: &str, name: &str) -> f64 {
    let line = out.lines().rev().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no JSON in {out:?}"));
    let key = format!("\"{name}\":");
    let i = line.find(&key).unwrap_or_else(|| panic!("no {name} in {line}")) + key.len();
    line[i..].split([',', '}']).next().unwrap().parse().unwrap()
}

fn responder_and_ping(responder_role: &str, ping_role: &str, sock: &str) {
    let resp = Proc::spawn(&["icmp-responder", "--role", responder_role, "--socket", sock]);
    if responder_role == "master" {
        wait_file(std::path::Path::new(sock));
    }
    let (st, out, err) = run(
        &["ping", "192.168.1.1", "-c", "3", "--interval", "0.1", "--role", ping_role, "--socket", sock],
        Duration::from_secs(30),
    );
    assert!(st.success(), "ping: {st}\n{out}\n{err}");
    assert!(out.starts_with("PING 192.168.1.1 (192.168.1.1) 56(84) bytes of data."), "{out}");
    for seq in 1..=3 {
        assert!(out.contains(&format!("64 bytes from 192.168.1.1: icmp_seq={seq} ttl=64 time=")), "{out}");
    }
    assert!(out.contains("3 packets transmitted, 3 received, 0% packet loss"), "{out}");
    // SIGTERM ends the responder cleanly, with its counters
    resp.signal("-TERM");
    let (st, out, _) = resp.wait(Duration::from_secs(10));
    assert!(st.success(), "{st}");
    assert!(out.contains("(1 ARP replies, 3 echo replies)"), "{out}");
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
    let name = format!("@memif-e2e-{}", std::process::id());
    let resp = Proc::spawn(&["--json", "icmp-responder", "--role", "master", "--socket", &name]);
    std::thread::sleep(Duration::from_millis(300));
    let (st, out, err) = run(
        &["--json", "ping", "192.168.1.1", "-c", "2", "--interval", "0.1", "--socket", &name],
        Duration::from_secs(30),
    );
    assert!(st.success(), "{out}\n{err}");
    assert_eq!(field(&out, "transmitted"), 2.0);
    assert_eq!(field(&out, "received"), 2.0);
    assert!(out.contains("\"command\":\"ping\""));
    resp.signal("-INT");
    let (st, out, _) = resp.wait(Duration::from_secs(10));
    assert!(st.success());
    assert!(out.contains("\"command\":\"icmp-responder\""), "{out}");
    assert_eq!(field(&out, "echo_replies"), 2.0);
}

#[test]
fn ping_without_a_peer_exits_1() {
    let d = TempDir::new("e2e-nopeer");
    let sock = d.join("none.sock");
    // a master nobody connects to: no link, no reply
    let (st, _, err) = run(
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
    assert_eq!(st.code(), Some(1), "{err}");
}

fn gen_into_sink(gen_role: &str, sink_role: &str, size: &str, n: u64) {
    let d = TempDir::new("e2e-gs");
    let sock = d.join("t.sock");
    let sock = sock.to_str().unwrap();
    let count = n.to_string();
    let (first, second): (Vec<&str>, Vec<&str>) = (
        vec!["--json", "sink", "--role", sink_role, "--count", &count, "--socket", sock],
        vec!["--json", "gen", "--role", gen_role, "--count", &count, "--size", size, "--socket", sock],
    );
    // the master starts first
    let (master, slave) = if sink_role == "master" { (first, second) } else { (second, first) };
    let m = Proc::spawn(&master);
    wait_file(std::path::Path::new(sock));
    let s = Proc::spawn(&slave);
    let (st1, out1, err1) = m.wait(Duration::from_secs(60));
    let (st2, out2, err2) = s.wait(Duration::from_secs(60));
    assert!(st1.success() && st2.success(), "{err1}\n{err2}");
    for out in [&out1, &out2] {
        assert_eq!(field(out, "packets"), n as f64, "{out}");
        assert_eq!(field(out, "bytes"), (n * size.parse::<u64>().unwrap()) as f64);
    }
}

#[test]
fn gen_slave_into_sink_master_exact() {
    gen_into_sink("slave", "master", "64", 200_000);
}

#[test]
fn gen_master_into_sink_slave_exact() {
    gen_into_sink("master", "slave", "1500", 100_000);
}

#[test]
fn jumbo_frames_go_out_chained_exact() {
    // 9000-byte frames over 2048-byte buffers: five descriptors each
    gen_into_sink("slave", "master", "9000", 20_000);
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
        &["loopback", "--reverse", "--count", "500", "--socket", sock.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert!(st.success(), "{out}{err}");
    assert!(out.contains("slave -> master -> slave (master copies back): 500 sent, 500 received, 500 intact, 0 bad: data intact"), "{out}");
}

#[test]
fn forward_between_gen_and_sink() {
    let d = TempDir::new("e2e-fwd");
    let sock = d.join("f.sock");
    let sock = sock.to_str().unwrap();
    let fwd = Proc::spawn(&["--json", "forward", "--id-a", "1", "--id-b", "2", "--socket", sock]);
    wait_file(std::path::Path::new(sock));
    // the sink connects first, so everything gen sends has somewhere to go
    let sink = Proc::spawn(&["--json", "sink", "--id", "2", "--count", "50000", "--socket", sock]);
    std::thread::sleep(Duration::from_millis(500));
    let (st, out, err) =
        run(&["--json", "gen", "--id", "1", "--count", "50000", "--socket", sock], Duration::from_secs(60));
    assert!(st.success(), "{err}");
    assert_eq!(field(&out, "packets"), 50_000.0);
    let (st, out, err) = sink.wait(Duration::from_secs(60));
    assert!(st.success(), "{err}");
    assert_eq!(field(&out, "packets"), 50_000.0, "sink got {out}");
    fwd.signal("-INT");
    let (st, out, _) = fwd.wait(Duration::from_secs(10));
    assert!(st.success());
    assert!(out.contains("\"command\":\"forward\""), "{out}");
    assert!(out.contains("\"a_to_b\":{\"packets\":50000"), "{out}");
}

#[test]
fn demo_answers_pings_and_moves_frames() {
    let (st, out, err) = run(&["demo"], Duration::from_secs(60));
    assert!(st.success(), "{out}\n{err}");
    assert!(out.contains("64 bytes from 192.168.1.1: icmp_seq=5"), "{out}");
    assert!(out.contains("5 packets transmitted, 5 received, 0% packet loss"), "{out}");
    assert!(out.contains("demo: sent ") && out.contains("Mpps"), "{out}");
    assert!(out.trim_end().ends_with("demo: OK"), "{out}");
}
