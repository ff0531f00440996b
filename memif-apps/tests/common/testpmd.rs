//! DPDK's `dpdk-testpmd` with the net_memif driver, as a memif peer for our tests.
//!
//! DPDK 22.11 (Debian package `dpdk-dev`) is an implementation of memif this project
//! did not write; talking to it is how interoperability is proven. This module starts one
//! testpmd per [`Testpmd`], with one memif port (`net_memif0`), and lets a test:
//!
//! - wait for the server's listener ([`Testpmd::wait_listening`]) and for the link
//!   ([`Testpmd::wait_link_up`]), by polling testpmd's own output, failing early when
//!   testpmd exited, found no port, or was refused;
//! - read testpmd's own counters while it runs ([`Testpmd::stats`],
//!   [`Testpmd::wait_for_stats`]) and after it stops ([`Testpmd::stop`]);
//! - read everything it printed ([`Testpmd::output`]), for example a refusal reason.
//!
//! # How testpmd is run
//! `setpriv --pdeathsig KILL -- dpdk-testpmd` with `--no-huge -m 512 --no-pci`, both
//! lcores on one CPU (`--lcores 0@C,1@C`), a `--file-prefix` unique to the instance,
//! `--log-level=pmd.net.memif:debug` (link events), then `--auto-start --stats-period=1`
//! (without a stats period and with no stdin, testpmd exits right after start-up).
//! `setpriv --pdeathsig KILL` makes the kernel kill testpmd if the thread that started it
//! dies without dropping the [`Testpmd`] (test binary killed, abort): no stray testpmd
//! keeps a CPU busy. So start a testpmd on the thread that owns it, as tests do.
//! Dropping a [`Testpmd`] sends SIGINT, waits up to 5 s, then SIGKILLs, always reaps
//! the process and joins the threads that read its output, and removes its runtime
//! folder (`/var/run/dpdk/<file-prefix>` as root).
//!
//! # What testpmd prints (DPDK 22.11.11 on this machine, as parsed here)
//! Link events go to stderr, statistics to stdout; both arrive through the pipes line by
//! line without delay. Both streams are collected into one text, line by line, with
//! terminal escape sequences removed (each statistics block starts with the
//! clear-screen sequence `ESC[2J ESC[1;1H`).
//!
//! ```text
//! memif_socket_create(): Memif listener socket /tmp/x/t.sock created.    (server)
//! memif_connect_client(): Memif socket: /tmp/x/t.sock connected.        (client)
//! memif_connect(): Connected.                                           (link up)
//! memif_msg_receive_disconnect(): Disconnect received: Incorrect secret (client refused)
//! memif_disconnect(): Disconnected, id: 0, role: server.                (link down)
//! memif_connect_client(): Failed to connect socket: /tmp/x/none.sock.   (no server)
//! testpmd: No probed ethernet devices          (probe failed: stale socket, bad path)
//!
//!   ######################## NIC statistics for port 0  ########################
//!   RX-packets: 5038336    RX-missed: 0          RX-bytes:  322453632
//!   RX-errors: 0
//!   RX-nombuf:  0
//!   TX-packets: 0          TX-errors: 0          TX-bytes:  0
//!   ...
//!   ############################################################################
//!
//! after SIGINT, one block per stream when there is more than one stream:
//!   ------- Forward Stats for RX Port= 0/Queue= 1 -> TX Port= 0/Queue= 1 -------
//!   RX-packets: 6987872        TX-packets: 0              TX-dropped: 0
//! then per port and for all ports:
//!   ---------------------- Forward statistics for port 0  ----------------------
//!   RX-packets: 13975648       RX-dropped: 0             RX-total: 13975648
//!   TX-packets: 0              TX-dropped: 0             TX-total: 0
//!   ----------------------------------------------------------------------------
//!   +++++++++++++++ Accumulated forward statistics for all ports+++++++++++++++
//!   RX-packets: ...
//! ```
//!
//! # Known behaviour of DPDK 22.11's memif to design tests around
//! - Port counters (periodic blocks and the per-port forward statistics) drop back to 0
//!   when the peer disconnects. Read testpmd's counters while the peer is still
//!   connected: wait for a periodic block that shows what you expect, or stop testpmd
//!   before your side disconnects. Per-stream blocks keep their counts.
//! - The testpmd that stays up sometimes crashes (SIGSEGV) when its peer leaves while it
//!   forwards (about 5 in 130 teardowns). [`Testpmd::stop`] reports that as an error;
//!   [`Testpmd::stop_tolerating_crash`] is for the side whose peer already left.
//! - The client never retries: start the server first and wait until it listens.
//! - `socket-abstract` defaults to `yes`; this module always passes it explicitly.
//!   With `yes`, `socket=/tmp/t.sock` listens on the abstract name `"\0/tmp/t.sock"`
//!   whose address length counts only the name (seen in /proc/net/unix as
//!   `@/tmp/t.sock`; a connect to the name NUL-padded to 108 bytes is refused), so our
//!   side reaches it as `@/tmp/t.sock`. With `no`, a socket file is created.
//! - An unknown devarg key makes the driver drop every devarg silently: this module
//!   only writes keys the driver knows.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The testpmd binary of the Debian package `dpdk-dev`.
pub const TESTPMD_BIN: &str = "dpdk-testpmd";

