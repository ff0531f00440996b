//! End to end with the Linux kernel, and captures read by tshark and tcpdump:
//! - in a network namespace this test creates (and deletes), `memif tap` bridges a TAP
//!   device to memif, `memif icmp-responder` answers on the other side, and Linux's own
//!   `ping -c 5 192.168.1.1` inside the namespace gets 5 replies, with the bridge as
//!   master and as slave. No packet leaves the namespace: the TAP device lives in it
//!   and the memif socket is a file.
//! - `--pcap` captures of a ping run, on both sides, open in tshark and tcpdump and show
//!   the ARP and ICMP frames; chained 9000-byte frames are captured whole.
//!
//! Needs root, /dev/net/tun, `ip` (iproute2), `ping` (iputils-ping), `tshark` and
//! `tcpdump`, which `cargo xtask test` installs.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::TempDir;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_memif");

/// A child process, killed on drop.
struct Kill(Child);

impl Kill {
    /// SIGTERM, then its `--json` summary (stdout must go to `out`).
    fn term_json(mut self, out: &Path) -> Value {
        let pid = self.0.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let end = Instant::now() + Duration::from_secs(10);
        while self.0.try_wait().unwrap().is_none() {
            assert!(Instant::now() < end, "{pid} did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
        let text = std::fs::read_to_string(out).unwrap();
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
    }
}

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `memif ARGS` with stdout and stderr into files of `dir`, named after `tag`.
fn spawn_memif(cmd: Command, dir: &TempDir, tag: &str) -> Kill {
    let mut cmd = cmd;
    let out = std::fs::File::create(dir.join(&format!("{tag}.out"))).unwrap();
    let err = std::fs::File::create(dir.join(&format!("{tag}.err"))).unwrap();
    Kill(cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn().unwrap())
}

fn memif(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args);
    c
}

/// A network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(name: String) -> Netns {
        assert!(Path::new("/dev/net/tun").exists(), "/dev/net/tun is missing: TAP devices need it");
        let out = Command::new("ip").args(["netns", "add", &name]).output().expect("ip (iproute2)");
        assert!(
            out.status.success(),
            "ip netns add {name} failed (needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Netns(name)
    }
    fn exec(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]).args(args);
        c
    }
    fn exists(name: &str) -> bool {
        let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().any(|l| l.split_whitespace().next() == Some(name))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Waits until `file` (a socket, or a log) exists and contains `needle` ("" for any).
fn wait_file(p: &Path, needle: &str) {
    let end = Instant::now() + Duration::from_secs(10);
    while !p.exists() || !std::fs::read_to_string(p).unwrap_or_default().contains(needle) {
        assert!(
            Instant::now() < end,
            "{} never showed {needle:?}: {:?}",
            p.display(),
            std::fs::read_to_string(p)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn linux_ping_through_a_tap_bridge(tap_role: &str, responder_role: &str) {
    let dir = TempDir::new("e2e-tap");
    let sock = dir.join("m.sock");
    let sock_s = sock.to_str().unwrap();
    let ns_name = format!("memif-e2e-{}-{}", std::process::id(), common::unique());
    let ns = Netns::new(ns_name.clone());
    let tap = "memiftap0";
    let responder = memif(&[
        "--json",
        "icmp-responder",
        "--ip",
        "192.168.1.1",
        "--role",
        responder_role,
        "--socket",
        sock_s,
    ]);
    let bridge = ns.exec(&[BIN, "--json", "tap", "--tap", tap, "--role", tap_role, "--socket", sock_s]);
    // the master first
    let (resp, bridge) = if responder_role == "master" {
        let r = spawn_memif(responder, &dir, "resp");
        wait_file(&sock, "");
        (r, spawn_memif(bridge, &dir, "tap"))
    } else {
        let b = spawn_memif(bridge, &dir, "tap");
        wait_file(&sock, "");
        (spawn_memif(responder, &dir, "resp"), b)
    };
    // the TAP device appears inside the namespace, and only there
    wait_file(&dir.join("tap.err"), &format!("tap: bridging {tap} and memif0"));
    assert!(!Path::new(&format!("/sys/class/net/{tap}")).exists(), "{tap} is outside the namespace");
    for cmd in [vec!["ip", "link", "set", tap, "up"], vec!["ip", "addr", "add", "192.168.1.2/24", "dev", tap]]
    {
        assert!(ns.exec(&cmd).status().unwrap().success(), "{cmd:?}");
    }
    wait_file(&dir.join("tap.err"), "memif0: connected to memif0");
    let out: Output = ns.exec(&["ping", "-c", "5", "-i", "0.2", "-W", "2", "192.168.1.1"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for seq in 1..=5 {
        assert!(text.contains(&format!("bytes from 192.168.1.1: icmp_seq={seq} ttl=64 time=")), "{text}");
    }
    assert!(text.contains("5 packets transmitted, 5 received, 0% packet loss"), "{text}");

    // the replies came from our responder, through the bridge both ways
    let r = resp.term_json(&dir.join("resp.out"));
    assert_eq!(r["echo_replies"].as_u64(), Some(5), "{r}");
    assert!(r["arp_replies"].as_u64() >= Some(1), "{r}");
    let b = bridge.term_json(&dir.join("tap.out"));
    assert!(b["a_to_b"]["packets"].as_u64() >= Some(6), "TAP -> memif: {b}");
    assert!(b["b_to_a"]["packets"].as_u64() >= Some(6), "memif -> TAP: {b}");
    assert_eq!(b["b_to_a"]["dropped"].as_u64(), Some(0), "{b}");
    drop(ns);
    assert!(!Netns::exists(&ns_name), "namespace {ns_name} left behind");
}

#[test]
fn linux_ping_through_a_slave_tap_bridge_to_a_master_responder() {
    linux_ping_through_a_tap_bridge("slave", "master");
}

#[test]
fn linux_ping_through_a_master_tap_bridge_to_a_slave_responder() {
    linux_ping_through_a_tap_bridge("master", "slave");
}

fn run_tool(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A ping run (2 requests) with `--pcap` on both sides; returns the two captures.
fn ping_run_captured(dir: &TempDir) -> (String, String) {
    let sock = dir.join("m.sock");
    let sock_s = sock.to_str().unwrap();
    let (ping_pcap, resp_pcap) = (dir.join("ping.pcap"), dir.join("resp.pcap"));
    let resp = spawn_memif(
        memif(&[
            "--json",
            "icmp-responder",
            "--role",
            "master",
            "--socket",
            sock_s,
            "--pcap",
            resp_pcap.to_str().unwrap(),
        ]),
        dir,
        "resp",
    );
    wait_file(&sock, "");
    let st = memif(&["ping", "192.168.1.1", "-c", "2", "--interval", "0.1", "--socket", sock_s])
        .args(["--pcap", ping_pcap.to_str().unwrap()])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    // the responder writes its capture out when it stops
    assert_eq!(resp.term_json(&dir.join("resp.out"))["echo_replies"].as_u64(), Some(2));
    (ping_pcap.to_str().unwrap().to_owned(), resp_pcap.to_str().unwrap().to_owned())
}

#[test]
fn pcap_of_a_ping_run_opens_in_tshark() {
    let dir = TempDir::new("e2e-pcap");
    let (ping_pcap, resp_pcap) = ping_run_captured(&dir);
    for pcap in [&ping_pcap, &resp_pcap] {
        let text = run_tool(
            "tshark",
            &["-r", pcap, "-T", "fields", "-e", "frame.protocols", "-e", "arp.opcode", "-e", "icmp.type"],
        );
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        // ARP request (1) and reply (2), then echo request (8) and reply (0) twice
        let arp: Vec<&str> = rows.iter().filter(|r| r[0] == "eth:ethertype:arp").map(|r| r[1]).collect();
        let icmp: Vec<&str> = rows.iter().filter(|r| r[0].ends_with("ip:icmp:data")).map(|r| r[2]).collect();
        assert_eq!(arp, vec!["1", "2"], "{pcap}: {text}");
        assert_eq!(icmp, vec!["8", "0", "8", "0"], "{pcap}: {text}");
        assert_eq!(rows.len(), 6, "{pcap}: {text}");
    }
    // tshark's own summary of ping's side, line by line
    let text = run_tool("tshark", &["-r", &ping_pcap]);
    let want = [
        "ARP 42 Who has 192.168.1.1? Tell 192.168.1.2",
        "ARP 42 192.168.1.1 is at aa:aa:aa:aa:aa:aa",
        "192.168.1.2 → 192.168.1.1  ICMP 98 Echo (ping) request",
        "192.168.1.1 → 192.168.1.2  ICMP 98 Echo (ping) reply",
        "192.168.1.2 → 192.168.1.1  ICMP 98 Echo (ping) request",
        "192.168.1.1 → 192.168.1.2  ICMP 98 Echo (ping) reply",
    ];
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), want.len(), "{text}");
    for (line, w) in lines.iter().zip(want) {
        assert!(line.contains(w), "{line:?} should contain {w:?}\n{text}");
    }
}

#[test]
fn pcap_of_a_ping_run_opens_in_tcpdump() {
    let dir = TempDir::new("e2e-tcpdump");
    let (ping_pcap, _) = ping_run_captured(&dir);
    let text = run_tool("tcpdump", &["-n", "-r", &ping_pcap]);
    let want = [
        "ARP, Request who-has 192.168.1.1 tell 192.168.1.2",
        "ARP, Reply 192.168.1.1 is-at aa:aa:aa:aa:aa:aa",
        "IP 192.168.1.2 > 192.168.1.1: ICMP echo request",
        "IP 192.168.1.1 > 192.168.1.2: ICMP echo reply",
        "IP 192.168.1.2 > 192.168.1.1: ICMP echo request",
        "IP 192.168.1.1 > 192.168.1.2: ICMP echo reply",
    ];
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), want.len(), "{text}");
    for (line, w) in lines.iter().zip(want) {
        assert!(line.contains(w), "{line:?} should contain {w:?}\n{text}");
    }
}

#[test]
fn pcap_keeps_chained_frames_whole() {
    // 9000-byte frames arrive in five 2048-byte buffers; the capture has each whole
    let dir = TempDir::new("e2e-pcapjumbo");
    let sock = dir.join("j.sock");
    let sock_s = sock.to_str().unwrap();
    let pcap = dir.join("sink.pcap");
    let sink = spawn_memif(
        memif(&[
            "--json",
            "sink",
            "--role",
            "master",
            "--count",
            "20",
            "--socket",
            sock_s,
            "--pcap",
            pcap.to_str().unwrap(),
        ]),
        &dir,
        "sink",
    );
    wait_file(&sock, "");
    let st = memif(&["gen", "--size", "9000", "--count", "20", "--socket", sock_s]).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let mut sink = sink;
    wait_exit(&mut sink, "sink");
    let text = run_tool(
        "tshark",
        &["-r", pcap.to_str().unwrap(), "-T", "fields", "-e", "frame.len", "-e", "frame.cap_len"],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, vec!["9000\t9000"; 20], "{text}");
}

/// `tshark -r FILE -T fields -e frame.len`: the length of every frame.
fn frame_lengths(pcap: &Path) -> Vec<String> {
    run_tool("tshark", &["-r", pcap.to_str().unwrap(), "-T", "fields", "-e", "frame.len"])
        .lines()
        .map(str::to_owned)
        .collect()
}

fn wait_exit(k: &mut Kill, what: &str) {
    let end = Instant::now() + Duration::from_secs(20);
    while k.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < end, "{what} did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `--pcap` on gen, forward and loopback captures what they send and receive (their
/// files had only the pcap header: gen and forward never captured, and loopback's two
/// interfaces each created, and emptied, the same file).
#[test]
fn pcap_of_gen_forward_and_loopback_has_their_frames() {
    let dir = TempDir::new("e2e-pcapall");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let sock = p("f.sock");
    let fwd = spawn_memif(
        memif(&[
            "--json",
            "forward",
            "--id-a",
            "1",
            "--id-b",
            "2",
            "--socket",
            &sock,
            "--pcap",
            &p("fwd.pcap"),
        ]),
        &dir,
        "fwd",
    );
    wait_file(Path::new(&sock), "");
    let mut sink = spawn_memif(
        memif(&["--json", "sink", "--id", "2", "--count", "10", "--socket", &sock]),
        &dir,
        "sink",
    );
    wait_file(&dir.join("fwd.err"), "memif2: connected");
    let gen = memif(&[
        "gen",
        "--id",
        "1",
        "--size",
        "3000",
        "--count",
        "10",
        "--socket",
        &sock,
        "--pcap",
        &p("gen.pcap"),
    ])
    .output()
    .unwrap();
    assert!(gen.status.success(), "{}", String::from_utf8_lossy(&gen.stderr));
    wait_exit(&mut sink, "sink");
    assert_eq!(fwd.term_json(&dir.join("fwd.out"))["a_to_b"]["packets"].as_u64(), Some(10));
    // gen's frames (chained: 3000 bytes over 2048-byte buffers), and forward's view of them
    assert_eq!(frame_lengths(&dir.join("gen.pcap")), vec!["3000"; 10]);
    assert_eq!(frame_lengths(&dir.join("fwd.pcap")), vec!["3000"; 10]);

    // loopback: the master's view, 5 frames out and back
    for reverse in [false, true] {
        let file = p(&format!("loop-{reverse}.pcap"));
        let mut args = vec!["loopback", "--count", "5", "--socket", &sock, "--pcap", &file];
        if reverse {
            args.push("--reverse");
        }
        let out = memif(&args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(frame_lengths(Path::new(&file)), vec!["128"; 10], "reverse: {reverse}");
    }
}
