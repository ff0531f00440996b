//! The built `memif` binary refuses bad arguments with one clear line on stderr and
//! exit status 2, and never panics.

use std::process::{Command, Output};

fn memif(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memif")).args(args).output().expect("run memif")
}

/// Asserts a refusal as the issue asks, and returns the one stderr line.
fn refused(args: &[&str]) -> String {
    let out = memif(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "memif {args:?}: status {}, stderr:\n{stderr}", out.status);
    assert!(!stderr.contains("panicked"), "memif {args:?} panicked:\n{stderr}");
    assert!(out.stdout.is_empty(), "memif {args:?} wrote to stdout");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "memif {args:?}: want one stderr line, got:\n{stderr}");
    let line = lines[0];
    assert!(line.starts_with("memif: "), "{line}");
    assert!(!line.contains('\x1b'), "no terminal colour codes: {line:?}");
    line.to_string()
}

#[test]
fn unknown_role() {
    let line = refused(&["icmp-responder", "--role", "server"]);
    assert!(line.contains("'server'") && line.contains("--role"), "{line}");
    assert!(line.contains("master") && line.contains("slave"), "says what is allowed: {line}");
}

#[test]
fn ring_size_not_a_power_of_two() {
    let line = refused(&["gen", "--ring-size", "1000"]);
    assert!(line.contains("--ring-size") && line.contains("power of two"), "{line}");
    refused(&["sink", "--ring-size", "32768"]);
}

#[test]
fn ip_that_does_not_parse() {
    let line = refused(&["ping", "1.2.3"]);
    assert!(line.contains("'1.2.3' is not an IPv4 address"), "{line}");
    refused(&["icmp-responder", "--ip", "1.2.3"]);
    refused(&["ping", "192.168.1.1", "--src-ip", "1.2.3"]);
}

#[test]
fn socket_path_too_long() {
    let path = format!("/tmp/{}", "s".repeat(195));
    assert_eq!(path.len(), 200);
    let line = refused(&["sink", "--socket", &path]);
    assert!(line.contains("200 bytes") && line.contains("sun_path"), "{line}");
    let abstract_name = format!("@{}", "a".repeat(108));
    refused(&["sink", "--socket", &abstract_name]);
}

#[test]
fn secret_and_name_too_long() {
    let line = refused(&["sink", "--secret", &"x".repeat(24)]);
    assert!(line.contains("--secret") && line.contains("at most 23"), "{line}");
    let line = refused(&["sink", "--name", &"x".repeat(32)]);
    assert!(line.contains("--name") && line.contains("at most 31"), "{line}");
}

#[test]
fn other_mistakes_are_one_line_too() {
    refused(&["frobnicate"]);
    refused(&["forward", "--id-a", "1"]);
    refused(&["gen", "--count", "1", "--duration", "1"]);
    refused(&["tap", "--tap", "name-too-long-for-linux"]);
    refused(&["icmp-responder", "--mac", "aa:aa"]);
}

#[test]
fn help_lists_every_subcommand() {
    let out = memif(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in ["icmp-responder", "ping", "gen", "sink", "loopback", "forward", "tap", "demo"] {
        assert!(help.contains(sub), "{sub} missing from --help:\n{help}");
    }
    let out = memif(&["ping", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in ["--socket", "--role", "--ring-size", "--src-ip", "--interval", "--pcap", "--json"] {
        assert!(help.contains(opt), "{opt} missing from ping --help:\n{help}");
    }
}