/// How long [`Drop`] and [`Testpmd::stop`] wait after SIGINT before SIGKILL. testpmd
/// needs about 1 s to stop here.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Longest socket path or abstract name: `sun_path` is 108 bytes including the NUL.
const MAX_SOCKET_PATH: usize = 107;

/// How often the wait functions look at the output again.
const POLL: Duration = Duration::from_millis(20);

/// Lines of output quoted in error messages.
const TAIL_LINES: usize = 40;

/// An error from the harness, with testpmd's recent output when that helps.
pub struct Error {
    msg: String,
}

impl Error {
    fn new(msg: impl Into<String>) -> Error {
        Error { msg: msg.into() }
    }

    /// The whole message.
    pub fn message(&self) -> &str {
        &self.msg
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

// Debug prints the message as is, so that `.unwrap()` in a test shows readable lines.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

/// Result of the harness functions.
pub type Result<T> = std::result::Result<T, Error>;

/// memif role of testpmd's port. DPDK says server/client where memif says master/slave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Master: listens on the socket, maps the client's memory.
    Server,
    /// Slave: connects, owns the shared memory. Never retries a failed connect.
    Client,
}

/// testpmd's `--forward-mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwardMode {
    /// Counts and frees what it receives.
    Rxonly,
    /// Transmits generated UDP frames as fast as it can (`txpkts` sets their length).
    Txonly,
    /// Answers ARP requests and ICMP echo requests.
    Icmpecho,
    /// Sends every received frame back out unchanged.
    Io,
    /// Sends every received frame back with source and destination MAC swapped.
    Macswap,
}

impl ForwardMode {
    fn as_arg(self) -> &'static str {
        match self {
            ForwardMode::Rxonly => "rxonly",
            ForwardMode::Txonly => "txonly",
            ForwardMode::Icmpecho => "icmpecho",
            ForwardMode::Io => "io",
            ForwardMode::Macswap => "macswap",
        }
    }
}

/// How to start one testpmd. Build with [`TestpmdOpts::server`] or
/// [`TestpmdOpts::client`] and change fields with struct update syntax:
///
/// ```ignore
/// TestpmdOpts { forward_mode: ForwardMode::Txonly, txpkts: Some(64), ..TestpmdOpts::client(&sock) }
/// ```
#[derive(Clone, Debug)]
pub struct TestpmdOpts {
    /// memif role (devarg `role`).
    pub role: Role,
    /// Socket path (devarg `socket`). With `socket_abstract`, the abstract name without
    /// any `@`: testpmd listens on or connects to NUL + this.
    pub socket: PathBuf,
    /// devarg `socket-abstract=yes|no`, always passed (the driver's default is `yes`).
    pub socket_abstract: bool,
    /// Interface id (devarg `id`), driver default 0.
    pub id: Option<u32>,
    /// Shared secret (devarg `secret`); only its first 24 bytes count.
    pub secret: Option<String>,
    /// Packet buffer size in bytes (devarg `bsize`), driver default 2048.
    pub bsize: Option<u32>,
    /// log2 of the ring size (devarg `rsize`), driver default 10, at most 14.
    pub rsize: Option<u8>,
    /// MAC address of the port, `xx:xx:xx:xx:xx:xx` (devarg `mac`).
    pub mac: Option<String>,
    /// Zero-copy (devarg `zero-copy=yes`, client only; needs
    /// `--single-file-segments` in `extra_eal_args` with `--no-huge`).
    pub zero_copy: bool,
    /// testpmd's `--forward-mode`.
    pub forward_mode: ForwardMode,
    /// `--txpkts`: length of the frames txonly sends.
    pub txpkts: Option<u32>,
    /// `--rxq`: receive queues. memif has no queue-count devarg; this sets it.
    pub rxq: Option<u16>,
    /// `--txq`: transmit queues.
    pub txq: Option<u16>,
    /// `--burst`: frames per burst (testpmd default 32).
    pub burst: Option<u16>,
    /// CPU both lcores run on. `None`: instances take CPUs in turn.
    pub cpu: Option<usize>,
    /// A full `--lcores` value; overrides `cpu`.
    pub lcores: Option<String>,
    /// `--total-num-mbufs`; the default pool does not fit in `-m 512` without hugepages.
    pub total_num_mbufs: u32,
    /// EAL `-m`: megabytes of memory.
    pub memory_mb: u32,
    /// More EAL arguments, placed before `--`.
    pub extra_eal_args: Vec<String>,
    /// More testpmd arguments, placed after `--`.
    pub extra_args: Vec<String>,
}

