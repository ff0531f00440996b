//! `cargo xtask bench [--quick]`: throughput and latency of memif-rs, measured beside
//! DPDK 22.11's testpmd (net_memif) in the same run, alternating, so every line carries
//! the ratio ours / DPDK. Figures are medians of several runs with min and max. The
//! report is printed and written to target/bench/ as JSON, Markdown and an SVG chart.
//!
//! Scenarios (one core each side, `taskset`):
//! - ours: `memif gen` into `memif sink`, slave to master (s2m) and master to slave
//!   (m2s), polling, per frame size and burst; the rate is gen's, over its run;
//! - dpdk: a testpmd client in txonly into a testpmd server in rxonly (s2m), and a
//!   server in txonly into a client in rxonly (m2s); the rate is the receiver's Rx-pps
//!   from its periodic statistics after warm-up (testpmd caps frames at 1518 bytes);
//! - mixed: our gen into testpmd rxonly, and testpmd txonly into our sink;
//! - latency: `memif ping` against `memif icmp-responder`, polling and interrupt, and
//!   our ping against testpmd icmpecho (average round trip of each run);
//! - the criterion benches of memif-ring and memif-conn (short in --quick).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Cfg {
    runs: usize,
    secs: f64,
    sizes: Vec<u32>,
    bursts: Vec<u32>,
}

/// One measured line: name, unit, our values, DPDK's values (if any).
struct Line {
    name: String,
    unit: &'static str,
    ours: Vec<f64>,
    dpdk: Vec<f64>,
    lower_is_better: bool,
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    Some(if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 })
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.0.id().to_string()]).status();
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn memif_bin() -> PathBuf {
    crate::workspace_root().join("target/release/memif")
}

fn tmpdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("memif-bench-{}-{}", std::process::id(), crate_unique()));
    let _ = std::fs::create_dir_all(&d);
    d
}

fn crate_unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn json_num(out: &str, key: &str) -> Option<f64> {
    let line = out.lines().rev().find(|l| l.starts_with('{'))?;
    let k = format!("\"{key}\":");
    let i = line.find(&k)? + k.len();
    line[i..].split([',', '}']).next()?.parse().ok()
}

fn wait_file(p: &Path) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while !p.exists() {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

fn spawn_memif(cpu: usize, args: &[&str]) -> Child {
    Command::new("taskset")
        .arg("-c")
        .arg(cpu.to_string())
        .arg(memif_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("taskset/memif")
}

fn output(mut c: Child) -> String {
    let mut s = String::new();
    if let Some(mut o) = c.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut o, &mut s);
    }
    let _ = c.wait();
    s
}

/// Our gen into our sink; returns gen's Mpps.
fn ours(dir: &str, size: u32, burst: u32, secs: f64) -> Option<f64> {
    let d = tmpdir();
    let sock = d.join("b.sock");
    let sock_s = sock.to_string_lossy().into_owned();
    let (gen_role, sink_role) = if dir == "s2m" { ("slave", "master") } else { ("master", "slave") };
    let sink_args = ["--json", "sink", "--role", sink_role, "--rx-mode", "polling", "--socket", &sock_s];
    let secs_s = format!("{secs}");
    let (size_s, burst_s) = (size.to_string(), burst.to_string());
    let gen_args = [
        "--json",
        "gen",
        "--role",
        gen_role,
        "--socket",
        &sock_s,
        "--duration",
        &secs_s,
        "--size",
        &size_s,
        "--burst",
        &burst_s,
        "--rx-mode",
        "polling",
    ];
    // the master starts first; gen runs for its duration, then the sink is stopped
    let (gen, sink) = if sink_role == "master" {
        let sink = Kill(spawn_memif(0, &sink_args));
        wait_file(&sock);
        (spawn_memif(1, &gen_args), sink)
    } else {
        let gen = spawn_memif(1, &gen_args);
        wait_file(&sock);
        (gen, Kill(spawn_memif(0, &sink_args)))
    };
    let out = output(gen);
    drop(sink);
    let r = json_num(&out, "mpps");
    let _ = std::fs::remove_dir_all(d);
    r
}

