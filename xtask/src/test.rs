//! `cargo xtask test`: the steps, their banners and the summary.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use crate::{docker, env, process, suites, valgrind};

pub const HELP: &str = "\
cargo xtask test: THE test command of memif-rs (.ci/run runs exactly this)

Steps:
  1. environment   the programs the suites need (dpdk-testpmd, ping, ip, tshark, tcpdump,
                   valgrind, podman, ...) and cargo fmt/clippy must be present; as root on
                   Debian, missing ones are installed with apt-get, else the run stops
                   naming them and their packages
  2. fmt           cargo fmt --all --check
  3. clippy        cargo clippy --workspace --all-targets -- -D warnings
  4. doc           cargo doc --workspace --no-deps, RUSTDOCFLAGS=-D warnings (broken links,
                   stray HTML in doc comments)
  5. tests         cargo test --workspace --no-fail-fast, which includes the suites
                   against real peers; the summary has a line per suite
  6. valgrind      a chosen part of the tests once more under valgrind memcheck; any
                   error valgrind reports fails the step
  7. docker smoke  the `memif` image built (static binary, FROM scratch) and its
                   responder pinged from its root filesystem (cargo xtask docker --smoke)

A failing fmt, clippy or doc step does not stop the run. Exit status 0 only if every step
passed.
";

/// A command step: what the banner says, what runs, how long it may take.
pub struct Step {
    pub name: &'static str,
    pub args: &'static [&'static str],
    /// Environment variables set for the command.
    pub env: &'static [(&'static str, &'static str)],
    pub limit: Duration,
}

const FMT: Step =
    Step { name: "fmt", args: &["fmt", "--all", "--check"], env: &[], limit: Duration::from_secs(5 * 60) };
const CLIPPY: Step = Step {
    name: "clippy",
    args: &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"],
    env: &[],
    limit: Duration::from_secs(20 * 60),
};
const DOC: Step = Step {
    name: "doc",
    args: &["doc", "--workspace", "--no-deps"],
    env: &[("RUSTDOCFLAGS", "-D warnings")],
    limit: Duration::from_secs(10 * 60),
};
const TESTS: Step = Step {
    name: "tests",
    args: &["test", "--workspace", "--no-fail-fast"],
    env: &[],
    limit: Duration::from_secs(30 * 60),
};

/// One line of the summary.
struct Outcome {
    name: String,
    /// `None`: did not run, for the reason in `note`.
    passed: Option<bool>,
    duration: Duration,
    note: String,
}

struct Run {
    outcomes: Vec<Outcome>,
    started: Instant,
    total_steps: usize,
}

impl Run {
    fn banner(&self, name: &str, what: &str) {
        let n = self.outcomes.iter().filter(|o| !o.name.starts_with("  ")).count() + 1;
        println!(
            "\n==================== xtask test: step {n}/{} {name} ====================",
            self.total_steps
        );
        println!("{what}");
    }

    fn record(
        &mut self,
        name: impl Into<String>,
        passed: Option<bool>,
        duration: Duration,
        note: impl Into<String>,
    ) {
        let outcome = Outcome { name: name.into(), passed, duration, note: note.into() };
        let verdict = match outcome.passed {
            Some(true) => "passed",
            Some(false) => "FAILED",
            None => "NOT RUN",
        };
        println!(
            "---- {}: {verdict} in {:.1} s {}",
            outcome.name.trim(),
            outcome.duration.as_secs_f64(),
            outcome.note
        );
        self.outcomes.push(outcome);
    }

    /// Runs a cargo step in the workspace root. Returns the captured output lines when
    /// `capture` is set.
    fn cargo_step(&mut self, step: &Step, capture: bool) -> Vec<String> {
        let vars: String = step.env.iter().map(|(k, v)| format!("{k}='{v}' ")).collect();
        let shown = format!("$ {vars}cargo {}", step.args.join(" "));
        self.banner(step.name, &shown);
        let started = Instant::now();
        let mut cmd = Command::new(crate::cargo());
        cmd.args(step.args).envs(step.env.iter().copied()).current_dir(crate::workspace_root());
        match process::run(&mut cmd, step.limit, capture) {
            Ok(done) => {
                let (passed, note) = match done.status {
                    Some(s) if s.success() => (true, String::new()),
                    Some(s) => (false, format!("({s})")),
                    None => {
                        (false, format!("(killed after the time limit of {} min)", step.limit.as_secs() / 60))
                    }
                };
                self.record(step.name, Some(passed), started.elapsed(), note);
                done.lines
            }
            Err(e) => {
                self.record(step.name, Some(false), started.elapsed(), format!("(cannot run cargo: {e})"));
                Vec::new()
            }
        }
    }
}

