//! Self-test of the DPDK testpmd harness in `common/testpmd.rs`: two testpmd instances
//! talk memif to each other, so the harness is proven against the peer before any test
//! of ours relies on it.
//!
//! Needs `dpdk-testpmd` (Debian package dpdk-dev), which `cargo xtask test` installs;
//! without it these tests fail, saying so. Nothing here is ignored.
//!
//! Observed on the project machine (Debian 12, DPDK 22.11.11, 2 CPUs, no hugepages,
//! `--no-huge -m 512 --total-num-mbufs=16384`), many runs:
//! - A server prints `Memif listener socket <path> created.` about 0.3-0.5 s after
//!   start and configures its port after about 1.5 s; a client started next reaches
//!   `memif_connect(): Connected.` on both sides 1.5-2.5 s after its own start (whole
//!   harness self-test of link + traffic: about 6 s).
//! - `--stats-period=1` prints a block every second; the first block after link up shows
//!   millions of RX-packets on an rxonly server fed by a txonly client (64-byte frames,
//!   each instance on its own CPU: 2.5-24 million packets per second).
//! - SIGINT stops an instance in 0.5-1.2 s, exit status 0, after printing its
//!   `Forward statistics` block. A server stopped while its client still sends reports
//!   its full count; a port whose peer left reports 0 (the counters reset).
//! - `socket-abstract=yes` with `socket=/tmp/x.sock`: no file appears; /proc/net/unix
//!   lists `@/tmp/x.sock`, i.e. the abstract name is NUL + "/tmp/x.sock" and the
//!   address length counts only those bytes (a connect to the name NUL-padded to the
//!   full 108 bytes is refused). Our side therefore reaches it as `@/tmp/x.sock`.
//! - A client with the wrong secret logs `Disconnect received: Incorrect secret` about
//!   2 s after start; the server logs only `Sent msg type 8.` and `Disconnected`.
//! - A stale socket file makes the server log `Failed to setup socket ...: Address
//!   already in use` and `testpmd: No probed ethernet devices`, and keep running.

mod common;

use std::time::{Duration, Instant};

use common::testpmd::{parse_stats, strip_escapes, ForwardMode, PortStats, Testpmd, TestpmdOpts};
use common::{serial, unix_socket_names, TempDir};

const START: Duration = Duration::from_secs(10);

/// Asserts that a dropped testpmd left nothing behind: no process (not even a zombie)
/// and no DPDK runtime folder.
fn assert_gone(pid: u32, file_prefix: &str) {
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "testpmd pid {pid} still exists after drop"
    );
    assert!(
        !std::path::Path::new(&format!("/var/run/dpdk/{file_prefix}")).exists(),
        "/var/run/dpdk/{file_prefix} left behind"
    );
}

#[test]
fn server_rxonly_counts_what_a_txonly_client_sends() {
    let _serial = serial();
    let t0 = Instant::now();
    let dir = TempDir::new("testpmd-harness");
    let sock = dir.join("t.sock");

    let mut server = Testpmd::start(TestpmdOpts { cpu: Some(0), ..TestpmdOpts::server(&sock) }).unwrap();
    server.wait_listening(START).unwrap();
    let listening = t0.elapsed();
    // socket-abstract=no: a real socket file.
    assert!(sock.exists(), "no socket file at {}", sock.display());
    assert!(unix_socket_names().iter().any(|n| n == sock.to_str().unwrap()));

    let mut client = Testpmd::start(TestpmdOpts {
        forward_mode: ForwardMode::Txonly,
        txpkts: Some(64),
        cpu: Some(1),
        ..TestpmdOpts::client(&sock)
    })
    .unwrap();
    client.wait_link_up(START).unwrap();
    server.wait_link_up(START).unwrap();
    let link_up = t0.elapsed();
    assert!(server.port_mac().is_some(), "no `Port 0: <mac>` line");

    let seen = server.wait_for_stats(0, Duration::from_secs(5), |s| s.rx_packets > 0).unwrap();
    assert_eq!(seen.rx_errors, 0);
    let sent = client.wait_for_stats(0, Duration::from_secs(5), |s| s.tx_packets > 0).unwrap();
    // 64-byte frames. The byte and packet counters are read while the forwarding core
    // updates them, so they need not match exactly (seen: 17 frames apart).
    let average = sent.tx_bytes as f64 / sent.tx_packets as f64;
    assert!((63.0..=65.0).contains(&average), "{} bytes in {} frames", sent.tx_bytes, sent.tx_packets);

    // Stop the server while its client still sends: its counters are complete then.
    let server_pid = server.pid();
    let server_final = server.stop().unwrap();
    let rx = server_final.port0().unwrap().rx_packets;
    assert!(rx >= seen.rx_packets, "final RX-packets {rx} < periodic {}", seen.rx_packets);
    assert_eq!(server_final.accumulated.unwrap().rx_packets, rx);

    // The client's peer has left while it was sending: DPDK 22.11 sometimes segfaults
    // then (peers.md); that is testpmd's, not the harness's. It must still exit by
    // itself on SIGINT.
    let client_pid = client.pid();
    let client_final = client.stop_tolerating_crash().unwrap();
    if let Some(crash) = &client_final.crash {
        eprintln!("note: the testpmd client crashed after its server left (known DPDK 22.11 bug): {crash}");
    }
    let (server_prefix, client_prefix) = (server.file_prefix().to_owned(), client.file_prefix().to_owned());
    drop(server);
    drop(client);
    assert_gone(server_pid, &server_prefix);
    assert_gone(client_pid, &client_prefix);
    eprintln!(
        "listening after {listening:?}; link up after {link_up:?}; server RX-packets {rx}; client TX-packets >= {}; whole test {:?}",
        sent.tx_packets,
        t0.elapsed()
    );
}