fn testpmd(cpu: usize, prefix: &str, role: &str, sock: &str, mode: &str, size: u32, burst: u32) -> Child {
    let devargs = format!("net_memif0,role={role},socket={sock},socket-abstract=no");
    Command::new("setpriv")
        .args(["--pdeathsig", "KILL", "dpdk-testpmd", "--lcores"])
        .arg(format!("0@{cpu},1@{cpu}"))
        .args(["--no-huge", "-m", "512", "--no-pci", "--file-prefix", prefix, "--vdev", &devargs, "--"])
        .args(["--auto-start", "--stats-period=1", "--total-num-mbufs=16384"])
        .arg(format!("--forward-mode={mode}"))
        .arg(format!("--txpkts={size}"))
        .arg(format!("--burst={}", burst.min(512)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dpdk-testpmd")
}

/// Reads a testpmd's stdout for `secs` after `warm` seconds of warm-up and returns the
/// median of its non-zero `Rx-pps` lines in Mpps.
fn rx_pps(child: &mut Child, warm: f64, secs: f64) -> Option<f64> {
    use std::io::BufRead;
    let out = child.stdout.take()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send((Instant::now(), l)).is_err() {
                return;
            }
        }
    });
    let mut first = None;
    let mut vals = Vec::new();
    let deadline = Instant::now() + Duration::from_secs_f64(warm + secs + 15.0);
    while let Ok((t, l)) = rx.recv_timeout(Duration::from_millis(200)).or_else(|_| {
        if Instant::now() > deadline {
            Err(())
        } else {
            Ok((Instant::now(), String::new()))
        }
    }) {
        if let Some(v) = l.trim().strip_prefix("Rx-pps:") {
            let pps: f64 = v.split_whitespace().next()?.parse().ok()?;
            if pps > 0.0 {
                let f = *first.get_or_insert(t);
                let age = t.duration_since(f).as_secs_f64();
                if age >= warm {
                    vals.push(pps / 1e6);
                }
                if age >= warm + secs {
                    break;
                }
            }
        }
    }
    median(&vals)
}

/// A testpmd pair (or a mixed pair); returns the receiver's Mpps.
fn dpdk(kind: &str, dir: &str, size: u32, burst: u32, secs: f64) -> Option<f64> {
    if size > 1518 {
        return None;
    }
    let d = tmpdir();
    let sock = d.join("d.sock");
    let sock_s = sock.to_string_lossy().into_owned();
    let p = format!("mb{}x{}", std::process::id(), crate_unique());
    let (size_s, burst_s) = (size.to_string(), burst.to_string());
    let r = match (kind, dir) {
        ("dpdk", _) => {
            let (srv_mode, cli_mode) = if dir == "s2m" { ("rxonly", "txonly") } else { ("txonly", "rxonly") };
            let mut srv = Kill(testpmd(0, &format!("{p}s"), "server", &sock_s, srv_mode, size, burst));
            wait_file(&sock);
            std::thread::sleep(Duration::from_millis(500));
            let mut cli = Kill(testpmd(1, &format!("{p}c"), "client", &sock_s, cli_mode, size, burst));
            if dir == "s2m" {
                rx_pps(&mut srv.0, 1.0, secs)
            } else {
                rx_pps(&mut cli.0, 1.0, secs)
            }
        }
        // our gen (slave) into testpmd's server in rxonly
        ("mixed", "s2m") => {
            let mut srv = Kill(testpmd(0, &format!("{p}s"), "server", &sock_s, "rxonly", size, burst));
            wait_file(&sock);
            std::thread::sleep(Duration::from_millis(500));
            let secs_s = format!("{}", secs + 3.0);
            let _gen = Kill(spawn_memif(
                1,
                &["gen", "--socket", &sock_s, "--duration", &secs_s, "--size", &size_s, "--burst", &burst_s],
            ));
            rx_pps(&mut srv.0, 1.0, secs)
        }
        // testpmd's client in txonly into our sink (master)
        _ => {
            let sink = Kill(spawn_memif(
                0,
                &["--json", "sink", "--role", "master", "--rx-mode", "polling", "--socket", &sock_s],
            ));
            wait_file(&sock);
            let mut cli = Kill(testpmd(1, &format!("{p}c"), "client", &sock_s, "txonly", size, burst));
            // our sink counts everything; use testpmd's Tx-pps as the rate both saw
            let r = tx_pps_then(&mut cli.0, secs);
            drop(cli);
            drop(sink);
            r
        }
    };
    let _ = std::fs::remove_dir_all(d);
    r
}

