//! # memif-apps: the parts of the `memif` command that need no live interface
//!
//! - [`cli`]: the command line (clap), checked at parse time, and [`cli::InterfaceOpts`],
//!   an interface's settings in the protocol's terms;
//! - [`packet`]: ARP and ICMPv4 echo for the responder and ping, and the test frames of
//!   gen/sink/loopback (etherparse; never panics on received bytes);
//! - [`pcap`]: the `--pcap FILE` capture;
//! - [`report`]: ping-like lines, rates, totals and the `--json` summary;
//! - [`signals`]: a stop flag set by SIGINT/SIGTERM;
//! - [`tap`]: a Linux TAP device for `memif tap`.
//!
//! The binary (`src/main.rs`) joins these to interfaces from `memif-conn`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod packet;
pub mod pcap;
pub mod report;
pub mod run;
pub mod signals;
pub mod tap;
