//! The subcommands, each a loop over memif interfaces from `memif-conn` and the pieces
//! in this crate. Every one returns its [`Summary`](crate::report::Summary) and exit status; `main` prints.

use std::time::{Duration, Instant};

use memif_conn::{
    Event, InterfaceConfig, InterfaceId, Queues, RxMode as ConnRxMode, Socket, SocketOptions, SocketPath,
};

use crate::cli::{InterfaceOpts, RxMode, SocketAddr};
use crate::pcap::PcapFile;
use crate::signals::StopFlag;

pub mod demo;
pub mod forward;
pub mod loopback;
pub mod ping;
pub mod responder;
pub mod tap;
pub mod traffic;

/// Where progress lines go: stdout normally, stderr under `--json` (so stdout holds only
/// the JSON summary).
#[derive(Clone, Copy, Debug)]
pub struct Out {
    /// `--json` given.
    pub json: bool,
    /// Print nothing but errors (demo's inner parts).
    pub quiet: bool,
}

impl Out {
    /// A progress line.
    pub fn line(&self, s: &str) {
        if self.quiet {
            return;
        }
        if self.json {
            eprintln!("{s}");
        } else {
            println!("{s}");
        }
    }
    /// A status line (connects, disconnects): always stderr.
    pub fn status(&self, s: &str) {
        if !self.quiet {
            eprintln!("{s}");
        }
    }
}

/// The memif-conn path for a command-line socket.
pub fn socket_path(a: &SocketAddr) -> SocketPath {
    match a {
        SocketAddr::Path(p) => SocketPath::Path(p.clone()),
        SocketAddr::Abstract(n) => SocketPath::Abstract(n.clone()),
    }
}

/// The memif-conn configuration for command-line options.
pub fn config(o: &InterfaceOpts) -> InterfaceConfig {
    let mut c = InterfaceConfig::new(o.id, o.role);
    c.interface_name = o.name;
    c.secret = o.secret;
    c.s2m_queues = o.queues;
    c.m2s_queues = o.queues;
    c.log2_ring_size = o.log2_ring_size;
    c.buffer_size = o.buffer_size;
    c.rx_mode = conn_rx_mode(o.rx_mode);
    c.reconnect_interval = Duration::from_secs(1);
    c
}

/// The memif-conn RX mode for a command-line one.
pub fn conn_rx_mode(m: RxMode) -> ConnRxMode {
    match m {
        RxMode::Interrupt => ConnRxMode::Interrupt,
        RxMode::Polling => ConnRxMode::Polling,
    }
}

/// A control socket with the interfaces of one subcommand, and their queues while
/// connected.
pub struct Endpoint {
    /// The socket.
    pub sock: Socket,
    /// Interfaces, in the order given.
    pub ifaces: Vec<InterfaceId>,
    /// Queues of each interface while its link is up.
    pub queues: Vec<Option<Queues>>,
    /// Queues of each interface whose link just went down, until taken: what the peer
    /// put on their RX rings before it left can still be read with `RxQueue::drain`.
    pub left: Vec<Option<Queues>>,
    names: Vec<String>,
    /// Times an interface connected.
    pub connects: u64,
    /// Interrupts seen since the last [`Endpoint::poll`] (interrupt mode).
    pub interrupted: bool,
    pcap: Option<PcapFile>,
    out: Out,
}

impl Endpoint {
    /// Opens `opts` (all on the same socket).
    pub fn open(opts: &[InterfaceOpts], out: Out) -> Result<Endpoint, String> {
        let path = socket_path(&opts[0].socket);
        let mut sock = Socket::new(path, SocketOptions::default()).map_err(|e| e.to_string())?;
        let mut ifaces = Vec::new();
        let mut names = Vec::new();
        for o in opts {
            ifaces.push(sock.add_interface(config(o)).map_err(|e| e.to_string())?);
            names.push(o.name.to_string());
        }
        let pcap = match opts.iter().find_map(|o| o.pcap.clone()) {
            Some(p) => Some(open_pcap(&p)?),
            None => None,
        };
        let queues = ifaces.iter().map(|_| None).collect();
        let left = ifaces.iter().map(|_| None).collect();
        Ok(Endpoint { sock, ifaces, queues, left, names, connects: 0, interrupted: false, pcap, out })
    }