fn tx_pps_then(child: &mut Child, secs: f64) -> Option<f64> {
    use std::io::BufRead;
    let out = child.stdout.take()?;
    let start = Instant::now();
    let mut vals = Vec::new();
    for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
        if let Some(v) = l.trim().strip_prefix("Tx-pps:") {
            let pps: f64 = v.split_whitespace().next().and_then(|x| x.parse().ok()).unwrap_or(0.0);
            if pps > 0.0 && start.elapsed().as_secs_f64() > 2.0 {
                vals.push(pps / 1e6);
            }
        }
        if start.elapsed().as_secs_f64() > secs + 3.0 {
            break;
        }
    }
    median(&vals)
}

/// Average round trip in microseconds of a ping run against a responder.
fn latency(peer: &str, mode: &str) -> Option<f64> {
    let d = tmpdir();
    let sock = d.join("p.sock");
    let sock_s = sock.to_string_lossy().into_owned();
    let _peer = if peer == "ours" {
        Kill(spawn_memif(0, &["icmp-responder", "--role", "master", "--rx-mode", mode, "--socket", &sock_s]))
    } else {
        let p = format!("ml{}x{}", std::process::id(), crate_unique());
        Kill(testpmd(0, &p, "server", &sock_s, "icmpecho", 64, 32))
    };
    wait_file(&sock);
    std::thread::sleep(Duration::from_millis(if peer == "ours" { 100 } else { 1500 }));
    let ping = spawn_memif(
        1,
        &[
            "--json",
            "ping",
            "192.168.1.1",
            "-c",
            "200",
            "--interval",
            "0.005",
            "-W",
            "5",
            "--rx-mode",
            mode,
            "--socket",
            &sock_s,
        ],
    );
    let out = output(ping);
    let _ = std::fs::remove_dir_all(d);
    let i = out.find("\"avg\":")? + 6;
    out[i..].split([',', '}']).next()?.parse::<f64>().ok().map(|ms| ms * 1000.0)
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs the bench; `quick` for a first look in under two minutes.
pub fn run(quick: bool) -> std::process::ExitCode {
    let cfg = if quick {
        Cfg { runs: 2, secs: 1.5, sizes: vec![64], bursts: vec![256] }
    } else {
        Cfg { runs: 5, secs: 3.0, sizes: vec![64, 1500, 9000], bursts: vec![32, 256] }
    };
    let started = Instant::now();
    println!("xtask bench: building the release binary");
    let st = Command::new(crate::cargo())
        .args(["build", "--release", "-p", "memif-apps"])
        .current_dir(crate::workspace_root())
        .status();
    if !st.is_ok_and(|s| s.success()) {
        eprintln!("xtask bench: cargo build --release failed");
        return std::process::ExitCode::FAILURE;
    }
    if let Err(e) = crate::env::prepare() {
        eprintln!("xtask bench: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let dpdk_ok = have("dpdk-testpmd") && have("setpriv");
    if !dpdk_ok {
        println!("xtask bench: dpdk-testpmd not found: DPDK columns stay empty");
    }
    let mut lines: Vec<Line> = Vec::new();
    for &size in &cfg.sizes {
        for &burst in &cfg.bursts {
            for dir in ["s2m", "m2s"] {
                let what = if dir == "s2m" { "slave gen -> master sink" } else { "master gen -> slave sink" };
                let mut l = Line {
                    name: format!("{size} B, burst {burst}, {what}"),
                    unit: "Mpps",
                    ours: vec![],
                    dpdk: vec![],
                    lower_is_better: false,
                };
                let mut mixed = Line {
                    name: format!(
                        "{size} B, burst {burst}, {}",
                        if dir == "s2m" { "our gen -> testpmd rxonly" } else { "testpmd txonly -> our sink" }
                    ),
                    unit: "Mpps",
                    ours: vec![],
                    dpdk: vec![],
                    lower_is_better: false,
                };
                for run in 0..cfg.runs {
                    print!("  {} run {}/{} ...", l.name, run + 1, cfg.runs);
                    // alternate which goes first
                    let order: [&str; 3] =
                        if run % 2 == 0 { ["ours", "dpdk", "mixed"] } else { ["dpdk", "mixed", "ours"] };
                    for k in order {
                        match k {
                            "ours" => l.ours.extend(ours(dir, size, burst, cfg.secs)),
                            "dpdk" if dpdk_ok => l.dpdk.extend(dpdk("dpdk", dir, size, burst, cfg.secs)),
                            "mixed" if dpdk_ok && size <= 1518 => {
                                mixed.ours.extend(dpdk("mixed", dir, size, burst, cfg.secs));
                            }
                            _ => {}
                        }
                    }
                    println!(" ours {:?} dpdk {:?}", l.ours.last(), l.dpdk.last());
                }
                if !mixed.ours.is_empty() {
                    mixed.dpdk = l.dpdk.clone();
                }
                lines.push(l);
                if !mixed.ours.is_empty() {
                    lines.push(mixed);
                }
            }
        }
    }
    for mode in ["polling", "interrupt"] {
        let mut l = Line {
            name: format!("ping round trip, {mode} (ours vs our ping against testpmd icmpecho)"),
            unit: "us",
            ours: vec![],
            dpdk: vec![],
            lower_is_better: true,
        };
        for _ in 0..cfg.runs {
            l.ours.extend(latency("ours", mode));
            if dpdk_ok && mode == "polling" {
                l.dpdk.extend(latency("dpdk", mode));
            }
        }
        lines.push(l);
    }
    let report = render(&lines, &cfg, quick, started.elapsed());
    println!("\n{report}");
    let out = crate::workspace_root().join("target/bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(out.join("report.md"), &report);
    let _ = std::fs::write(out.join("report.json"), json(&lines));
    let _ = std::fs::write(out.join("mpps.svg"), svg(&lines));
    println!("written: target/bench/report.md, report.json, mpps.svg");

    // the criterion benches
    let crit: &[&str] = if quick { &["--", "--warm-up-time", "0.3", "--measurement-time", "1"] } else { &[] };
    for pkg in ["memif-ring", "memif-conn"] {
        if quick && pkg == "memif-conn" {
            continue; // its 1000-interface bench alone takes minutes
        }
        println!("\n$ cargo bench -p {pkg}");
        let _ = Command::new(crate::cargo())
            .args(["bench", "-p", pkg, "--benches"])
            .args(crit)
            .current_dir(crate::workspace_root())
            .status();
    }
    println!("xtask bench: done in {:.0} s", started.elapsed().as_secs_f64());
    std::process::ExitCode::SUCCESS
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.2}"))
}

fn render(lines: &[Line], cfg: &Cfg, quick: bool, took: Duration) -> String {
    let mut s = String::new();
    let host = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let _ =
        writeln!(s, "# memif-rs bench{}", if quick { " (--quick: 2 runs, 64-byte frames only)" } else { "" });
    let _ = writeln!(
        s,
        "\n{} runs per figure (median, min-max), {} s windows, one core each side; machine: {} ({} CPUs); took {:.0} s. Polling figures need an otherwise idle machine: a third runnable process on a pinned core costs whole time slices.\n",
        cfg.runs,
        cfg.secs,
        host,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        took.as_secs_f64()
    );
    let _ = writeln!(
        s,
        "| scenario | unit | ours (median) | ours min-max | DPDK (median) | DPDK min-max | ours/DPDK | issue 8 target |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for l in lines {
        let (om, dm) = (median(&l.ours), median(&l.dpdk));
        let (olo, ohi) = min_max(&l.ours);
        let (dlo, dhi) = min_max(&l.dpdk);
        let r = match (om, dm) {
            (Some(o), Some(d)) if d > 0.0 => Some(o / d),
            _ => None,
        };
        let ratio = r.map_or("-".into(), |r| format!("{r:.2}"));
        let verdict = match (target(&l.name), r) {
            (Some(t), Some(r)) if (l.lower_is_better && r <= t) || (!l.lower_is_better && r >= t) => {
                format!("{} {t}: met", if l.lower_is_better { "<=" } else { ">=" })
            }
            (Some(t), Some(r)) => format!(
                "{} {t}: missed by {:.2} ({:.0}%)",
                if l.lower_is_better { "<=" } else { ">=" },
                (r - t).abs(),
                (r - t).abs() / t * 100.0
            ),
            (Some(t), None) => format!("{t}: no DPDK figure"),
            _ => "-".into(),
        };
        let orange = if l.ours.is_empty() { "-".into() } else { format!("{olo:.2}-{ohi:.2}") };
        let drange = if l.dpdk.is_empty() { "-".into() } else { format!("{dlo:.2}-{dhi:.2}") };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {orange} | {} | {drange} | {ratio}{} | {verdict} |",
            l.name,
            l.unit,
            fmt(om),
            fmt(dm),
            if l.lower_is_better { " (lower is better)" } else { "" }
        );
    }
    let _ = writeln!(
        s,
        "\nMixed lines: the first column is the pair with one of ours (our gen into testpmd, or testpmd into our sink), measured at testpmd; the DPDK column is the testpmd pair of the same line above. Gbit/s = Mpps x frame bytes x 8 / 1000."
    );
    s
}

/// Issue 8's target ratio (ours / DPDK in the same run) for a line, if it has one:
/// 64-byte frames at least 1.25 either direction, 1500-byte at least 1.0, the polling
/// round trip at most 1.0. Mixed lines and 9000-byte frames (no DPDK peer) have none.
fn target(name: &str) -> Option<f64> {
    if name.starts_with("ping round trip, polling") {
        return Some(1.0);
    }
    if !(name.contains("slave gen -> master sink") || name.contains("master gen -> slave sink")) {
        return None;
    }
    if name.starts_with("64 B") {
        Some(1.25)
    } else if name.starts_with("1500 B") {
        Some(1.0)
    } else {
        None
    }
}

fn json(lines: &[Line]) -> String {
    let arr = |v: &[f64]| format!("[{}]", v.iter().map(|x| format!("{x}")).collect::<Vec<_>>().join(","));
    let items: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{{\"scenario\":{:?},\"unit\":{:?},\"ours\":{},\"dpdk\":{},\"ours_median\":{},\"dpdk_median\":{}}}",
                l.name,
                l.unit,
                arr(&l.ours),
                arr(&l.dpdk),
                median(&l.ours).map_or("null".into(), |x| x.to_string()),
                median(&l.dpdk).map_or("null".into(), |x| x.to_string())
            )
        })
        .collect();
    format!("[{}]\n", items.join(",\n"))
}

/// Bars of median Mpps per scenario line, ours and DPDK side by side.
fn svg(lines: &[Line]) -> String {
    let rows: Vec<&Line> = lines.iter().filter(|l| l.unit == "Mpps").collect();
    let max = rows.iter().flat_map(|l| [median(&l.ours), median(&l.dpdk)]).flatten().fold(1.0f64, f64::max);
    let (w, row_h) = (900.0, 34.0);
    let h = 40.0 + row_h * rows.len() as f64;
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n");
    s += "<text x=\"10\" y=\"18\" font-size=\"14\">Mpps (median): ours (blue) and DPDK testpmd (orange)</text>\n";
    for (i, l) in rows.iter().enumerate() {
        let y = 30.0 + i as f64 * row_h;
        let _ = writeln!(s, "<text x=\"10\" y=\"{}\">{}</text>", y + 14.0, l.name.replace('>', "&gt;"));
        for (k, (v, color)) in
            [(median(&l.ours), "#3b6fd4"), (median(&l.dpdk), "#e08a1e")].into_iter().enumerate()
        {
            if let Some(v) = v {
                let bw = 420.0 * v / max;
                let by = y + 2.0 + k as f64 * 14.0;
                let _ = writeln!(
                    s,
                    "<rect x=\"420\" y=\"{by}\" width=\"{bw:.1}\" height=\"12\" fill=\"{color}\"/>"
                );
                let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{}\">{v:.2}</text>", 424.0 + bw, by + 10.0);
            }
        }
    }
    s += "</svg>\n";
    s
}