impl TestpmdOpts {
    /// A server (master) on the socket file `socket` (`socket-abstract=no`), rxonly.
    pub fn server(socket: impl Into<PathBuf>) -> TestpmdOpts {
        TestpmdOpts {
            role: Role::Server,
            socket: socket.into(),
            socket_abstract: false,
            id: None,
            secret: None,
            bsize: None,
            rsize: None,
            mac: None,
            zero_copy: false,
            forward_mode: ForwardMode::Rxonly,
            txpkts: None,
            rxq: None,
            txq: None,
            burst: None,
            cpu: None,
            lcores: None,
            total_num_mbufs: 16384,
            memory_mb: 512,
            extra_eal_args: Vec::new(),
            extra_args: Vec::new(),
        }
    }

    /// A client (slave) of the socket file `socket` (`socket-abstract=no`), rxonly.
    pub fn client(socket: impl Into<PathBuf>) -> TestpmdOpts {
        TestpmdOpts { role: Role::Client, ..TestpmdOpts::server(socket) }
    }

    /// The `--vdev` devargs string, after checking every value.
    fn devargs(&self) -> Result<String> {
        let socket = self
            .socket
            .to_str()
            .ok_or_else(|| Error::new(format!("socket path {:?} is not UTF-8", self.socket)))?;
        if socket.is_empty() || socket.len() > MAX_SOCKET_PATH {
            // testpmd would keep running with 0 ports; say why instead.
            return Err(Error::new(format!(
                "socket path {socket:?} is {} bytes; it must be 1..={MAX_SOCKET_PATH}",
                socket.len()
            )));
        }
        check_devarg_value("socket", socket)?;
        let mut args = format!(
            "net_memif0,role={},socket={socket},socket-abstract={}",
            match self.role {
                Role::Server => "server",
                Role::Client => "client",
            },
            if self.socket_abstract { "yes" } else { "no" }
        );
        if let Some(id) = self.id {
            args += &format!(",id={id}");
        }
        if let Some(secret) = &self.secret {
            check_devarg_value("secret", secret)?;
            args += &format!(",secret={secret}");
        }
        if let Some(bsize) = self.bsize {
            args += &format!(",bsize={bsize}");
        }
        if let Some(rsize) = self.rsize {
            args += &format!(",rsize={rsize}");
        }
        if let Some(mac) = &self.mac {
            check_devarg_value("mac", mac)?;
            args += &format!(",mac={mac}");
        }
        if self.zero_copy {
            args += ",zero-copy=yes";
        }
        Ok(args)
    }
}

fn check_devarg_value(key: &str, value: &str) -> Result<()> {
    if value.contains([',', '=', ' ']) || value.is_empty() {
        return Err(Error::new(format!("devarg {key}={value:?}: empty, or contains ',', '=' or ' '")));
    }
    Ok(())
}

static NEXT_INSTANCE: AtomicUsize = AtomicUsize::new(0);

/// A running dpdk-testpmd with one memif port (port 0). Killed and reaped on drop.
pub struct Testpmd {
    opts: TestpmdOpts,
    file_prefix: String,
    child: Child,
    /// Set once the process has been reaped.
    exit: Option<ExitStatus>,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    started: Instant,
}

impl Testpmd {
    /// Starts testpmd. Returns once the process runs; use [`Testpmd::wait_listening`]
    /// (server) or [`Testpmd::wait_link_up`] before relying on the port.
    ///
    /// Fails if dpdk-testpmd or setpriv is not installed, if a value would make a
    /// malformed devargs string, or if a server's socket file already exists (testpmd
    /// would start with 0 ports): use a fresh folder for every test.
    pub fn start(opts: TestpmdOpts) -> Result<Testpmd> {
        let devargs = opts.devargs()?;
        let bin = find_in_path(TESTPMD_BIN).ok_or_else(|| {
            Error::new(format!(
                "{TESTPMD_BIN} is not installed (not found in PATH). It comes with the Debian \
                 package dpdk-dev: `apt-get install -y dpdk-dev`; `cargo xtask test` installs it \
                 when run as root on Debian."
            ))
        })?;
        let setpriv = find_in_path("setpriv").ok_or_else(|| {
            Error::new("setpriv is not installed (Debian package util-linux): it makes sure no testpmd outlives its test")
        })?;
        if !opts.socket_abstract {
            let parent = opts.socket.parent().unwrap_or(Path::new("/"));
            if !parent.is_dir() {
                return Err(Error::new(format!("socket folder {} does not exist", parent.display())));
            }
            if opts.role == Role::Server && opts.socket.symlink_metadata().is_ok() {
                return Err(Error::new(format!(
                    "{} already exists: testpmd's server would start with 0 ports. Use a fresh folder.",
                    opts.socket.display()
                )));
            }
        }

        sweep_stale_runtime_dirs();
        let instance = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed);
        let file_prefix = format!("memif-rs-{}-{instance}", std::process::id());
        let lcores = match (&opts.lcores, opts.cpu) {
            (Some(lcores), _) => lcores.clone(),
            (None, Some(cpu)) => format!("0@{cpu},1@{cpu}"),
            (None, None) => {
                let cpus = thread::available_parallelism().map_or(1, usize::from);
                let cpu = instance % cpus;
                format!("0@{cpu},1@{cpu}")
            }
        };

