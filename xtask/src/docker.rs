//! `cargo xtask docker [--smoke]`: the `memif` container image.
//!
//! Builds a statically linked `memif` (glibc static-pie:
//! `RUSTFLAGS='-C target-feature=+crt-static'`, target x86_64-unknown-linux-gnu, in
//! `<target>/static` so the normal build keeps its cache), checks that it has no ELF
//! interpreter, and builds docker/Dockerfile (`FROM scratch`, the binary and an empty
//! /run/vpp) into the image `memif`, whose entrypoint is the ICMP responder connecting
//! as slave to /run/vpp/master.sock. The engine is docker when `docker info` answers,
//! else podman; with neither, it stops and says what to install. hadolint, where
//! installed, lints the Dockerfile first (`--failure-threshold error`).
//!
//! `--smoke` proves the image works: our own `memif ping --role master` listens on
//! master.sock in a temporary folder, the image's entrypoint runs with that folder as
//! its /run/vpp, and the ping must be answered. With docker that is a real container
//! (`docker run --network=none -v <folder>:/run/vpp/ memif`, the README's quickstart
//! without `--privileged`, which the responder does not need); with podman it needs no container runtime: the image's root
//! filesystem is mounted (`podman image mount`), the folder is bind-mounted onto its
//! /run/vpp inside a private mount namespace (`unshare -m`), and the entrypoint read
//! from the image runs under `chroot`. Every mount is gone afterwards: the bind mount
//! dies with its namespace, the image is unmounted.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// The image's name, as the README's quickstart runs it.
pub const IMAGE: &str = "memif";

