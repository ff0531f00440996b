//! The `memif` command. See `memif --help`, and the library half of this crate for the
//! pieces each subcommand is made of.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use memif_apps::cli::{error_line, Cli, Command};
use memif_apps::run::{self, Out};
use memif_apps::signals::StopFlag;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            match e.kind() {
                // Help and version go to stdout with status 0; a bare `memif` prints
                // the help on stderr with status 2. clap does both as wanted.
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
                // Bad arguments: one line, status 2.
                _ => {
                    eprintln!("memif: {}", error_line(&e));
                    return ExitCode::from(2);
                }
            }
        }
    };
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let stop = match StopFlag::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("memif: cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    let out = Out { json: cli.json, quiet: false };
    let r = match &cli.command {
        Command::IcmpResponder(a) => run::responder::run(a, &stop, out),
        Command::Ping(a) => run::ping::run(a, &stop, out),
        Command::Gen(a) => run::traffic::gen(a, &stop, out),
        Command::Sink(a) => run::traffic::sink(a, &stop, out),
        Command::Loopback(a) => run::loopback::run(a, &stop, out),
        Command::Forward(a) => run::forward::run(a, &stop, out),
        Command::Tap(a) => run::tap::run(a, &stop, out),
        Command::Demo(_) => run::demo::run(&stop, out),
    };
    match r {
        Ok((summary, code)) => {
            if cli.json {
                println!("{}", summary.to_json());
            }
            ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("memif {}: {e}", cli.command.name());
            ExitCode::from(1)
        }
    }
}
