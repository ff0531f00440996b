//! # xtask: how memif-rs is tested, as code
//!
//! `cargo xtask <command>` (the alias lives in `.cargo/config.toml`). This crate depends
//! on no workspace crate and on nothing outside std, so it compiles in seconds; it
//! shells out to cargo, apt-get and rustup.
//!
//! ## `cargo xtask test`, THE test command
//! `.ci/run` and the README run exactly this. Steps, in order, each with a banner, and a
//! summary of every step (pass/fail, duration) at the end:
//!
//! 1. **environment**: every tool in [`env::REQUIREMENTS`] (one table: program, Debian
//!    package, who needs it) and every cargo component in [`env::COMPONENTS`] must be
//!    present. As root on Debian, what is missing is installed (one `apt-get update`,
//!    then `apt-get install`, non-interactively, saying so); elsewhere the run stops with
//!    a message naming each missing program and the package that provides it.
//! 2. `cargo fmt --all --check`
//! 3. `cargo clippy --workspace --all-targets -- -D warnings`
//! 4. `cargo doc --workspace --no-deps` with `RUSTDOCFLAGS=-D warnings`: doc comments
//!    whose links do not resolve, or whose text rustdoc reads as HTML, fail it.
//! 5. `cargo test --workspace --no-fail-fast`: unit tests, doc tests and every
//!    integration test of every crate, including the suites that talk to real peers.
//! 6. valgrind memcheck over a chosen part of the tests; 7. the container smoke test
//!    (`cargo xtask docker --smoke`).
//!
//! ### Suites
//! A *suite* ([`suites::SUITES`]) is an integration test file that needs tools from
//! outside Rust (dpdk-testpmd, ip, ping, ...). It is a plain test (never `#[ignore]`d),
//! so a bare `cargo test --workspace` runs it too and fails, saying what is missing,
//! where a tool is absent. Declaring it in the table does three things:
//! - step 1 makes sure the tools it names are installed before any test runs;
//! - the run fails if its file does not exist (a declared suite is never skipped);
//! - step 5's output is read back, and the summary has one line per suite with the
//!   result of its own test binary; a suite whose binary did not run, ran no test, or
//!   ignored one fails.
//!
//! Suites run inside step 5 rather than as separate cargo invocations so that nothing
//! runs twice and no test target list has to be kept in sync with the files. cargo runs
//! test binaries one after another; tests inside one suite that must not overlap take
//! the lock in `memif-apps/tests/common` (`common::serial()`).
//!
//! ### Failures and limits
//! fmt, clippy and doc failures do not stop the run: the tests still run and the
//! summary reports everything; the exit status is non-zero if any step failed. If step
//! 1 fails, fmt, clippy and doc still run, but the tests do not (their suites would fail for want of
//! a tool), and the summary says so. Every step has a time limit ([`test::Step`]); a
//! step that overruns is killed with all its child processes and fails.

mod bench;
mod docker;
mod env;
mod process;
mod suites;
mod test;
mod valgrind;

use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
cargo xtask <command>: how memif-rs is tested, as code

Commands:
  test    The test command. Makes sure the tools the test suites need are installed
          (installs them as root on Debian, else says what is missing), then runs
          cargo fmt --check, cargo clippy -D warnings and cargo test --workspace
          (including the suites against real peers such as DPDK testpmd), and prints
          a summary of every step. Exits non-zero if any step failed.
  bench   Throughput and latency of memif-rs beside DPDK testpmd in the same run,
          alternating, medians of 5 runs with min and max, plus the criterion
          benches, system calls per packet and 1 against 2 queue pairs in one
          process; report in target/bench/ (Markdown, JSON, SVG); about 25 minutes.
          `bench --quick`: 2 runs of fewer scenarios, under two minutes.
  docker  Build a statically linked memif into a FROM scratch image named `memif`
          (entrypoint: the ICMP responder as slave on /run/vpp/master.sock), with
          docker if an engine answers, else podman. `docker --smoke` also runs the
          responder from the image's root filesystem and pings it.
  help    Print this text (also: -h, --help).
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] | ["help" | "-h" | "--help"] => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        ["test"] => test::run(),
        ["bench"] => bench::run(false),
        ["docker"] => docker::run(false),
        ["docker", "--smoke"] => docker::run(true),
        ["bench", "--quick"] => bench::run(true),
        ["test", "-h" | "--help"] => {
            print!("{}", test::HELP);
            ExitCode::SUCCESS
        }
        _ => {
            eprint!("xtask: unknown arguments {args:?}\n\n{HELP}");
            ExitCode::from(2)
        }
    }
}

/// The workspace root: xtask's own folder is one level below it.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map(PathBuf::from).unwrap_or(manifest_dir)
}

/// The cargo that runs us (cargo sets `CARGO` for `cargo run`), else `cargo`.
fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}