#[test]
fn socket_abstract_yes_listens_on_nul_plus_the_name_unpadded() {
    let _serial = serial();
    let name = format!("/tmp/memif-rs-abstract-{}-{}.sock", std::process::id(), common::unique());
    let opts = |server: bool| {
        let base = if server { TestpmdOpts::server(&name) } else { TestpmdOpts::client(&name) };
        TestpmdOpts { socket_abstract: true, ..base }
    };

    let mut server = Testpmd::start(TestpmdOpts { cpu: Some(0), ..opts(true) }).unwrap();
    server.wait_listening(START).unwrap();
    // The kernel prints an abstract name's leading NUL (and any NUL padding) as '@':
    // exactly "@<name>" means the address length covered the name and nothing more.
    let names = unix_socket_names();
    let at_name = format!("@{name}");
    assert!(names.contains(&at_name), "{at_name} not in /proc/net/unix");
    assert!(!names.iter().any(|n| n.starts_with(&at_name) && n != &at_name), "padded abstract name");
    assert!(!std::path::Path::new(&name).exists(), "socket-abstract=yes created a file");

    // The name is taken now: a second server on it finds 0 ports, and the harness says
    // so at once.
    let mut second = Testpmd::start(TestpmdOpts { cpu: Some(1), ..opts(true) }).unwrap();
    let started = Instant::now();
    let err = second.wait_listening(Duration::from_secs(20)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "waited {:?}: not early", started.elapsed());
    assert!(err.message().contains("0 ports") && err.message().contains("Address already in use"), "{err}");
    drop(second);

    let mut client = Testpmd::start(TestpmdOpts { cpu: Some(1), ..opts(false) }).unwrap();
    client.wait_link_up(START).unwrap();
    server.wait_link_up(START).unwrap();
}

#[test]
fn a_refused_client_fails_wait_link_up_early_with_the_reason() {
    let _serial = serial();
    let dir = TempDir::new("testpmd-harness");
    let sock = dir.join("s.sock");
    let mut server = Testpmd::start(TestpmdOpts {
        secret: Some("abc".into()),
        cpu: Some(0),
        ..TestpmdOpts::server(&sock)
    })
    .unwrap();
    server.wait_listening(START).unwrap();
    let mut client = Testpmd::start(TestpmdOpts {
        secret: Some("xyz".into()),
        cpu: Some(1),
        ..TestpmdOpts::client(&sock)
    })
    .unwrap();

    let started = Instant::now();
    let err = client.wait_link_up(Duration::from_secs(20)).unwrap_err();
    eprintln!("refusal seen {:?} after the client started", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(10), "waited {:?}: not early", started.elapsed());
    assert!(err.message().contains("refused the connection: Incorrect secret"), "{err}");
    assert!(client.output().contains("Disconnect received: Incorrect secret"));
    // The server saw a connection but never a link.
    assert!(server.output().contains("Connection request accepted."));
    assert!(!server.output().contains("memif_connect(): Connected."));
}

