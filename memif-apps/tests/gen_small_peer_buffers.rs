//! `memif gen` as master writes into the slave's buffers. When the slave's buffers are
//! smaller than the frame (here 1024 against 1500), gen must chain, not panic (it
//! sliced a 1024-byte buffer to 1500 bytes before).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A fresh folder for one test's socket, and the socket's path in it.
fn socket_dir(tag: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("memif-rs-gen-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    let sock = dir.join("g.sock").to_str().unwrap().to_owned();
    (dir, sock)
}

#[test]
fn gen_master_chains_into_a_slave_with_smaller_buffers() {
    let (dir, sock) = socket_dir("small");
    let sock = sock.as_str();
    let memif = env!("CARGO_BIN_EXE_memif");
    let gen = Command::new(memif)
        .args(["--json", "gen", "--role", "master", "--socket", sock, "--size", "1500", "--count", "1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while !std::path::Path::new(sock).exists() {
        assert!(Instant::now() < end, "gen did not listen");
        std::thread::sleep(Duration::from_millis(10));
    }
    let sink = Command::new("timeout")
        .args(["20", memif, "--json", "sink", "--role", "slave", "--socket", sock])
        .args(["--buffer-size", "1024", "--count", "1000"])
        .output()
        .unwrap();
    let gen_out = gen.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(gen_out.status.success(), "gen: {}", String::from_utf8_lossy(&gen_out.stderr));
    assert!(sink.status.success(), "sink: {}", String::from_utf8_lossy(&sink.stderr));
    let json: serde_json::Value = serde_json::from_slice(&sink.stdout).unwrap();
    assert_eq!(json["packets"], 1000);
    assert_eq!(json["bytes"], 1_500_000);
}

/// Runs gen (role `gen_role`, `--size 9000`) against a sink whose side owns 1024-byte
/// buffers in 8-descriptor rings: a frame needs 9 buffers, more than a ring has.
/// Checks that gen exits at once with an error that names the sizes.
fn gen_refuses_oversized_frames(gen_role: &str) {
    let (dir, sock) = socket_dir(&format!("huge-{gen_role}"));
    let sock = sock.as_str();
    let memif = env!("CARGO_BIN_EXE_memif");
    let sink_role = if gen_role == "master" { "slave" } else { "master" };
    let small = ["--buffer-size", "1024", "--ring-size", "8"];
    let spawn = |args: &[&str]| {
        Command::new("timeout")
            .arg("30")
            .arg(memif)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let wait_listening = || {
        let end = Instant::now() + Duration::from_secs(10);
        while !std::path::Path::new(sock).exists() {
            assert!(Instant::now() < end, "master did not listen");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let gen_args = ["gen", "--role", gen_role, "--socket", sock, "--size", "9000", "--count", "10"];
    let sink_args = ["sink", "--role", sink_role, "--socket", sock, "--count", "10"];
    let (gen, mut sink) = if gen_role == "master" {
        let gen = spawn(&gen_args);
        wait_listening();
        (gen, spawn(&[&sink_args[..], &small[..]].concat()))
    } else {
        let sink = spawn(&[&sink_args[..], &small[..]].concat());
        wait_listening();
        (spawn(&[&gen_args[..], &small[..]].concat()), sink)
    };
    let started = Instant::now();
    let out = gen.wait_with_output().unwrap();
    let _ = sink.kill();
    let _ = sink.wait();
    let _ = std::fs::remove_dir_all(&dir);
    // `timeout` exits 124 when it had to stop gen: that is the hang this guards against
    assert!(started.elapsed() < Duration::from_secs(25), "gen did not give up");
    let (status, stderr) = (out.status, String::from_utf8_lossy(&out.stderr));
    assert!(!status.success(), "gen succeeded: {stderr}");
    assert_ne!(status.code(), Some(124), "gen hung until timeout: {stderr}");
    assert!(stderr.contains("needs 9 buffers of 1024 bytes") && stderr.contains("ring's 8"), "{stderr}");
}

#[test]
fn gen_master_refuses_frames_longer_than_the_slaves_ring_can_chain() {
    gen_refuses_oversized_frames("master");
}

#[test]
fn gen_slave_refuses_frames_longer_than_its_ring_can_chain() {
    gen_refuses_oversized_frames("slave");
}