fn ok(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn output(cmd: &mut Command) -> Option<String> {
    let o = cmd.stderr(Stdio::null()).output().ok()?;
    o.status.success().then(|| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// docker when an engine answers `docker info`, else podman, else what to install.
fn engine() -> Result<&'static str, String> {
    if ok(Command::new("docker").arg("info")) {
        return Ok("docker");
    }
    if ok(Command::new("podman").arg("--version")) {
        return Ok("podman");
    }
    let docker_note = if ok(Command::new("docker").arg("--version")) {
        " docker is installed, but `docker info` got no answer: no engine is running (start dockerd), \
         or DOCKER_HOST does not point at it."
    } else {
        ""
    };
    Err(format!(
        "no container engine.{docker_note} Install podman (Debian: `apt-get install -y podman`; it needs \
         no daemon), or install Docker (Debian: `apt-get install -y docker.io`) and start its engine, \
         then run `cargo xtask docker` again."
    ))
}

/// Where cargo puts its output: CARGO_TARGET_DIR, else target/.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |t| root.join(t))
}

/// Whether an ELF file has no program interpreter (PT_INTERP): static or static-pie.
fn is_static(bin: &Path) -> Result<bool, String> {
    let b = std::fs::read(bin).map_err(|e| format!("{}: {e}", bin.display()))?;
    let u16_at = |o: usize| b.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]]) as usize);
    let u32_at = |o: usize| b.get(o..o + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
    let u64_at = |o: usize| b.get(o..o + 8).and_then(|s| s.try_into().ok()).map(u64::from_le_bytes);
    if b.get(..5) != Some(b"\x7fELF\x02") {
        return Err(format!("{} is not a 64-bit ELF file", bin.display()));
    }
    let bad = || format!("{}: truncated ELF header", bin.display());
    let phoff = u64_at(0x20).ok_or_else(bad)? as usize;
    let (phentsize, phnum) = (u16_at(0x36).ok_or_else(bad)?, u16_at(0x38).ok_or_else(bad)?);
    for i in 0..phnum {
        if u32_at(phoff + i * phentsize).ok_or_else(bad)? == 3 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Builds the static binary and the image; returns the engine used and the binary.
pub fn build() -> Result<(&'static str, PathBuf), String> {
    let root = crate::workspace_root();
    let engine = engine()?;
    let dockerfile = root.join("docker/Dockerfile");
    if crate::env::find_program("hadolint").is_some() {
        println!("$ hadolint --failure-threshold error docker/Dockerfile");
        let linted =
            Command::new("hadolint").args(["--failure-threshold", "error"]).arg(&dockerfile).status();
        if !linted.is_ok_and(|s| s.success()) {
            return Err("hadolint found errors in docker/Dockerfile".into());
        }
    }
    println!("xtask docker: building a statically linked memif (glibc static-pie)");
    let static_dir = target_dir(&root).join("static");
    let st = Command::new(crate::cargo())
        .args([
            "build",
            "--release",
            "-p",
            "memif-apps",
            "--bin",
            "memif",
            "--target",
            "x86_64-unknown-linux-gnu",
        ])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", &static_dir)
        .current_dir(&root)
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    if !st.success() {
        return Err("the static build failed".into());
    }
    let bin = static_dir.join("x86_64-unknown-linux-gnu/release/memif");
    if !is_static(&bin)? {
        return Err(format!("{} has an ELF interpreter: it would not start FROM scratch", bin.display()));
    }
    let ctx = target_dir(&root).join("docker-context");
    let _ = std::fs::remove_dir_all(&ctx);
    std::fs::create_dir_all(ctx.join("run/vpp")).map_err(|e| format!("{}: {e}", ctx.display()))?;
    std::fs::copy(&bin, ctx.join("memif")).map_err(|e| format!("copy the binary: {e}"))?;
    // a smaller image; the debug info stays in target/
    let _ = ok(Command::new("strip").arg(ctx.join("memif")));
    std::fs::copy(&dockerfile, ctx.join("Dockerfile")).map_err(|e| format!("Dockerfile: {e}"))?;
    let id =
        |engine: &str| output(Command::new(engine).args(["image", "inspect", "--format", "{{.Id}}", IMAGE]));
    let old = id(engine);
    println!("xtask docker: building the image `{IMAGE}` with {engine}");
    let st = Command::new(engine)
        .args(["build", "-t", IMAGE, "-f"])
        .arg(ctx.join("Dockerfile"))
        .arg(&ctx)
        .env("DOCKER_BUILDKIT", "0")
        .status()
        .map_err(|e| format!("{engine}: {e}"))?;
    if !st.success() {
        return Err(format!("{engine} build failed"));
    }
    // the image this build replaced, now untagged: removed unless something uses it
    if let (Some(old), Some(new)) = (old, id(engine)) {
        if old != new {
            let _ = ok(Command::new(engine).args(["image", "rm", &old]));
        }
    }
    let size = output(Command::new(engine).args(["image", "inspect", "--format", "{{.Size}}", IMAGE]))
        .and_then(|s| s.parse::<f64>().ok())
        .map_or_else(String::new, |b| format!(", {:.1} MB", b / 1e6));
    println!("xtask docker: image `{IMAGE}` built with {engine}{size}");
    Ok((engine, bin))
}

/// A folder removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The image's root filesystem, mounted by podman; unmounted on drop.
struct ImageMount(String);

impl ImageMount {
    fn new() -> Result<ImageMount, String> {
        let out = Command::new("podman")
            .args(["image", "mount", IMAGE])
            .output()
            .map_err(|e| format!("podman: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "podman image mount {IMAGE}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(ImageMount(String::from_utf8_lossy(&out.stdout).trim().to_owned()))
    }
}

impl Drop for ImageMount {
    fn drop(&mut self) {
        let _ = ok(Command::new("podman").args(["image", "umount", IMAGE]));
    }
}

/// The image's entrypoint, from its configuration (a JSON list of strings).
fn entrypoint() -> Result<Vec<String>, String> {
    let json = output(Command::new("podman").args([
        "image",
        "inspect",
        "--format",
        "{{json .Config.Entrypoint}}",
        IMAGE,
    ]))
    .ok_or("podman image inspect failed")?;
    let inner = json.trim().strip_prefix('[').and_then(|s| s.strip_suffix(']')).ok_or("no entrypoint")?;
    let args: Vec<String> =
        inner.split(',').map(|a| a.trim().trim_matches('"').to_owned()).filter(|a| !a.is_empty()).collect();
    if args.is_empty() || args.iter().any(|a| a.contains(['\\', '"', '\''])) {
        return Err(format!("unexpected entrypoint {json}"));
    }
    Ok(args)
}

/// Runs the image's responder against our own ping; Ok(what the ping and the responder
/// reported).
pub fn smoke(engine: &str, bin: &Path) -> Result<String, String> {
    let dir = TempDir(std::env::temp_dir().join(format!("memif-smoke-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0).map_err(|e| format!("{}: {e}", dir.0.display()))?;
    let name = format!("memif-smoke-{}", std::process::id());
    let mut mount = None;
    let mut responder = if engine == "docker" {
        // no --privileged: the responder needs no privilege (a UNIX socket and memfd
        // regions), and a sandboxed engine may refuse it ("unable to apply caps")
        let mut c = Command::new("docker");
        c.args(["run", "--rm", "--name", &name, "--hostname", "icmp-responder", "--network=none"])
            .arg("-v")
            .arg(format!("{}:/run/vpp/", dir.0.display()))
            .arg(IMAGE);
        println!("$ {c:?}");
        c
    } else {
        let m = ImageMount::new()?;
        let entry = entrypoint()?;
        let script = format!(
            "mount --bind '{}' '{mnt}/run/vpp' && exec chroot '{mnt}' {}",
            dir.0.display(),
            entry.join(" "),
            mnt = m.0
        );
        println!("$ unshare -m --propagation private sh -c {script:?}");
        let mut c = Command::new("unshare");
        c.args(["-m", "--propagation", "private", "sh", "-c", &script]);
        mount = Some(m);
        c
    }
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .map_err(|e| format!("cannot start the responder: {e}"))?;

    println!(
        "$ memif ping 192.168.1.1 -c 3 -i 0.2 -W 10 --role master --socket {}/master.sock",
        dir.0.display()
    );
    let ping = Command::new(bin)
        .args(["ping", "192.168.1.1", "-c", "3", "-i", "0.2", "-W", "10", "--role", "master", "--socket"])
        .arg(dir.0.join("master.sock"))
        .output();

    // SIGINT: the responder prints its counters and leaves (docker run passes it on)
    let _ = Command::new("kill").args(["-INT", &responder.id().to_string()]).status();
    let end = Instant::now() + Duration::from_secs(10);
    while responder.try_wait().ok().flatten().is_none() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    if responder.try_wait().ok().flatten().is_none() {
        let _ = responder.kill();
        if engine == "docker" {
            let _ = ok(Command::new("docker").args(["rm", "-f", &name]));
        }
    }
    let responded = responder.wait_with_output().map_err(|e| format!("responder: {e}"))?;
    drop(mount);
    let said = |b: &[u8]| String::from_utf8_lossy(b).trim().to_owned();
    let (r_out, r_err) = (said(&responded.stdout), said(&responded.stderr));
    if !r_err.is_empty() {
        println!("responder (stderr): {r_err}");
    }
    if !r_out.is_empty() {
        println!("responder: {r_out}");
    }
    let ping = ping.map_err(|e| format!("ping: {e}"))?;
    let text = said(&ping.stdout);
    println!("{text}");
    let summary =
        text.lines().find(|l| l.contains("packets transmitted")).unwrap_or("no ping summary").to_owned();
    let counters = r_out.lines().last().unwrap_or("").trim().to_owned();
    if ping.status.success() {
        Ok(format!("{summary}; responder in the image: {counters}"))
    } else {
        Err(format!("the responder in the image did not answer: {summary}; {}", said(&ping.stderr)))
    }
}

/// `cargo xtask docker [--smoke]`.
pub fn run(smoke_too: bool) -> ExitCode {
    let (engine, bin) = match build() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("xtask docker: {e}");
            return ExitCode::FAILURE;
        }
    };
    if engine == "docker" {
        println!(
            "xtask docker: run it with\n  docker run -it --rm --name icmp-responder --hostname icmp-responder \
             --privileged -v \"/run/vpp/:/run/vpp/\" {IMAGE}"
        );
    }
    if smoke_too {
        match smoke(engine, &bin) {
            Ok(s) => println!("xtask docker --smoke: the image answers: {s}"),
            Err(e) => {
                eprintln!("xtask docker --smoke: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// Whether the smoke test can run here: a docker engine answers, or podman (for
/// `image mount`) and unshare are installed.
pub fn available() -> bool {
    ok(Command::new("docker").arg("info"))
        || ok(Command::new("podman").arg("--version")) && ok(Command::new("unshare").arg("--version"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_xtask_is_an_elf_file() {
        // the test binary is dynamically linked (it has an interpreter)
        let me = std::env::current_exe().unwrap();
        assert_eq!(is_static(&me), Ok(false));
        assert!(is_static(Path::new("Cargo.toml")).is_err());
    }
}
