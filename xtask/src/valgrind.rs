//! The valgrind step of `cargo xtask test`: a chosen part of the test suite runs once
//! under memcheck, and any error valgrind reports fails the step.
//!
//! The test binaries are the ones `cargo test` built (found through cargo's JSON
//! messages); each runs with valgrind's `--error-exitcode`, so an invalid read or write,
//! a use of uninitialised memory or a bad free anywhere in the process fails it. Leak
//! checking is off: the test harness itself keeps memory to the end.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process;

/// (package, test target): fast, and between them they cover parsing, regions, rings
/// with hostile memory, the handshake, and real connections with hostile peers.
pub const CHOSEN: &[(&str, &str)] = &[
    ("memif-proto", "vectors"),
    ("memif-shm", "region"),
    ("memif-ring", "errors"),
    ("memif-ring", "hostile"),
    ("memif-ring", "model"),
    ("memif-conn", "handshake"),
    ("memif-conn", "connect"),
    ("memif-conn", "hostile"),
    ("memif-conn", "processes"),
    ("memif-conn", "fuzz_props"),
    ("memif-conn", "socket_perms"),
];

/// Exit status valgrind gives a binary in which it found errors.
const VALGRIND_ERROR: i32 = 99;

/// The executables of `CHOSEN`, built if needed.
pub fn executables() -> Result<Vec<(String, PathBuf)>, String> {
    let out = Command::new(crate::cargo())
        .args(["test", "--workspace", "--no-run", "--message-format=json"])
        .current_dir(crate::workspace_root())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo test --no-run failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut found = Vec::new();
    for (package, target) in CHOSEN {
        let exe = text.lines().find_map(|l| {
            let is_it = l.contains("\"reason\":\"compiler-artifact\"")
                && l.contains(&format!("/{package}#"))
                && l.contains(&format!(
                    "\"kind\":[\"test\"],\"crate_types\":[\"bin\"],\"name\":\"{target}\""
                ));
            is_it.then(|| field(l, "executable")).flatten()
        });
        match exe {
            Some(e) => found.push((format!("{package}/{target}"), PathBuf::from(e))),
            None => return Err(format!("no test executable for {package} {target} in cargo's output")),
        }
    }
    Ok(found)
}

fn field(line: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\":\"");
    let start = line.find(&key)? + key.len();
    let end = line[start..].find('"')? + start;
    Some(line[start..end].to_owned())
}

/// Runs one test binary under memcheck. Ok(note) or Err(why).
pub fn run_one(name: &str, exe: &PathBuf) -> Result<String, String> {
    let package = name.split('/').next().unwrap_or(name);
    let mut cmd = Command::new("valgrind");
    cmd.args([
        "--tool=memcheck",
        "-q",
        &format!("--error-exitcode={VALGRIND_ERROR}"),
        "--leak-check=no",
        "--track-fds=no",
    ])
    .arg(exe)
    .args(["--test-threads=2"])
    // proptests: fewer cases, valgrind is 20-50 times slower
    .env("PROPTEST_CASES", "64")
    .current_dir(crate::workspace_root().join(package));
    let started = Instant::now();
    match process::run(&mut cmd, Duration::from_secs(8 * 60), false) {
        Ok(done) => match done.status {
            Some(s) if s.success() => Ok(format!("clean in {:.0} s", started.elapsed().as_secs_f64())),
            Some(s) if s.code() == Some(VALGRIND_ERROR) => Err("valgrind reported errors (see above)".into()),
            Some(s) => Err(format!("tests failed under valgrind ({s})")),
            None => Err("killed after the time limit of 8 min".into()),
        },
        Err(e) => Err(format!("cannot run valgrind: {e}")),
    }
}