        let mut cmd = Command::new(setpriv);
        cmd.args(["--pdeathsig", "KILL", "--"]).arg(bin);
        cmd.args(["--lcores", &lcores, "--no-huge", "-m", &opts.memory_mb.to_string(), "--no-pci"]);
        cmd.args(["--file-prefix", &file_prefix]);
        cmd.arg(format!("--vdev={devargs}"));
        cmd.arg("--log-level=pmd.net.memif:debug");
        cmd.args(&opts.extra_eal_args);
        cmd.arg("--");
        cmd.args(["--auto-start", "--stats-period=1"]);
        cmd.arg(format!("--forward-mode={}", opts.forward_mode.as_arg()));
        cmd.arg(format!("--total-num-mbufs={}", opts.total_num_mbufs));
        if let Some(txpkts) = opts.txpkts {
            cmd.arg(format!("--txpkts={txpkts}"));
        }
        if let Some(rxq) = opts.rxq {
            cmd.arg(format!("--rxq={rxq}"));
        }
        if let Some(txq) = opts.txq {
            cmd.arg(format!("--txq={txq}"));
        }
        if let Some(burst) = opts.burst {
            cmd.arg(format!("--burst={burst}"));
        }
        cmd.args(&opts.extra_args);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());

        let command_line = format!("{cmd:?}");
        let mut child = cmd.spawn().map_err(|e| Error::new(format!("cannot start {command_line}: {e}")))?;
        let output = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(spawn_reader(stdout, Arc::clone(&output)));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(spawn_reader(stderr, Arc::clone(&output)));
        }
        Ok(Testpmd { opts, file_prefix, child, exit: None, output, readers, started: Instant::now() })
    }

    /// The options it was started with.
    pub fn opts(&self) -> &TestpmdOpts {
        &self.opts
    }

    /// Its process id (valid until it is reaped).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its `--file-prefix`.
    pub fn file_prefix(&self) -> &str {
        &self.file_prefix
    }

    /// Time since [`Testpmd::start`].
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Everything it printed so far, stdout and stderr interleaved line by line, with
    /// terminal escape sequences removed.
    pub fn output(&self) -> String {
        self.output.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The MAC address testpmd reports for port 0 (`Port 0: 9A:DD:C5:75:59:BF`), once
    /// the port is configured.
    pub fn port_mac(&self) -> Option<String> {
        self.output().lines().find_map(|line| {
            let mac = line.strip_prefix("Port 0: ")?.trim();
            (mac.len() == 17 && mac.bytes().filter(|&b| b == b':').count() == 5).then(|| mac.to_owned())
        })
    }

    /// Its exit status if it has exited (reaps it), else `None`.
    pub fn try_exit_status(&mut self) -> Result<Option<ExitStatus>> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().map_err(|e| Error::new(format!("waitpid: {e}")))?;
        }
        Ok(self.exit)
    }

    /// Waits until a server has created its listening socket
    /// (`Memif listener socket ... created.`); a client started after this finds it.
    pub fn wait_listening(&mut self, timeout: Duration) -> Result<()> {
        self.wait_until(timeout, "the memif listener socket", |text| {
            if text.contains("Memif listener socket") {
                Ok(true)
            } else if let Some(why) = probe_failure(text) {
                Err(why)
            } else {
                Ok(false)
            }
        })
    }

    /// Waits until the memif link is up: the last link event testpmd printed is
    /// `memif_connect(): Connected.`.
    ///
    /// Fails early, with testpmd's output, when testpmd exited, when its probe failed
    /// (0 ports), or, for a client (which never retries), when its connect failed or the
    /// server refused it (`Disconnect received: <reason>`) or the link went down. A
    /// server keeps waiting after a refused or departed client, until `timeout`.
    pub fn wait_link_up(&mut self, timeout: Duration) -> Result<()> {
        let role = self.opts.role;
        self.wait_until(timeout, "memif link up", |text| {
            if let Some(why) = probe_failure(text) {
                return Err(why);
            }
            let link = LinkLog::parse(text);
            match link.last {
                Some(LinkEvent::Up) => Ok(true),
                Some(LinkEvent::Down) if role == Role::Client => Err(match link.refusal {
                    Some(reason) => format!("the server refused the connection: {reason}"),
                    None => "the link went down and testpmd's client does not retry".to_owned(),
                }),
                _ if role == Role::Client && link.connect_failed => {
                    Err("the client could not connect to the socket (it does not retry)".to_owned())
                }
                _ => Ok(false),
            }
        })
    }

    /// Waits until `needle` appears in the output. Fails early if testpmd exits first.
    pub fn wait_for_output(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        self.wait_until(timeout, &format!("{needle:?} in the output"), |text| Ok(text.contains(needle)))
    }

    /// The latest periodic statistics block of every port printed so far (empty before
    /// the first block, about 1 s after start).
    pub fn stats(&self) -> BTreeMap<u16, PortStats> {
        parse_stats(&self.output()).periodic
    }

    /// Waits until a periodic statistics block for `port` satisfies `pred`, and returns
    /// it. Blocks come about once a second: the counters lag the traffic by up to that.
    pub fn wait_for_stats(
        &mut self,
        port: u16,
        timeout: Duration,
        pred: impl Fn(&PortStats) -> bool,
    ) -> Result<PortStats> {
        let mut found = None;
        self.wait_until(timeout, &format!("statistics of port {port} that match"), |text| {
            found = parse_stats(text).periodic.get(&port).copied().filter(|s| pred(s));
            Ok(found.is_some())
        })?;
        Ok(found.expect("wait_until returned Ok only once a block matched"))
    }

    /// Stops testpmd with SIGINT, waits for it (SIGKILL after [`STOP_GRACE`]) and
    /// returns its final counters.
    ///
    /// Fails if it had to be killed, did not exit with status 0 (for example the
    /// SIGSEGV DPDK 22.11 sometimes hits after its peer left), or printed no
    /// `Forward statistics` block for port 0. Call it before our side disconnects:
    /// testpmd's port counters drop to 0 when the peer goes away.
    pub fn stop(&mut self) -> Result<FinalStats> {
        let stats = self.stop_tolerating_crash()?;
        if let Some(why) = &stats.crash {
            return Err(self.error(&format!("testpmd did not stop cleanly: {why}")));
        }
        if !stats.forward.contains_key(&0) {
            return Err(self.error("testpmd exited without printing `Forward statistics for port 0`"));
        }
        Ok(stats)
    }

    /// Like [`Testpmd::stop`], but a crash on the way out (DPDK 22.11 sometimes
    /// segfaults after its peer left) is reported in [`FinalStats::crash`] instead of
    /// failing; counters it did not print are then missing. Still fails if testpmd had
    /// to be killed, or was stopped already.
    pub fn stop_tolerating_crash(&mut self) -> Result<FinalStats> {
        if self.exit.is_some() {
            // Exited by itself earlier: report what it printed.
            let status = self.exit.expect("checked");
            self.join_readers();
            return Ok(FinalStats::new(&self.output(), status));
        }
        let (status, killed) = self.terminate(STOP_GRACE)?;
        if killed {
            return Err(self.error(&format!("testpmd ignored SIGINT for {STOP_GRACE:?} and was killed")));
        }
        Ok(FinalStats::new(&self.output(), status))
    }

    /// SIGINT, wait up to `grace`, SIGKILL, reap, join the readers. Returns the exit
    /// status and whether SIGKILL was needed.
    fn terminate(&mut self, grace: Duration) -> Result<(ExitStatus, bool)> {
        if let Some(status) = self.try_exit_status()? {
            self.join_readers();
            return Ok((status, false));
        }
        // The child is not reaped yet, so its pid cannot have been reused.
        let pid = self.child.id().to_string();
        let sent = Command::new("sh").args(["-c", "kill -s INT \"$0\"", &pid]).status();
        let deadline = Instant::now() + grace;
        let mut killed = false;
        let status = loop {
            if let Some(status) = self.try_exit_status()? {
                break status;
            }
            if sent.as_ref().map_or(true, |s| !s.success()) || Instant::now() >= deadline {
                let _ = self.child.kill();
                killed = true;
                let status = self.child.wait().map_err(|e| Error::new(format!("waitpid: {e}")))?;
                self.exit = Some(status);
                break status;
            }
            thread::sleep(POLL);
        };
        self.join_readers();
        remove_runtime_dir(&self.file_prefix);
        Ok((status, killed))
    }

    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    /// Polls `check` over the output until it says done, fails, the process exits or
    /// the time is up.
    fn wait_until(
        &mut self,
        timeout: Duration,
        what: &str,
        mut check: impl FnMut(&str) -> std::result::Result<bool, String>,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            // Look at the exit first, so that output printed just before exiting counts.
            let exited = self.try_exit_status()?;
            if exited.is_some() {
                self.join_readers();
            }
            match check(&self.output()) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(why) => return Err(self.error(&format!("while waiting for {what}: {why}"))),
            }
            if let Some(status) = exited {
                return Err(self.error(&format!("testpmd exited ({status}) while waiting for {what}")));
            }
            if Instant::now() >= deadline {
                return Err(self.error(&format!("no {what} within {timeout:?}")));
            }
            thread::sleep(POLL);
        }
    }

    /// An error that quotes the end of the output.
    fn error(&self, what: &str) -> Error {
        let output = self.output();
        let lines: Vec<&str> = output.lines().collect();
        let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
        Error::new(format!(
            "testpmd {} ({:?}, pid {}, {:.1} s after start): {what}\n--- last {TAIL_LINES} lines of its output ---\n{tail}",
            self.file_prefix,
            self.opts.role,
            self.child.id(),
            self.started.elapsed().as_secs_f64(),
        ))
    }
}