/// Runs every step and prints the summary.
pub fn run() -> ExitCode {
    let mut run = Run { outcomes: Vec::new(), started: Instant::now(), total_steps: 7 };
    let root = crate::workspace_root();

    // 1. Environment, including every declared suite's file and tools.
    run.banner("environment", "programs and cargo components the steps and suites need");
    let started = Instant::now();
    let mut env_result = env::prepare();
    for suite in suites::SUITES {
        if !root.join(suite.file()).is_file() {
            env_result =
                Err(format!("suite {:?} is declared but {} does not exist", suite.name, suite.file()));
        }
        for program in suite.needs {
            if !env::REQUIREMENTS.iter().any(|r| r.program == *program) {
                env_result =
                    Err(format!("suite {:?} needs {program}, which is not in env::REQUIREMENTS", suite.name));
            }
        }
    }
    let env_ok = env_result.is_ok();
    match env_result {
        Ok(note) => run.record("environment", Some(true), started.elapsed(), format!("({note})")),
        Err(why) => {
            eprintln!("xtask: the environment is incomplete:\n{why}");
            run.record("environment", Some(false), started.elapsed(), "(see above)");
        }
    }

    // 2, 3 and 4. Style, lints and docs: a failure here does not stop the run.
    run.cargo_step(&FMT, false);
    run.cargo_step(&CLIPPY, false);
    run.cargo_step(&DOC, false);

    // 5. Every test of the workspace, suites included; then one line per suite.
    if env_ok {
        let lines = run.cargo_step(&TESTS, true);
        let results = suites::parse_cargo_test_output(&lines);
        for suite in suites::SUITES {
            let duration = Duration::ZERO;
            match suites::judge(suite, &results) {
                Ok(summary) => run.record(
                    format!("  suite: {}", suite.name),
                    Some(true),
                    duration,
                    format!("({summary})"),
                ),
                Err(why) => {
                    run.record(format!("  suite: {}", suite.name), Some(false), duration, format!("({why})"))
                }
            }
        }
    } else {
        run.banner(TESTS.name, "not run: the environment step failed, and the suites need what it lacks");
        run.record(TESTS.name, None, Duration::ZERO, "(the environment step failed)");
    }

    // 6. Part of the tests again, under valgrind memcheck.
    run.banner("valgrind", "memcheck over the tests of parsing, regions, rings, handshake and connections");
    let started = Instant::now();
    if env_ok {
        match valgrind::executables() {
            Ok(exes) => {
                let mut all_ok = true;
                for (name, exe) in &exes {
                    println!("$ valgrind {}", exe.display());
                    let t = Instant::now();
                    let r = valgrind::run_one(name, exe);
                    all_ok &= r.is_ok();
                    let (ok, note) = match r {
                        Ok(n) => (true, n),
                        Err(n) => (false, n),
                    };
                    run.record(format!("  valgrind: {name}"), Some(ok), t.elapsed(), format!("({note})"));
                }
                run.record(
                    "valgrind",
                    Some(all_ok),
                    started.elapsed(),
                    format!("({} test binaries)", exes.len()),
                );
            }
            Err(why) => run.record("valgrind", Some(false), started.elapsed(), format!("({why})")),
        }
    } else {
        run.record("valgrind", None, Duration::ZERO, "(the environment step failed)");
    }

    // 7. The container image, built and pinged (podman is installed by step 1).
    run.banner("docker smoke", "cargo xtask docker --smoke");
    let started = Instant::now();
    if docker::available() {
        match docker::build().and_then(|(engine, bin)| docker::smoke(engine, &bin)) {
            Ok(s) => run.record("docker smoke", Some(true), started.elapsed(), format!("({s})")),
            Err(e) => run.record("docker smoke", Some(false), started.elapsed(), format!("({e})")),
        }
    } else {
        run.record(
            "docker smoke",
            Some(false),
            started.elapsed(),
            "(no docker engine answers, and podman or unshare is missing)",
        );
    }

    summary(&run)
}

fn summary(run: &Run) -> ExitCode {
    println!("\n==================== xtask test: summary ====================");
    for o in &run.outcomes {
        let verdict = match o.passed {
            Some(true) => "ok    ",
            Some(false) => "FAILED",
            None => "NOT RUN",
        };
        // A suite's time is part of the test step's; its own binary reports it.
        let time = if o.name.starts_with("  ") {
            String::new()
        } else {
            format!("{:7.1} s", o.duration.as_secs_f64())
        };
        println!("  {verdict:<7} {:<40} {time:>9}  {}", o.name, o.note);
    }
    let failed = run.outcomes.iter().filter(|o| o.passed != Some(true)).count();
    println!(
        "\n{} in {:.0} s",
        if failed == 0 { "ALL PASSED".to_owned() } else { format!("{failed} FAILED OR NOT RUN") },
        run.started.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
