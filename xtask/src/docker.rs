//! `cargo xtask docker [--smoke]`: the `memif` image.
//!
//! Builds a statically linked `memif` (glibc static-pie) and, from docker/Dockerfile, a
//! `FROM scratch` image named `memif` whose entrypoint is the ICMP responder connecting
//! as slave to /run/vpp/master.sock. Uses docker when an engine answers, else podman.
//!
//! `--smoke` proves the image works without a container runtime: the image's root
//! filesystem is mounted (`podman image mount`), the test's temporary folder is
//! bind-mounted onto its /run/vpp in a private mount namespace, the responder runs from
//! it under chroot, and our own `memif ping --role master` pings it through a socket in
//! that folder.

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

fn ok(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn engine() -> Option<&'static str> {
    if ok(Command::new("docker").arg("info")) {
        Some("docker")
    } else if ok(Command::new("podman").arg("--version")) {
        Some("podman")
    } else {
        None
    }
}

/// Builds the static binary and the image; returns the engine used and the binary.
pub fn build() -> Result<(&'static str, PathBuf), String> {
    let root = crate::workspace_root();
    let engine = engine().ok_or(
        "no container engine: start a Docker engine (see ../shared/peers.md for the safe flags) \
         or install podman (apt-get install podman)",
    )?;
    println!("xtask docker: building a statically linked memif");
    let target_dir = root.join("target/static");
    let st = Command::new(crate::cargo())
        .args(["build", "--release", "-p", "memif-apps", "--target", "x86_64-unknown-linux-gnu"])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(&root)
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    if !st.success() {
        return Err("the static build failed".into());
    }
    let bin = target_dir.join("x86_64-unknown-linux-gnu/release/memif");
    let ctx = root.join("target/docker-context");
    let _ = std::fs::remove_dir_all(&ctx);
    std::fs::create_dir_all(ctx.join("run/vpp")).map_err(|e| format!("{}: {e}", ctx.display()))?;
    std::fs::copy(&bin, ctx.join("memif")).map_err(|e| format!("copy the binary: {e}"))?;
    // smaller image; the debug info stays in target/
    let _ = ok(Command::new("strip").arg(ctx.join("memif")));
    std::fs::copy(root.join("docker/Dockerfile"), ctx.join("Dockerfile"))
        .map_err(|e| format!("Dockerfile: {e}"))?;
    println!("xtask docker: building the image `memif` with {engine}");
    let st = Command::new(engine)
        .args(["build", "-t", "memif", "-f"])
        .arg(ctx.join("Dockerfile"))
        .arg(&ctx)
        .env("DOCKER_BUILDKIT", "0")
        .status()
        .map_err(|e| format!("{engine}: {e}"))?;
    if !st.success() {
        return Err(format!("{engine} build failed"));
    }
    Ok((engine, bin))
}

/// Runs the responder from the image's root filesystem and pings it; Ok(replies line).
pub fn smoke(bin: &PathBuf) -> Result<String, String> {
    let out = Command::new("podman")
        .args(["image", "mount", "memif"])
        .output()
        .map_err(|e| format!("podman: {e}"))?;
    if !out.status.success() {
        return Err(format!("podman image mount: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let mnt = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let dir = std::env::temp_dir().join(format!("memif-smoke-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let script = format!(
        "mount --bind {} {mnt}/run/vpp && exec chroot {mnt} /memif icmp-responder --role slave --socket /run/vpp/master.sock",
        dir.display()
    );
    let mut responder = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("unshare: {e}"))?;
    let sock = dir.join("master.sock");
    let ping = Command::new(bin)
        .args([
            "ping",
            "192.168.1.1",
            "-c",
            "3",
            "--interval",
            "0.2",
            "-W",
            "10",
            "--role",
            "master",
            "--socket",
        ])
        .arg(&sock)
        .output();
    let _ = responder.kill();
    let end = Instant::now() + Duration::from_secs(5);
    while responder.try_wait().ok().flatten().is_none() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = ok(Command::new("podman").args(["image", "umount", "memif"]));
    let _ = std::fs::remove_dir_all(&dir);
    let ping = ping.map_err(|e| format!("ping: {e}"))?;
    let text = String::from_utf8_lossy(&ping.stdout).into_owned();
    print!("{text}");
    let summary = text.lines().find(|l| l.contains("packets transmitted")).unwrap_or("no summary").to_owned();
    if ping.status.success() {
        Ok(summary)
    } else {
        Err(format!("the responder in the image did not answer: {summary}"))
    }
}

/// `cargo xtask docker [--smoke]`.
pub fn run(smoke_too: bool) -> ExitCode {
    let (_, bin) = match build() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("xtask docker: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("xtask docker: image `memif` built");
    if smoke_too {
        match smoke(&bin) {
            Ok(s) => println!("xtask docker --smoke: the image answers: {s}"),
            Err(e) => {
                eprintln!("xtask docker --smoke: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// Whether the smoke test can run here (podman is needed for `image mount`).
pub fn available() -> bool {
    ok(Command::new("podman").arg("--version")) && ok(Command::new("unshare").arg("--version"))
}