impl Drop for Testpmd {
    fn drop(&mut self) {
        // terminate() always reaps, SIGKILL as the last resort; nothing to report here.
        if self.terminate(STOP_GRACE).is_err() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.join_readers();
        remove_runtime_dir(&self.file_prefix);
    }
}

/// Where DPDK puts the runtime folder of a file prefix: /var/run/dpdk as root, else
/// $XDG_RUNTIME_DIR/dpdk or /tmp/dpdk.
fn runtime_bases() -> Vec<PathBuf> {
    let mut bases = vec![PathBuf::from("/var/run/dpdk"), PathBuf::from("/tmp/dpdk")];
    if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR") {
        bases.push(PathBuf::from(xdg).join("dpdk"));
    }
    bases
}

/// Removes the runtime folder DPDK leaves for one of our file prefixes.
fn remove_runtime_dir(file_prefix: &str) {
    for base in runtime_bases() {
        let _ = std::fs::remove_dir_all(base.join(file_prefix));
    }
}

/// Removes runtime folders of our prefix (`memif-rs-<pid>-<n>`) whose test process no
/// longer exists: left when a test binary was killed (its testpmd died with it, through
/// the parent-death signal, but nobody removed the folder).
fn sweep_stale_runtime_dirs() {
    for base in runtime_bases() {
        let Ok(entries) = std::fs::read_dir(&base) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) =
                name.to_str().and_then(|n| n.strip_prefix("memif-rs-")).and_then(|n| n.split_once('-'))
            else {
                continue;
            };
            if pid.0.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{}", pid.0)).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// Reads a pipe to its end, appending whole lines (escape sequences removed) to `out`.
fn spawn_reader(mut pipe: impl Read + Send + 'static, out: Arc<Mutex<String>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = match pipe.read(&mut buf) {
                Ok(0) | Err(_) => 0,
                Ok(n) => n,
            };
            if n == 0 {
                if !pending.is_empty() {
                    pending.push(b'\n');
                    append_clean(&out, &pending);
                }
                return;
            }
            pending.extend_from_slice(&buf[..n]);
            if let Some(last_nl) = pending.iter().rposition(|&b| b == b'\n') {
                let rest = pending.split_off(last_nl + 1);
                append_clean(&out, &pending);
                pending = rest;
            }
        }
    })
}