    /// Handles control events for up to `timeout`. Returns whether any link changed.
    pub fn poll(&mut self, timeout: Duration) -> Result<bool, String> {
        let mut ev = Vec::new();
        self.sock.poll(Some(timeout), &mut ev).map_err(|e| e.to_string())?;
        let mut changed = false;
        for e in ev {
            match e {
                Event::Connected { iface, queues, peer_name } => {
                    if let Some(i) = self.ifaces.iter().position(|&x| x == iface) {
                        self.out.status(&format!(
                            "{}: connected to {} on {}",
                            self.names[i],
                            peer_name,
                            self.sock.path()
                        ));
                        self.queues[i] = Some(queues);
                        self.connects += 1;
                        changed = true;
                    }
                }
                Event::Disconnected { iface, reason, origin } => {
                    if let Some(i) = self.ifaces.iter().position(|&x| x == iface) {
                        let who = match origin {
                            memif_conn::Origin::Local => "by us",
                            memif_conn::Origin::Remote => "by the peer",
                        };
                        self.out.status(&format!("{}: disconnected {who}: {reason}", self.names[i]));
                        self.left[i] = self.queues[i].take();
                        changed = true;
                    }
                }
                Event::Refused { id, reason } => {
                    let id = id.map(|i| i.to_string()).unwrap_or_else(|| "?".into());
                    self.out.status(&format!("refused a connection for id {id}: {reason}"));
                }
                Event::Interrupt { .. } => self.interrupted = true,
            }
        }
        Ok(changed)
    }

    /// Waits until every interface is connected, `stop` is set, or `timeout` passes.
    pub fn wait_connected(&mut self, stop: &StopFlag, timeout: Option<Duration>) -> Result<bool, String> {
        let end = timeout.map(|t| Instant::now() + t);
        while !self.queues.iter().all(|q| q.is_some()) {
            if stop.should_stop() || end.is_some_and(|e| Instant::now() >= e) {
                if let Some(i) = self.queues.iter().position(|q| q.is_none()) {
                    if let Some(err) = self.sock.last_error(self.ifaces[i]) {
                        self.out.status(&format!("{}: not connected: {err}", self.names[i]));
                    }
                }
                return Ok(false);
            }
            self.poll(Duration::from_millis(50))?;
        }
        Ok(true)
    }

    /// Writes a frame to the capture, if one was asked for.
    pub fn capture(&mut self, segments: &[&[u8]]) {
        if let Some(p) = &mut self.pcap {
            if let Err(e) = p.write_chain(segments) {
                eprintln!("memif: pcap: {e}; capture stopped");
                self.pcap = None;
            }
        }
    }

    /// Whether frames are captured.
    pub fn capturing(&self) -> bool {
        self.pcap.is_some()
    }

    /// Flushes the capture.
    pub fn finish(&mut self) -> Result<(), String> {
        match self.pcap.take() {
            Some(p) => p.finish().map_err(|e| format!("pcap: {e}")),
            None => Ok(()),
        }
    }
}

fn open_pcap(p: &std::path::Path) -> Result<PcapFile, String> {
    PcapFile::create(p).map_err(|e| format!("cannot create {}: {e}", p.display()))
}

/// How long a loop waits for control events: long in interrupt mode (an interrupt wakes
/// it), not at all when polling.
pub fn idle_wait(mode: RxMode) -> Duration {
    match mode {
        RxMode::Interrupt => crate::signals::STOP_CHECK_INTERVAL,
        RxMode::Polling => Duration::ZERO,
    }
}

/// How often a spinning loop looks at the control channel (connects, disconnects).
pub const CONTROL_INTERVAL: Duration = Duration::from_millis(1);

/// Paces the looks of a polling loop at the control channel. A look is a system call
/// of about a microsecond: made every few dozen passes of a loop whose pass takes tens
/// of nanoseconds, it kept the loop in the kernel most of the time, and a packet that
/// came meanwhile waited for it. Once per [`CONTROL_INTERVAL`] is plenty for control
/// messages; the clock is read only every 64 passes.
#[derive(Debug)]
pub struct ControlPacer {
    passes: u32,
    last: Instant,
    interval: Duration,
}

impl ControlPacer {
    /// A pacer whose first look is due after one [`CONTROL_INTERVAL`].
    pub fn new() -> ControlPacer {
        ControlPacer::every(CONTROL_INTERVAL)
    }

    /// A pacer with its own interval.
    pub fn every(interval: Duration) -> ControlPacer {
        ControlPacer { passes: 0, last: Instant::now(), interval }
    }

    /// Counts a pass; true when this one should look at the control channel.
    #[inline]
    pub fn due(&mut self) -> bool {
        self.passes = self.passes.wrapping_add(1);
        if self.passes % 64 != 0 {
            return false;
        }
        let now = Instant::now();
        if now.duration_since(self.last) < self.interval {
            return false;
        }
        self.last = now;
        true
    }
}

impl Default for ControlPacer {
    fn default() -> Self {
        ControlPacer::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_pacer_reads_the_clock_every_64_passes() {
        // an interval already over at every look: due at each 64th pass exactly
        let mut p = ControlPacer::every(Duration::ZERO);
        let due: Vec<usize> = (1..=640).filter(|_| p.due()).collect();
        assert_eq!(due, (1..=10).map(|i| i * 64).collect::<Vec<_>>());
        // an interval not over: never due, however many passes
        let mut p = ControlPacer::every(Duration::from_secs(3600));
        assert_eq!((0..100_000).filter(|_| p.due()).count(), 0);
    }
}
