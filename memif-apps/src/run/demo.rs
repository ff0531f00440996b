//! `memif demo`: an ICMP responder and a pinger over a memif socket in a temporary
//! folder, then a one-second throughput run, all in this process. Needs nothing else.

use std::path::PathBuf;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::report::{DemoSummary, Summary};
use crate::signals::StopFlag;

use super::Out;

fn parse(args: &[&str]) -> Result<Command, String> {
    Cli::try_parse_from(std::iter::once("memif").chain(args.iter().copied()))
        .map(|c| c.command)
        .map_err(|e| e.to_string())
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the demo; exit status 0 when the pings were answered and frames flowed.
pub fn run(stop: &StopFlag, out: Out) -> Result<(Summary, u8), String> {
    let dir = TempDir(std::env::temp_dir().join(format!("memif-demo-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).map_err(|e| format!("cannot create {}: {e}", dir.0.display()))?;
    let sock = dir.0.join("memif.sock");
    let sock = sock.to_str().ok_or("temporary path is not UTF-8")?.to_string();
    out.line(&format!("demo: an ICMP responder (master, 192.168.1.1) and ping (slave) on {sock}"));

    let Command::IcmpResponder(resp) = parse(&["icmp-responder", "--role", "master", "--socket", &sock])?
    else {
        unreachable!()
    };
    let responder_stop = StopFlag::new();
    let rs = responder_stop.clone();
    let quiet = Out { quiet: true, ..out };
    let responder = std::thread::spawn(move || super::responder::run(&resp, &rs, quiet));
    let Command::Ping(ping) =
        parse(&["ping", "192.168.1.1", "-c", "5", "--interval", "0.2", "--socket", &sock])?
    else {
        unreachable!()
    };
    let ping_result = super::ping::run(&ping, stop, out);
    responder_stop.stop();
    let _ = responder.join();
    let (Summary::Ping(ping_summary), ping_code) = ping_result? else { unreachable!() };

    out.line("");
    out.line("demo: one second of 64-byte frames, slave gen into master sink");
    let tsock = dir.0.join("traffic.sock").to_string_lossy().into_owned();
    let Command::Sink(sink) =
        parse(&["sink", "--role", "master", "--rx-mode", "polling", "--socket", &tsock])?
    else {
        unreachable!()
    };
    let sink_stop = StopFlag::new();
    let ss = sink_stop.clone();
    let sink = std::thread::spawn(move || super::traffic::sink(&sink, &ss, quiet));
    let Command::Gen(gen) = parse(&["gen", "--duration", "1", "--burst", "64", "--socket", &tsock])? else {
        unreachable!()
    };
    let gen_result = super::traffic::gen(&gen, stop, quiet);
    sink_stop.stop();
    let sink_result = sink.join().map_err(|_| "sink thread panicked")??;
    let (Summary::Gen(g), _) = gen_result? else { unreachable!() };
    let (Summary::Sink(s), _) = sink_result else { unreachable!() };
    out.line(&format!(
        "demo: sent {} frames, received {} in {:.2} s: {:.2} Mpps, {:.2} Gbit/s",
        g.packets,
        s.packets,
        g.seconds,
        s.packets as f64 / g.seconds.max(1e-9) / 1e6,
        s.gbps
    ));
    let ok = ping_code == 0 && s.packets > 0;
    out.line(if ok { "demo: OK" } else { "demo: FAILED" });
    Ok((Summary::Demo(DemoSummary { ping: ping_summary, throughput: s }), if ok { 0 } else { 1 }))
}