fn append_clean(out: &Mutex<String>, bytes: &[u8]) {
    let text = strip_escapes(&String::from_utf8_lossy(bytes));
    out.lock().unwrap_or_else(|p| p.into_inner()).push_str(&text);
}

/// Removes ANSI CSI sequences (`ESC [ params final-byte`), such as testpmd's
/// clear-screen `ESC[2J ESC[1;1H`, and any other ESC character.
pub fn strip_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // Parameter and intermediate bytes, then one final byte in '@'..='~'.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

/// Why testpmd has no memif port, if its output says so.
fn probe_failure(text: &str) -> Option<String> {
    let markers = ["No probed ethernet devices", "failed to initialize net_memif", "Failed to setup socket"];
    if !markers.iter().any(|m| text.contains(m)) {
        return None;
    }
    let detail: Vec<&str> =
        text.lines().filter(|l| l.contains("memif") || markers.iter().any(|m| l.contains(m))).collect();
    Some(format!("the memif probe failed, testpmd has 0 ports: {}", detail.join(" | ")))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LinkEvent {
    Up,
    Down,
}

/// The link events in testpmd's output.
#[derive(Debug, Default)]
struct LinkLog {
    last: Option<LinkEvent>,
    /// The reason of the last `Disconnect received: <reason>`.
    refusal: Option<String>,
    connect_failed: bool,
}

impl LinkLog {
    fn parse(text: &str) -> LinkLog {
        let mut log = LinkLog::default();
        for line in text.lines() {
            if line.contains("memif_connect(): Connected.") {
                log.last = Some(LinkEvent::Up);
            } else if line.contains("memif_disconnect(): Disconnected") {
                log.last = Some(LinkEvent::Down);
            } else if let Some((_, reason)) = line.split_once("Disconnect received: ") {
                log.refusal = Some(reason.trim().to_owned());
            } else if line.contains("Failed to connect socket") {
                log.connect_failed = true;
            }
        }
        log
    }
}

/// One periodic `NIC statistics for port N` block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub rx_missed: u64,
    pub rx_bytes: u64,
    pub rx_errors: u64,
    pub rx_nombuf: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_bytes: u64,
}

