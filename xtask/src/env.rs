//! Step 1 of the test command: the tools the suites need, checked and, as root on
//! Debian, installed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A program the test suites run, and where it comes from.
pub struct Requirement {
    /// Looked up in PATH, /usr/sbin and /sbin.
    pub program: &'static str,
    /// The Debian package that provides it.
    pub apt: &'static str,
    /// Who needs it.
    pub why: &'static str,
}

/// Every program any suite or step needs. Add a line here when a suite needs a new
/// tool; name the program in the suite's `needs` in `suites.rs`.
pub const REQUIREMENTS: &[Requirement] = &[
    Requirement {
        program: "dpdk-testpmd",
        apt: "dpdk-dev",
        why: "DPDK net_memif as a memif peer (testpmd harness, DPDK interop suites)",
    },
    Requirement {
        program: "setpriv",
        apt: "util-linux",
        why: "testpmd harness: testpmd dies with the test that started it",
    },
    Requirement {
        program: "ping",
        apt: "iputils-ping",
        why: "end-to-end tests: the kernel's ping through a TAP bridge",
    },
    Requirement {
        program: "ip",
        apt: "iproute2",
        why: "end-to-end tests: network namespaces and TAP devices",
    },
    Requirement { program: "tshark", apt: "tshark", why: "tests that decode captured frames" },
    Requirement { program: "tcpdump", apt: "tcpdump", why: "tests that capture on TAP devices" },
    Requirement { program: "valgrind", apt: "valgrind", why: "memory checking of the test suite" },
    Requirement { program: "podman", apt: "podman", why: "container image build and smoke test" },
];

/// A cargo subcommand the steps run, and the rustup component that provides it.
pub struct Component {
    /// `cargo <subcommand> --version` must succeed.
    pub subcommand: &'static str,
    /// `rustup component add <component>` installs it.
    pub component: &'static str,
}

/// The cargo subcommands of steps 2 and 3.
pub const COMPONENTS: &[Component] = &[
    Component { subcommand: "fmt", component: "rustfmt" },
    Component { subcommand: "clippy", component: "clippy" },
];

/// Checks every requirement and installs what is missing where it can. Returns a
/// message naming what is still missing on failure.
pub fn prepare() -> Result<String, String> {
    let mut report = Vec::new();
    let mut problems = Vec::new();

    // Cargo components: rustup installs them for the user; no root needed.
    let missing_components: Vec<&Component> =
        COMPONENTS.iter().filter(|c| !has_cargo_subcommand(c)).collect();
    if !missing_components.is_empty() {
        let names: Vec<&str> = missing_components.iter().map(|c| c.component).collect();
        if find_program("rustup").is_some() {
            println!(
                "xtask: installing the rust components {}: rustup component add {}",
                names.join(", "),
                names.join(" ")
            );
            let ok = Command::new("rustup")
                .args(["component", "add"])
                .args(&names)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                problems.push(format!("`rustup component add {}` failed", names.join(" ")));
            }
        }
        for c in missing_components.iter().filter(|c| !has_cargo_subcommand(c)) {
            problems.push(format!(
                "cargo {} is missing: install the rust component {} (`rustup component add {}`)",
                c.subcommand, c.component, c.component
            ));
        }
        if problems.is_empty() {
            report.push(format!("installed rust components {}", names.join(", ")));
        }
    }

    let missing: Vec<&Requirement> =
        REQUIREMENTS.iter().filter(|r| find_program(r.program).is_none()).collect();
    if !missing.is_empty() {
        let packages = unique_packages(&missing);
        if is_debian() && is_root() {
            for r in &missing {
                println!(
                    "xtask: {} is missing (needed for: {}); installing the Debian package {}",
                    r.program, r.why, r.apt
                );
            }
            apt_install(&packages)?;
            report.push(format!("installed {}", packages.join(", ")));
        }
        let still: Vec<&Requirement> =
            missing.into_iter().filter(|r| find_program(r.program).is_none()).collect();
        if !still.is_empty() {
            let lines: Vec<String> = still
                .iter()
                .map(|r| {
                    format!("  {:<14} from the Debian package {:<14} needed for: {}", r.program, r.apt, r.why)
                })
                .collect();
            let how = if is_debian() && is_root() {
                "apt-get install ran but did not provide them".to_owned()
            } else if is_debian() {
                format!("install them as root: apt-get install -y {}", unique_packages(&still).join(" "))
            } else {
                "install the packages that provide them on this system (Debian package names given)"
                    .to_owned()
            };
            problems.push(format!("missing programs:\n{}\n{how}", lines.join("\n")));
        }
    }

    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    let found: Vec<String> = REQUIREMENTS
        .iter()
        .map(|r| format!("  {:<14} {}", r.program, find_program(r.program).expect("checked").display()))
        .collect();
    println!("xtask: every required program is present:\n{}", found.join("\n"));
    Ok(if report.is_empty() { "all present".to_owned() } else { report.join("; ") })
}

