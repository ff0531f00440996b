//! End to end with the Linux kernel, and captures read by tshark:
//! - in a network namespace this test creates (and deletes), `memif tap` bridges a TAP
//!   device to memif, `memif icmp-responder` answers on the other side, and Linux's own
//!   `ping -c 5 192.168.1.1` inside the namespace gets 5 replies. No packet leaves the
//!   namespace: the TAP device lives in it and the memif socket is a file.
//! - a `--pcap` capture of a ping run opens in tshark and shows the ARP and ICMP frames.
//!
//! Needs root, /dev/net/tun, `ip` (iproute2), `ping` (iputils-ping) and `tshark`,
//! which `cargo xtask test` installs.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_memif");

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(name: String) -> Netns {
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        let st = Command::new("ip").args(["netns", "add", &name]).status().expect("ip netns add");
        assert!(st.success(), "ip netns add {name} failed (needs root)");
        Netns(name)
    }
    fn exec(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]).args(args);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn wait_file(p: &std::path::Path) {
    let end = Instant::now() + Duration::from_secs(10);
    while !p.exists() {
        assert!(Instant::now() < end, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn linux_ping_through_a_tap_bridge_reaches_the_responder() {
    let dir = TempDir::new("e2e-tap");
    let sock = dir.join("m.sock");
    let sock_s = sock.to_str().unwrap();
    let ns = Netns::new(format!("memif-e2e-{}", std::process::id()));
    let tap = "memiftap0";
    let _resp = Kill(
        Command::new(BIN)
            .args(["icmp-responder", "--role", "master", "--socket", sock_s, "--ip", "192.168.1.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_file(&sock);
    let _bridge = Kill(
        ns.exec(&[BIN, "tap", "--tap", tap, "--role", "slave", "--socket", sock_s])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // the TAP device appears inside the namespace
    let end = Instant::now() + Duration::from_secs(10);
    while !ns
        .exec(&["ip", "link", "show", tap])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
    {
        assert!(Instant::now() < end, "{tap} never appeared in the namespace");
        std::thread::sleep(Duration::from_millis(50));
    }
    for cmd in [vec!["ip", "link", "set", tap, "up"], vec!["ip", "addr", "add", "192.168.1.2/24", "dev", tap]]
    {
        assert!(ns.exec(&cmd).status().unwrap().success(), "{cmd:?}");
    }
    let out = ns.exec(&["ping", "-c", "5", "-i", "0.2", "-W", "2", "192.168.1.1"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("5 packets transmitted, 5 received, 0% packet loss"), "{text}");
}

#[test]
fn pcap_of_a_ping_run_opens_in_tshark() {
    let dir = TempDir::new("e2e-pcap");
    let sock = dir.join("m.sock");
    let sock_s = sock.to_str().unwrap();
    let pcap = dir.join("ping.pcap");
    let _resp = Kill(
        Command::new(BIN)
            .args(["icmp-responder", "--role", "master", "--socket", sock_s])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_file(&sock);
    let st = Command::new(BIN)
        .args([
            "ping",
            "192.168.1.1",
            "-c",
            "2",
            "--interval",
            "0.1",
            "--socket",
            sock_s,
            "--pcap",
            pcap.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let out = Command::new("tshark")
        .args([
            "-r",
            pcap.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "frame.protocols",
            "-e",
            "arp.opcode",
            "-e",
            "icmp.type",
        ])
        .output()
        .expect("tshark");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    // ARP request (1) and reply (2), then echo request (8) and reply (0) twice
    let arp: Vec<&str> = rows.iter().filter(|r| r[0] == "eth:ethertype:arp").map(|r| r[1]).collect();
    let icmp: Vec<&str> = rows.iter().filter(|r| r[0].ends_with("ip:icmp:data")).map(|r| r[2]).collect();
    assert_eq!(arp, vec!["1", "2"], "{text}");
    assert_eq!(icmp, vec!["8", "0", "8", "0"], "{text}");
}