/// One `Forward statistics for port N` block, or the `Accumulated forward statistics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForwardStats {
    pub rx_packets: u64,
    pub rx_dropped: u64,
    pub rx_total: u64,
    pub tx_packets: u64,
    pub tx_dropped: u64,
    pub tx_total: u64,
}

/// One `Forward Stats for RX Port= P/Queue= Q -> TX Port= P/Queue= Q` block (printed
/// only when there is more than one stream). Unlike the port counters, these keep
/// their counts after the peer disconnects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub rx_port: u16,
    pub rx_queue: u16,
    pub tx_port: u16,
    pub tx_queue: u16,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub tx_dropped: u64,
}

/// What testpmd reported by the time it exited.
#[derive(Clone, Debug)]
pub struct FinalStats {
    /// How it exited.
    pub status: ExitStatus,
    /// Why the exit was not clean (signal or non-zero status), if it was not.
    pub crash: Option<String>,
    /// The latest periodic block per port.
    pub periodic: BTreeMap<u16, PortStats>,
    /// The `Forward statistics for port N` blocks.
    pub forward: BTreeMap<u16, ForwardStats>,
    /// The per-stream blocks (only with more than one stream).
    pub streams: Vec<StreamStats>,
    /// The `Accumulated forward statistics for all ports` block.
    pub accumulated: Option<ForwardStats>,
}

impl FinalStats {
    fn new(output: &str, status: ExitStatus) -> FinalStats {
        let parsed = parse_stats(output);
        let crash =
            (!status.success()).then(|| match std::os::unix::process::ExitStatusExt::signal(&status) {
                Some(sig) => format!("killed by signal {sig}{}", if sig == 11 { " (SIGSEGV)" } else { "" }),
                None => format!("exit status {:?}", status.code()),
            });
        FinalStats {
            status,
            crash,
            periodic: parsed.periodic,
            forward: parsed.forward,
            streams: parsed.streams,
            accumulated: parsed.accumulated,
        }
    }

    /// Port 0's final forward statistics.
    pub fn port0(&self) -> Option<ForwardStats> {
        self.forward.get(&0).copied()
    }
}

/// Everything [`parse_stats`] finds in testpmd's output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedStats {
    /// The latest complete periodic block per port.
    pub periodic: BTreeMap<u16, PortStats>,
    /// The last `Forward statistics for port N` block per port.
    pub forward: BTreeMap<u16, ForwardStats>,
    /// The per-stream blocks of the last stop.
    pub streams: Vec<StreamStats>,
    /// The last accumulated block.
    pub accumulated: Option<ForwardStats>,
}

enum Block {
    Periodic(u16, PortStats),
    Forward(u16, ForwardStats),
    Stream(StreamStats),
    Accumulated(ForwardStats),
}