#[test]
fn a_client_with_no_server_fails_wait_link_up_early() {
    let _serial = serial();
    let dir = TempDir::new("testpmd-harness");
    let sock = dir.join("none.sock");
    let mut client = Testpmd::start(TestpmdOpts { cpu: Some(1), ..TestpmdOpts::client(&sock) }).unwrap();
    let started = Instant::now();
    let err = client.wait_link_up(Duration::from_secs(20)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "waited {:?}: not early", started.elapsed());
    assert!(err.message().contains("could not connect"), "{err}");
    assert!(client.output().contains("Failed to connect socket"));
}

#[test]
fn the_harness_refuses_a_server_on_an_existing_socket_path() {
    let dir = TempDir::new("testpmd-harness");
    let sock = dir.join("stale.sock");
    std::fs::write(&sock, b"").unwrap();
    // testpmd itself would keep running with 0 ports ("Address already in use").
    let err = Testpmd::start(TestpmdOpts::server(&sock)).err().expect("start on a stale socket must fail");
    assert!(err.message().contains("already exists"), "{err}");
}

/// The statistics parser against output captured from testpmd 22.11.11 here, with its
/// escape sequences, a log line printed into a block, and a block cut off mid-print.
#[test]
fn parses_statistics_blocks_as_printed_by_testpmd_22_11() {
    let raw = "\
Port 0: 9A:DD:C5:75:59:BF
\x1b[2J\x1b[1;1H
Port statistics ====================================
  ######################## NIC statistics for port 0  ########################
  RX-packets: 5038336    RX-missed: 0          RX-bytes:  322453632
memif_msg_receive(): Received msg type: 6.
  RX-errors: 0
  RX-nombuf:  0         
  TX-packets: 0          TX-errors: 0          TX-bytes:  0

  Throughput (since last show)
  Rx-pps:      2518938          Rx-bps:   1289696784
  Tx-pps:            0          Tx-bps:            0
  ############################################################################
\x1b[2J\x1b[1;1H
Port statistics ====================================
  ######################## NIC statistics for port 0  ########################
  RX-packets: 53674560   RX-missed: 1          RX-bytes:  3435172096
  RX-errors: 2
Telling cores to stop...
Waiting for lcores to finish...

  ------- Forward Stats for RX Port= 0/Queue= 0 -> TX Port= 0/Queue= 0 -------
  RX-packets: 6987776        TX-packets: 0              TX-dropped: 0             

  ------- Forward Stats for RX Port= 0/Queue= 1 -> TX Port= 0/Queue= 1 -------
  RX-packets: 6987872        TX-packets: 0              TX-dropped: 0             

  ---------------------- Forward statistics for port 0  ----------------------
  RX-packets: 13975648       RX-dropped: 0             RX-total: 13975648
  TX-packets: 7              TX-dropped: 3             TX-total: 10
  ----------------------------------------------------------------------------

  +++++++++++++++ Accumulated forward statistics for all ports+++++++++++++++
  RX-packets: 13975648       RX-dropped: 0             RX-total: 13975648
  TX-packets: 7              TX-dropped: 3             TX-total: 10
  ++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++

Done.
";
    let text = strip_escapes(raw);
    assert!(!text.contains('\u{1b}'));
    let parsed = parse_stats(&text);
    // The second periodic block never closed: the first one is the latest complete one.
    assert_eq!(
        parsed.periodic.get(&0),
        Some(&PortStats { rx_packets: 5038336, rx_bytes: 322453632, ..PortStats::default() })
    );
    assert_eq!(parsed.streams.len(), 2);
    assert_eq!((parsed.streams[1].rx_queue, parsed.streams[1].tx_queue), (1, 1));
    assert_eq!(parsed.streams.iter().map(|s| s.rx_packets).sum::<u64>(), 13975648);
    let port0 = parsed.forward[&0];
    assert_eq!(
        (port0.rx_packets, port0.rx_total, port0.tx_packets, port0.tx_dropped),
        (13975648, 13975648, 7, 3)
    );
    assert_eq!(parsed.accumulated, Some(port0));
}
