//! The `memif` command. See `memif --help`, and the library half of this crate for the
//! pieces each subcommand is made of.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use memif_apps::cli::{error_line, Cli};

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
    // Every subcommand, demo included, runs over memif interfaces, which memif-conn
    // provides; until it does, say so plainly rather than pretend.
    eprintln!("memif: {} needs memif-conn, not wired yet", cli.command.name());
    ExitCode::from(1)
}