/// Parses testpmd's statistics blocks out of its (escape-free) output.
///
/// Lines are read as `KEY: NUMBER` pairs between a block's header and its closing line
/// (`####...`, `----...`, `++++...`); other lines in between (log lines from other
/// threads) are ignored. A periodic block counts only once its closing line arrived,
/// so a block being printed is never half-read.
pub fn parse_stats(text: &str) -> ParsedStats {
    let mut parsed = ParsedStats::default();
    let mut open: Option<Block> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        // A header opens a block (and ends a stream block, which has no closing line).
        let header = if let Some(port) = header_port(trimmed, "NIC statistics for port") {
            Some(Block::Periodic(port, PortStats::default()))
        } else if let Some(port) = header_port(trimmed, "Forward statistics for port") {
            Some(Block::Forward(port, ForwardStats::default()))
        } else if trimmed.contains("Accumulated forward statistics for all ports") {
            Some(Block::Accumulated(ForwardStats::default()))
        } else {
            parse_stream_header(trimmed).map(Block::Stream)
        };
        if let Some(block) = header {
            if let Some(Block::Stream(s)) = open.take() {
                parsed.streams.push(s);
            }
            open = Some(block);
            continue;
        }
        let closing = trimmed.len() >= 20
            && (trimmed.bytes().all(|b| b == b'#')
                || trimmed.bytes().all(|b| b == b'-')
                || trimmed.bytes().all(|b| b == b'+'));
        if closing || trimmed.is_empty() {
            match open.take() {
                Some(Block::Periodic(port, s)) if closing => {
                    parsed.periodic.insert(port, s);
                }
                Some(Block::Forward(port, s)) if closing => {
                    parsed.forward.insert(port, s);
                }
                Some(Block::Accumulated(s)) if closing => parsed.accumulated = Some(s),
                Some(Block::Stream(s)) => parsed.streams.push(s),
                // A blank line inside a periodic block ("Throughput" follows one): keep it open.
                Some(other) if !closing => open = Some(other),
                _ => {}
            }
            continue;
        }
        let Some(block) = open.as_mut() else { continue };
        for (key, value) in counters(trimmed) {
            match block {
                Block::Periodic(_, s) => match key {
                    "RX-packets" => s.rx_packets = value,
                    "RX-missed" => s.rx_missed = value,
                    "RX-bytes" => s.rx_bytes = value,
                    "RX-errors" => s.rx_errors = value,
                    "RX-nombuf" => s.rx_nombuf = value,
                    "TX-packets" => s.tx_packets = value,
                    "TX-errors" => s.tx_errors = value,
                    "TX-bytes" => s.tx_bytes = value,
                    _ => {}
                },
                Block::Forward(_, s) | Block::Accumulated(s) => match key {
                    "RX-packets" => s.rx_packets = value,
                    "RX-dropped" => s.rx_dropped = value,
                    "RX-total" => s.rx_total = value,
                    "TX-packets" => s.tx_packets = value,
                    "TX-dropped" => s.tx_dropped = value,
                    "TX-total" => s.tx_total = value,
                    _ => {}
                },
                Block::Stream(s) => match key {
                    "RX-packets" => s.rx_packets = value,
                    "TX-packets" => s.tx_packets = value,
                    "TX-dropped" => s.tx_dropped = value,
                    _ => {}
                },
            }
        }
    }
    if let Some(Block::Stream(s)) = open {
        parsed.streams.push(s);
    }
    // Keep only the streams of the last stop (one stop per testpmd in practice).
    let first_of_last = last_stop_start(&parsed.streams);
    parsed.streams.drain(..first_of_last);
    parsed
}

/// Index of the first stream block of the last stop: the stream list starts over
/// when a (port, queue) pair repeats.
fn last_stop_start(streams: &[StreamStats]) -> usize {
    let key = |s: &StreamStats| (s.rx_port, s.rx_queue, s.tx_port, s.tx_queue);
    let mut start = 0;
    for i in 0..streams.len() {
        if streams[start..i].iter().any(|s| key(s) == key(&streams[i])) {
            start = i;
        }
    }
    start
}

/// `N` in a header like `#### NIC statistics for port 0  ####`.
fn header_port(line: &str, title: &str) -> Option<u16> {
    let (_, rest) = line.split_once(title)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// `------- Forward Stats for RX Port= 0/Queue= 1 -> TX Port= 0/Queue= 1 -------`
fn parse_stream_header(line: &str) -> Option<StreamStats> {
    let (_, rest) = line.split_once("Forward Stats for RX Port=")?;
    let (rx, tx) = rest.split_once("-> TX Port=")?;
    let port_queue = |s: &str| -> Option<(u16, u16)> {
        let (port, queue) = s.split_once("/Queue=")?;
        let queue = queue.split_whitespace().next()?;
        Some((port.trim().parse().ok()?, queue.parse().ok()?))
    };
    let (rx_port, rx_queue) = port_queue(rx)?;
    let (tx_port, tx_queue) = port_queue(tx)?;
    Some(StreamStats { rx_port, rx_queue, tx_port, tx_queue, ..StreamStats::default() })
}

/// The `KEY: NUMBER` pairs of one line, e.g. `RX-packets: 5    RX-missed: 0`.
fn counters(line: &str) -> Vec<(&str, u64)> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    tokens.windows(2).filter_map(|pair| Some((pair[0].strip_suffix(':')?, pair[1].parse().ok()?))).collect()
}
