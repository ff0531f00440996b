//! The suites: integration test files that need tools from outside Rust. See the
//! crate documentation for what declaring one here does.

/// One suite: the integration test `<package>/tests/<test>.rs`.
pub struct Suite {
    /// Shown in the summary.
    pub name: &'static str,
    /// The package folder under the workspace root.
    pub package: &'static str,
    /// The test target: the file stem under `<package>/tests/`.
    pub test: &'static str,
    /// Programs from [`crate::env::REQUIREMENTS`] it runs.
    pub needs: &'static [&'static str],
}

impl Suite {
    /// The file, relative to the workspace root.
    pub fn file(&self) -> String {
        format!("{}/tests/{}.rs", self.package, self.test)
    }
}

/// Only suites whose file exists are declared; the test command fails if a declared
/// file is missing.
pub const SUITES: &[Suite] = &[
    Suite {
        name: "testpmd harness self-test",
        package: "memif-apps",
        test: "testpmd_harness",
        needs: &["dpdk-testpmd", "setpriv"],
    },
    Suite {
        name: "DPDK testpmd interop",
        package: "memif-apps",
        test: "dpdk_interop",
        needs: &["dpdk-testpmd", "setpriv"],
    },
    Suite { name: "memif command end to end", package: "memif-apps", test: "e2e_binary", needs: &[] },
    Suite {
        name: "kernel end to end (netns, TAP, ping, tshark, tcpdump)",
        package: "memif-apps",
        test: "e2e_kernel",
        needs: &["ip", "ping", "tshark", "tcpdump"],
    },
];

/// The result line of one test binary in `cargo test`'s output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryResult {
    /// What cargo printed after `Running`, e.g. `tests/testpmd_harness.rs`.
    pub source: String,
    /// The binary's target name, e.g. `testpmd_harness`.
    pub target: String,
    /// `ok` or `FAILED`, or `None` if no result line followed (crash, timeout).
    pub ok: Option<bool>,
    /// The rest of the result line: `6 passed; 0 failed; 0 ignored; ...`.
    pub summary: String,
    pub passed: u64,
    pub ignored: u64,
}

/// Reads cargo test's output: each `Running <source> (<path>/<target>-<hash>)` line and
/// the `test result:` line of that binary.
pub fn parse_cargo_test_output(lines: &[String]) -> Vec<BinaryResult> {
    let mut results: Vec<BinaryResult> = Vec::new();
    for line in lines {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("Running ") {
            let Some((source, binary)) = rest.rsplit_once(" (") else { continue };
            let binary = binary.trim_end_matches(')');
            let file = binary.rsplit('/').next().unwrap_or(binary);
            let target = file.rsplit_once('-').map_or(file, |(name, _hash)| name);
            results.push(BinaryResult {
                source: source.to_owned(),
                target: target.to_owned(),
                ok: None,
                summary: String::new(),
                passed: 0,
                ignored: 0,
            });
        } else if let Some(krate) = trimmed.strip_prefix("Doc-tests ") {
            // Doc tests have no `Running` line; their result must not land on the
            // binary before them.
            results.push(BinaryResult {
                source: trimmed.to_owned(),
                target: format!("{krate} (doc tests)"),
                ok: None,
                summary: String::new(),
                passed: 0,
                ignored: 0,
            });
        } else if let Some(rest) = trimmed.strip_prefix("test result: ") {
            let Some(current) = results.last_mut().filter(|r| r.ok.is_none()) else { continue };
            let (verdict, summary) = rest.split_once(". ").unwrap_or((rest, ""));
            current.ok = Some(verdict == "ok");
            current.summary = summary.to_owned();
            let count = |what: &str| {
                summary
                    .split(';')
                    .find_map(|part| part.trim().strip_suffix(what)?.trim().parse().ok())
                    .unwrap_or(0)
            };
            current.passed = count("passed");
            current.ignored = count("ignored");
        }
    }
    results
}

/// The verdict on one suite from the tests step's results: `Ok(summary)` or `Err(why)`.
pub fn judge(suite: &Suite, results: &[BinaryResult]) -> Result<String, String> {
    let source = format!("tests/{}.rs", suite.test);
    let Some(result) = results.iter().find(|r| r.target == suite.test && r.source == source) else {
        return Err("its test binary did not run (see the test step's output)".to_owned());
    };
    match result.ok {
        None => Err("its test binary did not finish".to_owned()),
        Some(false) => Err(format!("FAILED: {}", result.summary)),
        Some(true) if result.passed == 0 => Err(format!("ran no test: {}", result.summary)),
        Some(true) if result.ignored > 0 => {
            Err(format!("ignored tests are silent skips: {}", result.summary))
        }
        Some(true) => Ok(result.summary.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    // As printed by cargo 1.95 (stderr and stdout interleaved line by line).
    const OUTPUT: &str = "\
     Running unittests src/lib.rs (/tmp/t/debug/deps/memif_proto-0123abcd)

running 2 tests
test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running tests/testpmd_harness.rs (/tmp/t/debug/deps/testpmd_harness-ecca90498911579d)

running 6 tests
test result: ok. 6 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 11.32s

     Running tests/other.rs (/tmp/t/debug/deps/other-00ff)
test result: FAILED. 1 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.01s
     Running tests/crashed.rs (/tmp/t/debug/deps/crashed-00ff)
   Doc-tests memif_proto
test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.2s
";

    fn suite(test: &'static str) -> Suite {
        Suite { name: test, package: "memif-apps", test, needs: &[] }
    }

    #[test]
    fn reads_every_binary_and_its_result() {
        let results = parse_cargo_test_output(&lines(OUTPUT));
        let targets: Vec<&str> = results.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(
            targets,
            ["memif_proto", "testpmd_harness", "other", "crashed", "memif_proto (doc tests)"]
        );
        assert_eq!((results[1].ok, results[1].passed, results[1].ignored), (Some(true), 6, 0));
        assert_eq!((results[2].ok, results[2].passed, results[2].ignored), (Some(false), 1, 2));
        // A binary that crashed prints no result line; the doc tests' line is theirs.
        assert_eq!(results[3].ok, None);
        assert_eq!((results[4].ok, results[4].passed), (Some(true), 1));
    }

    #[test]
    fn judges_suites_strictly() {
        let results = parse_cargo_test_output(&lines(OUTPUT));
        assert!(judge(&suite("testpmd_harness"), &results).unwrap().starts_with("6 passed"));
        assert!(judge(&suite("other"), &results).unwrap_err().starts_with("FAILED"));
        assert!(judge(&suite("missing"), &results).unwrap_err().contains("did not run"));
        let ignored = parse_cargo_test_output(&lines(
            "Running tests/x.rs (/t/x-1)\ntest result: ok. 1 passed; 0 failed; 1 ignored; 0 measured",
        ));
        assert!(judge(&suite("x"), &ignored).unwrap_err().contains("silent"));
        let none = parse_cargo_test_output(&lines(
            "Running tests/x.rs (/t/x-1)\ntest result: ok. 0 passed; 0 failed",
        ));
        assert!(judge(&suite("x"), &none).unwrap_err().contains("no test"));
        let unfinished = parse_cargo_test_output(&lines("Running tests/x.rs (/t/x-1)\nthread panicked"));
        assert!(judge(&suite("x"), &unfinished).unwrap_err().contains("did not finish"));
    }
}