/// For the other commands (bench): installs those of `reqs` that are missing, as root
/// on Debian (one `apt-get update`, then `apt-get install`); elsewhere only says what
/// is missing. Returns the programs still missing, each with its package.
pub fn install_missing(reqs: &[Requirement]) -> Vec<String> {
    let missing: Vec<&Requirement> = reqs.iter().filter(|r| find_program(r.program).is_none()).collect();
    if missing.is_empty() {
        return Vec::new();
    }
    if is_debian() && is_root() {
        for r in &missing {
            println!("xtask: {} is missing (needed for: {}); installing {}", r.program, r.why, r.apt);
        }
        if let Err(e) = apt_install(&unique_packages(&missing)) {
            println!("xtask: {e}");
        }
    }
    missing
        .into_iter()
        .filter(|r| find_program(r.program).is_none())
        .map(|r| format!("{} (Debian package {}, needed for: {})", r.program, r.apt, r.why))
        .collect()
}

fn unique_packages(reqs: &[&Requirement]) -> Vec<&'static str> {
    let mut packages: Vec<&'static str> = reqs.iter().map(|r| r.apt).collect();
    packages.sort_unstable();
    packages.dedup();
    packages
}

/// `apt-get update` once, then `apt-get install -y` of `packages`, with no question
/// asked (tshark's debconf question about capturing as non-root is answered "no").
fn apt_install(packages: &[&str]) -> Result<(), String> {
    if packages.contains(&"tshark") {
        preseed("wireshark-common wireshark-common/install-setuid boolean false\n")?;
    }
    let apt = |args: &[&str]| -> Result<(), String> {
        println!("xtask: $ apt-get {}", args.join(" "));
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run apt-get: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`apt-get {}` failed ({status})", args.join(" ")))
        }
    };
    apt(&["update"])?;
    let mut install = vec![
        "install",
        "-y",
        "-o",
        "Dpkg::Options::=--force-confdef",
        "-o",
        "Dpkg::Options::=--force-confold",
    ];
    install.extend_from_slice(packages);
    apt(&install)
}

fn preseed(selection: &str) -> Result<(), String> {
    println!("xtask: $ debconf-set-selections <<< {:?}", selection.trim());
    let mut child = Command::new("debconf-set-selections")
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run debconf-set-selections: {e}"))?;
    let written = child.stdin.take().expect("piped").write_all(selection.as_bytes());
    let status = child.wait().map_err(|e| e.to_string())?;
    match (written, status.success()) {
        (Ok(()), true) => Ok(()),
        (w, _) => Err(format!("debconf-set-selections failed ({status}, write: {w:?})")),
    }
}

fn has_cargo_subcommand(c: &Component) -> bool {
    Command::new(crate::cargo())
        .args([c.subcommand, "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The program's path, searched in PATH and then in /usr/sbin and /sbin (where ip
/// and tcpdump live, which a non-root PATH may leave out).
pub fn find_program(program: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    dirs.extend([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")]);
    dirs.into_iter().map(|d| d.join(program)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn is_debian() -> bool {
    Path::new("/etc/debian_version").exists()
}

/// Effective uid 0, read from /proc/self/status (`Uid: real effective saved fs`).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}
