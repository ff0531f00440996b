//! `memif gen` as master writes into the slave's buffers. When the slave's buffers are
//! smaller than the frame (here 1024 against 1500), gen must chain, not panic (it
//! sliced a 1024-byte buffer to 1500 bytes before).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn gen_master_chains_into_a_slave_with_smaller_buffers() {
    let dir = std::env::temp_dir().join(format!("memif-rs-gen-small-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    let sock = dir.join("g.sock");
    let sock = sock.to_str().unwrap();
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
