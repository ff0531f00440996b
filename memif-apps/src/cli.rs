//! Command line of the `memif` binary: every subcommand and the interface options they
//! share, parsed with clap and checked at parse time.
//!
//! Every check runs inside a clap `value_parser`, so a bad value ends the program the
//! way clap's own errors do (one line on stderr, exit status 2; see `main.rs`), never
//! with a panic. [`InterfaceOpts`] is what the rest of the program uses: the same
//! values in the protocol's terms (log2 ring size, checked wire-field names, a socket
//! address that fits `sun_path`).

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use memif_proto::{InterfaceName, Role as ProtoRole, Secret, MAX_LOG2_RING_SIZE, MIN_LOG2_RING_SIZE};

/// Size of `sun_path` in `struct sockaddr_un` on Linux, terminating NUL included.
pub const SUN_PATH_LEN: usize = 108;

/// Longest TAP device name Linux accepts (`IFNAMSIZ` 16, less the NUL).
pub const MAX_TAP_NAME_LEN: usize = 15;

/// Smallest frame `gen` sends: an Ethernet header plus the test frame's sequence
/// number and length (see [`crate::packet::TEST_FRAME_MIN_LEN`]).
const GEN_MIN_FRAME: usize = crate::packet::TEST_FRAME_MIN_LEN;

/// `memif`: a memif (FD.io VPP shared-memory packet interface) endpoint for testing.
#[derive(Debug, Parser)]
#[command(
    name = "memif",
    version,
    about = "Shared-memory packet interface (FD.io memif 2.0) tools: ICMP responder, ping, \
             traffic generator and sink, loopback, forwarder, TAP bridge",
    long_about = "Shared-memory packet interface (FD.io memif 2.0) tools.\n\n\
        Each subcommand opens a memif interface on a control socket (VPP's default is \
        /run/vpp/memif.sock) as master or slave, and talks to the peer at the other end: \
        VPP, DPDK's net_memif, libmemif, or another `memif`. \
        The slave owns the shared memory; the master listens on the socket.\n\n\
        Try `memif demo` first: it needs nothing else running.",
    after_help = "Examples:\n  \
        memif demo\n  \
        memif icmp-responder --role master --socket /run/vpp/memif.sock --ip 192.168.1.1\n  \
        memif ping 192.168.1.1 -c 5 --src-ip 192.168.1.2\n  \
        memif gen --size 64 --duration 10 --role slave\n  \
        memif sink --role master --count 1000000\n  \
        memif tap --tap memtap0 --role slave"
)]
pub struct Cli {
    /// At the end, print one JSON object with the counters (on stdout) instead of the
    /// human-readable summary.
    #[arg(long, global = true)]
    pub json: bool,

    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Answer ARP requests for an address and ICMPv4 echo requests (pings) to it.
    ///
    /// Like libmemif's icmp_responder, but it stays up when the peer goes away: a slave
    /// reconnects, a master keeps listening. Ctrl-C (SIGINT) or SIGTERM ends it and
    /// prints its counters.
    IcmpResponder(IcmpResponderArgs),
    /// Ping an IPv4 address on the memif link: resolve it with ARP, send ICMP echo
    /// requests, print one line per reply and ping's summary.
    ///
    /// Exit status 0 when at least one reply came, 1 when none did.
    Ping(PingArgs),
    /// Transmit test frames as fast as possible (txonly) and print the rate each second.
    ///
    /// Frames larger than --buffer-size go out chained over several descriptors.
    Gen(GenArgs),
    /// Receive frames (rxonly), print the rate each second and the totals at the end.
    Sink(SinkArgs),
    /// Open a master and a slave in this process over a real socket, send test frames
    /// out one side and check they come back intact on the other.
    Loopback(LoopbackArgs),
    /// Patch two interfaces together: what arrives on one is sent on the other.
    Forward(ForwardArgs),
    /// Bridge a Linux TAP device and a memif interface both ways, so the kernel's own
    /// tools (ping, tcpdump, ...) reach the memif peer.
    Tap(TapArgs),
    /// Self-contained demonstration: an ICMP responder and a pinger over a memif socket
    /// in a temporary directory. Needs no VPP and nothing else running.
    Demo(DemoArgs),
}

impl Command {
    /// The subcommand's name as typed on the command line (`icmp-responder`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Command::IcmpResponder(_) => "icmp-responder",
            Command::Ping(_) => "ping",
            Command::Gen(_) => "gen",
            Command::Sink(_) => "sink",
            Command::Loopback(_) => "loopback",
            Command::Forward(_) => "forward",
            Command::Tap(_) => "tap",
            Command::Demo(_) => "demo",
        }
    }
}

/// Options every interface has, except its role and id (see [`EndpointArgs`]).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Interface options")]
pub struct InterfaceArgs {
    /// Control socket. A leading `@` names an abstract socket (`@name`, as libmemif
    /// writes it; VPP's CLI says `abstract:name`).
    #[arg(long, value_name = "PATH", default_value = memif_proto::DEFAULT_SOCKET_PATH, value_parser = parse_socket)]
    pub socket: SocketAddr,

    /// Interface name sent to the peer in CONNECT/CONNECTED (at most 31 bytes).
    /// Default: `memif<ID>`.
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    pub name: Option<InterfaceName>,

    /// Shared secret the master checks (at most 23 bytes).
    #[arg(long, value_name = "S", value_parser = parse_secret)]
    pub secret: Option<Secret>,

    /// Queues (rings) in each direction; the slave may get fewer if the master allows
    /// fewer.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=255))]
    pub queues: u16,

    /// Descriptors per ring: a power of two from 2 to 16384.
    #[arg(long, value_name = "N", default_value = "1024", value_parser = parse_ring_size)]
    pub ring_size: RingSize,

    /// Size in bytes of each packet buffer in shared memory (64 to 65535).
    #[arg(long, value_name = "N", default_value_t = memif_proto::DEFAULT_BUFFER_SIZE, value_parser = clap::value_parser!(u32).range(64..=65535))]
    pub buffer_size: u32,

    /// How to wait for received packets: sleep on the ring's interrupt (eventfd) or
    /// spin polling the ring.
    #[arg(long, value_name = "MODE", value_enum, default_value_t = RxMode::Interrupt)]
    pub rx_mode: RxMode,

    /// Write every frame sent and received to this pcap file (Ethernet link type).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
}

/// Role and id of one interface, with the shared options.
#[derive(Debug, Clone, Args)]
pub struct EndpointArgs {
    /// Role on the control socket: the master listens, the slave connects (and owns the
    /// shared memory).
    #[arg(long, value_name = "ROLE", value_enum, default_value_t = Role::Slave, help_heading = "Interface options")]
    pub role: Role,

    /// Interface id; master and slave must use the same one.
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = "Interface options")]
    pub id: u32,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub iface: InterfaceArgs,
}

impl EndpointArgs {
    /// The interface in protocol terms.
    pub fn opts(&self) -> InterfaceOpts {
        InterfaceOpts::new(&self.iface, self.role.into(), self.id)
    }
}

/// `icmp-responder` options.
#[derive(Debug, Args)]
pub struct IcmpResponderArgs {
    /// IPv4 address to answer for.
    #[arg(long, value_name = "ADDR", default_value = "192.168.1.1", value_parser = parse_ipv4)]
    pub ip: Ipv4Addr,
    /// Our MAC address.
    #[arg(long, value_name = "MAC", default_value = "aa:aa:aa:aa:aa:aa", value_parser = parse_mac)]
    pub mac: MacAddr,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub endpoint: EndpointArgs,
}

/// `ping` options.
#[derive(Debug, Args)]
pub struct PingArgs {
    /// IPv4 address to ping.
    #[arg(value_name = "DEST", value_parser = parse_ipv4)]
    pub dest: Ipv4Addr,
    /// Stop after sending COUNT echo requests (and waiting for their replies).
    #[arg(short = 'c', long, value_name = "COUNT", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,
    /// Our IPv4 address (source of ARP and echo requests).
    #[arg(long, value_name = "ADDR", default_value = "192.168.1.2", value_parser = parse_ipv4)]
    pub src_ip: Ipv4Addr,
    /// Our MAC address.
    #[arg(long, value_name = "MAC", default_value = "02:fe:00:00:00:02", value_parser = parse_mac)]
    pub mac: MacAddr,
    /// ICMP payload bytes, as ping's -s (the ICMP message is 8 bytes more).
    #[arg(short = 's', long, value_name = "N", default_value_t = 56, value_parser = clap::value_parser!(u16).range(0..=crate::packet::MAX_ECHO_PAYLOAD as i64))]
    pub size: u16,
    /// Seconds between echo requests (fractions allowed, at least 0.001).
    #[arg(short = 'i', long, value_name = "SECONDS", default_value = "1", value_parser = parse_interval)]
    pub interval: Duration,
    /// Seconds to wait for the ARP reply, and for the last echo reply after the last
    /// request.
    #[arg(short = 'W', long, value_name = "SECONDS", default_value = "1", value_parser = parse_interval)]
    pub timeout: Duration,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub endpoint: EndpointArgs,
}

/// When a traffic test stops: after a number of frames or a time.
#[derive(Debug, Clone, Args)]
#[group(multiple = false)]
pub struct StopArgs {
    /// Stop after N frames.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Stop after S seconds (fractions allowed).
    #[arg(long, value_name = "S", value_parser = parse_interval)]
    pub duration: Option<Duration>,
}

impl StopArgs {
    /// The condition; without either option, until Ctrl-C.
    pub fn stop_after(&self) -> StopAfter {
        match (self.count, self.duration) {
            (Some(n), _) => StopAfter::Count(n),
            (None, Some(d)) => StopAfter::Duration(d),
            (None, None) => StopAfter::Signal,
        }
    }
}

/// When `gen` or `sink` stops (besides SIGINT/SIGTERM, which always stop it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopAfter {
    /// After this many frames.
    Count(u64),
    /// After this long.
    Duration(Duration),
    /// Only on a signal.
    Signal,
}

/// `gen` options.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Ethernet frame size in bytes, without FCS (26 to 65535). Frames larger than
    /// --buffer-size go out chained.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(GEN_MIN_FRAME as i64..=65535))]
    pub size: u32,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub stop: StopArgs,
    /// Frames per transmit burst.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub burst: u16,
    /// After the last frame was taken by the peer, keep the link up this many seconds
    /// (fractions allowed) before leaving, e.g. so a peer that resets its counters on
    /// disconnect can still be read. Ends early on SIGINT/SIGTERM or when the peer
    /// leaves.
    #[arg(long, value_name = "SECONDS", value_parser = parse_interval)]
    pub linger: Option<Duration>,
    /// Seconds of traffic (fractions allowed) before measuring starts: the totals, the
    /// final summary and --count/--duration count only what comes after. The warm-up
    /// starts at link up for gen and at the first frame received for sink.
    #[arg(long, value_name = "SECONDS", value_parser = parse_interval)]
    pub warmup: Option<Duration>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub endpoint: EndpointArgs,
}

/// `sink` options.
#[derive(Debug, Args)]
pub struct SinkArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub stop: StopArgs,
    /// Seconds of traffic (fractions allowed) before measuring starts: the totals, the
    /// final summary and --count/--duration count only what comes after. The warm-up
    /// starts at link up for gen and at the first frame received for sink.
    #[arg(long, value_name = "SECONDS", value_parser = parse_interval)]
    pub warmup: Option<Duration>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub endpoint: EndpointArgs,
}

/// `loopback` options.
#[derive(Debug, Args)]
pub struct LoopbackArgs {
    /// Send from the master to the slave instead of from the slave to the master.
    #[arg(long)]
    pub reverse: bool,
    /// Test frames to send.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,
    /// Interface id used by both ends.
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = "Interface options")]
    pub id: u32,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub iface: InterfaceArgs,
}

impl LoopbackArgs {
    /// The two ends: (master, slave).
    pub fn opts(&self) -> (InterfaceOpts, InterfaceOpts) {
        (
            InterfaceOpts::new(&self.iface, ProtoRole::Master, self.id),
            InterfaceOpts::new(&self.iface, ProtoRole::Slave, self.id),
        )
    }
}

/// `forward` options.
#[derive(Debug, Args)]
pub struct ForwardArgs {
    /// Id of the first interface.
    #[arg(long = "id-a", value_name = "N")]
    pub id_a: u32,
    /// Id of the second interface.
    #[arg(long = "id-b", value_name = "M")]
    pub id_b: u32,
    /// Role of both interfaces on the control socket.
    #[arg(long, value_name = "ROLE", value_enum, default_value_t = Role::Master, help_heading = "Interface options")]
    pub role: Role,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub iface: InterfaceArgs,
}

impl ForwardArgs {
    /// The two interfaces (a, b).
    pub fn opts(&self) -> (InterfaceOpts, InterfaceOpts) {
        (
            InterfaceOpts::new(&self.iface, self.role.into(), self.id_a),
            InterfaceOpts::new(&self.iface, self.role.into(), self.id_b),
        )
    }
}

/// `tap` options.
#[derive(Debug, Args)]
pub struct TapArgs {
    /// Name of the TAP device to create (at most 15 bytes), e.g. memtap0. Configure it
    /// with `ip` once it exists.
    #[arg(long, value_name = "NAME", value_parser = parse_tap_name)]
    pub tap: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub endpoint: EndpointArgs,
}

/// `demo` options (none besides the global --json).
#[derive(Debug, Args)]
pub struct DemoArgs {}

/// Role as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Listen on the control socket; map what the slave offers.
    Master,
    /// Connect to the control socket; own the shared memory.
    Slave,
}

impl From<Role> for ProtoRole {
    fn from(r: Role) -> ProtoRole {
        match r {
            Role::Master => ProtoRole::Master,
            Role::Slave => ProtoRole::Slave,
        }
    }
}

/// How received packets are waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RxMode {
    /// Sleep until the peer signals the ring's eventfd.
    Interrupt,
    /// Spin on the ring (the peer is asked not to signal).
    Polling,
}

/// A ring size, kept as its base-2 logarithm as memif's ADD_RING and HELLO carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingSize {
    log2: u8,
}

impl RingSize {
    /// The ring size for `entries` descriptors: a power of two from 2 to 16384.
    pub fn from_entries(entries: u32) -> Result<RingSize, String> {
        let min = 1u32 << MIN_LOG2_RING_SIZE;
        let max = 1u32 << MAX_LOG2_RING_SIZE;
        if !entries.is_power_of_two() {
            return Err(format!("ring size must be a power of two ({min} to {max}), not {entries}"));
        }
        if !(min..=max).contains(&entries) {
            return Err(format!("ring size must be from {min} to {max}, not {entries}"));
        }
        Ok(RingSize { log2: entries.trailing_zeros() as u8 })
    }

    /// log2 of the number of descriptors.
    pub fn log2(self) -> u8 {
        self.log2
    }

    /// Number of descriptors.
    pub fn entries(self) -> u32 {
        1 << self.log2
    }
}

/// A MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

/// Where the control socket is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketAddr {
    /// A file-system path; its bytes plus a NUL fit in `sun_path`.
    Path(PathBuf),
    /// An abstract name (written `@name`): `sun_path` gets a NUL, then these bytes, and
    /// the address length counts only them (as libmemif does).
    Abstract(Vec<u8>),
}

impl fmt::Display for SocketAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketAddr::Path(p) => write!(f, "{}", p.display()),
            SocketAddr::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
        }
    }
}

/// One interface's settings, in the protocol's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceOpts {
    /// Control socket.
    pub socket: SocketAddr,
    /// Master or slave.
    pub role: ProtoRole,
    /// Interface id (INIT's `id`).
    pub id: u32,
    /// Interface name (CONNECT/CONNECTED).
    pub name: InterfaceName,
    /// Secret (INIT's `secret`); `None` sends/expects an empty one.
    pub secret: Option<Secret>,
    /// Rings per direction wanted.
    pub queues: u16,
    /// log2 of the descriptors per ring.
    pub log2_ring_size: u8,
    /// Bytes per packet buffer.
    pub buffer_size: u32,
    /// How received packets are waited for.
    pub rx_mode: RxMode,
    /// Where to write a pcap of every frame, if anywhere.
    pub pcap: Option<PathBuf>,
}

impl InterfaceOpts {
    /// Combines the shared options with one interface's role and id.
    pub fn new(args: &InterfaceArgs, role: ProtoRole, id: u32) -> InterfaceOpts {
        let name = match args.name {
            Some(n) => n,
            // "memif" + at most 10 digits always fits the 31-byte field.
            None => InterfaceName::truncated(&format!("memif{id}")),
        };
        InterfaceOpts {
            socket: args.socket.clone(),
            role,
            id,
            name,
            secret: args.secret,
            queues: args.queues,
            log2_ring_size: args.ring_size.log2(),
            buffer_size: args.buffer_size,
            rx_mode: args.rx_mode,
            pcap: args.pcap.clone(),
        }
    }
}

/// Parses `--socket`: a path, or `@name` for an abstract socket; checks it fits
/// `sun_path`.
pub fn parse_socket(s: &str) -> Result<SocketAddr, String> {
    if let Some(name) = s.strip_prefix('@') {
        // sun_path[0] is the NUL that marks an abstract name; the name fills the rest.
        let max = SUN_PATH_LEN - 1;
        if name.is_empty() {
            return Err("abstract socket name after '@' is empty".into());
        }
        if name.len() > max {
            return Err(format!(
                "abstract socket name is {} bytes; at most {max} fit in sun_path",
                name.len()
            ));
        }
        Ok(SocketAddr::Abstract(name.as_bytes().to_vec()))
    } else {
        // The path and its terminating NUL must fit.
        let max = SUN_PATH_LEN - 1;
        if s.is_empty() {
            return Err("socket path is empty".into());
        }
        if s.len() > max {
            return Err(format!("socket path is {} bytes; at most {max} fit in sun_path", s.len()));
        }
        Ok(SocketAddr::Path(PathBuf::from(s)))
    }
}

/// Parses `--ring-size`.
pub fn parse_ring_size(s: &str) -> Result<RingSize, String> {
    let n: u32 =
        s.trim().parse().map_err(|_| format!("ring size must be a number of descriptors, not '{s}'"))?;
    RingSize::from_entries(n)
}

/// Parses an IPv4 address in dotted-quad form.
pub fn parse_ipv4(s: &str) -> Result<Ipv4Addr, String> {
    s.parse().map_err(|_| format!("'{s}' is not an IPv4 address (like 192.168.1.1)"))
}

/// Parses a MAC address written as six hex bytes separated by `:` or `-`.
pub fn parse_mac(s: &str) -> Result<MacAddr, String> {
    let bad = || format!("'{s}' is not a MAC address (like aa:bb:cc:dd:ee:ff)");
    let mut out = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for byte in &mut out {
        let p = parts.next().ok_or_else(bad)?;
        if p.is_empty() || p.len() > 2 {
            return Err(bad());
        }
        *byte = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(MacAddr(out))
}

/// Parses `--name` into the 32-byte wire field.
pub fn parse_name(s: &str) -> Result<InterfaceName, String> {
    InterfaceName::new(s).map_err(|e| format!("interface {e}"))
}

/// Parses `--secret` into the 24-byte wire field.
pub fn parse_secret(s: &str) -> Result<Secret, String> {
    Secret::new(s).map_err(|e| e.to_string())
}

/// Parses seconds (fractions allowed, at least a millisecond, at most a day).
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.trim().parse().map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(0.001..=86_400.0).contains(&secs) {
        return Err(format!("{s} seconds is out of range (0.001 to 86400)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses `--tap`: a Linux interface name.
pub fn parse_tap_name(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("TAP device name is empty".into());
    }
    if s.len() > MAX_TAP_NAME_LEN {
        return Err(format!("TAP device name is {} bytes; Linux allows at most {MAX_TAP_NAME_LEN}", s.len()));
    }
    if s == "." || s == ".." || s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(format!("'{s}' is not a valid Linux interface name"));
    }
    Ok(s.to_string())
}

/// A clap parse error as one line, without the `error: ` prefix, usage and tips: the
/// lines of its first paragraph joined (so "required arguments were not provided:"
/// keeps the names of the arguments).
pub fn error_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let line = rendered
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    line.strip_prefix("error: ").unwrap_or(&line).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("memif").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_in_protocol_terms() {
        let cli = parse(&["icmp-responder"]).unwrap();
        let Command::IcmpResponder(a) = cli.command else { panic!("wrong subcommand") };
        assert_eq!(a.ip, Ipv4Addr::new(192, 168, 1, 1));
        assert_eq!(a.mac, MacAddr([0xaa; 6]));
        let o = a.endpoint.opts();
        assert_eq!(o.socket, SocketAddr::Path("/run/vpp/memif.sock".into()));
        assert_eq!(o.role, ProtoRole::Slave);
        assert_eq!(o.id, 0);
        assert_eq!(o.name.as_bytes(), b"memif0");
        assert_eq!(o.secret, None);
        assert_eq!(o.queues, 1);
        assert_eq!(o.log2_ring_size, 10);
        assert_eq!(o.buffer_size, 2048);
        assert_eq!(o.rx_mode, RxMode::Interrupt);
        assert_eq!(o.pcap, None);
        assert!(!cli.json);
    }

    #[test]
    fn every_common_option_is_carried_through() {
        let cli = parse(&[
            "sink",
            "--json",
            "--socket",
            "@memif-test",
            "--role",
            "master",
            "--id",
            "7",
            "--name",
            "eth-test",
            "--secret",
            "s3cret",
            "--queues",
            "4",
            "--ring-size",
            "16384",
            "--buffer-size",
            "9216",
            "--rx-mode",
            "polling",
            "--pcap",
            "/tmp/x.pcap",
            "--count",
            "10",
        ])
        .unwrap();
        assert!(cli.json);
        let Command::Sink(a) = cli.command else { panic!("wrong subcommand") };
        assert_eq!(a.stop.stop_after(), StopAfter::Count(10));
        let o = a.endpoint.opts();
        assert_eq!(o.socket, SocketAddr::Abstract(b"memif-test".to_vec()));
        assert_eq!(o.socket.to_string(), "@memif-test");
        assert_eq!(o.role, ProtoRole::Master);
        assert_eq!(o.id, 7);
        assert_eq!(o.name.as_bytes(), b"eth-test");
        assert_eq!(o.secret.unwrap().as_bytes(), b"s3cret");
        assert_eq!(o.queues, 4);
        assert_eq!(o.log2_ring_size, 14);
        assert_eq!(o.buffer_size, 9216);
        assert_eq!(o.rx_mode, RxMode::Polling);
        assert_eq!(o.pcap, Some(PathBuf::from("/tmp/x.pcap")));
    }

    #[test]
    fn ring_size_becomes_log2_and_refuses_non_powers_of_two() {
        assert_eq!(parse_ring_size("2").unwrap().log2(), 1);
        assert_eq!(parse_ring_size("1024").unwrap().log2(), 10);
        assert_eq!(parse_ring_size("16384").unwrap().entries(), 16384);
        for bad in ["1000", "0", "1", "32768", "-4", "lots", ""] {
            assert!(parse_ring_size(bad).is_err(), "{bad} accepted");
        }
        let e = parse(&["sink", "--ring-size", "1000"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn socket_path_must_fit_sun_path() {
        let p107 = "/".to_string() + &"a".repeat(106);
        assert_eq!(parse_socket(&p107).unwrap(), SocketAddr::Path(p107.clone().into()));
        assert!(parse_socket(&(p107 + "a")).is_err());
        let a107 = "@".to_string() + &"b".repeat(107);
        assert!(matches!(parse_socket(&a107).unwrap(), SocketAddr::Abstract(n) if n.len() == 107));
        assert!(parse_socket(&(a107 + "b")).is_err());
        assert!(parse_socket("").is_err());
        assert!(parse_socket("@").is_err());
        let e = parse(&["gen", "--socket", &"x".repeat(200)]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn names_and_secrets_must_fit_their_wire_fields() {
        assert!(parse_name(&"n".repeat(31)).is_ok());
        assert!(parse_name(&"n".repeat(32)).is_err());
        assert!(parse_secret(&"s".repeat(23)).is_ok());
        assert!(parse_secret(&"s".repeat(24)).is_err());
        assert!(parse(&["sink", "--secret", &"s".repeat(24)]).is_err());
        assert!(parse(&["sink", "--name", &"n".repeat(32)]).is_err());
    }

    #[test]
    fn bad_role_ip_and_mac_are_refused() {
        assert_eq!(parse(&["sink", "--role", "server"]).unwrap_err().exit_code(), 2);
        assert!(parse(&["ping", "1.2.3"]).is_err());
        assert!(parse(&["icmp-responder", "--ip", "300.1.1.1"]).is_err());
        assert!(parse(&["icmp-responder", "--mac", "aa:aa:aa:aa:aa"]).is_err());
        assert!(parse(&["icmp-responder", "--mac", "aa:aa:aa:aa:aa:aa:aa"]).is_err());
        assert!(parse(&["icmp-responder", "--mac", "aa:aa:aa:aa:aa:zz"]).is_err());
        assert_eq!(parse_mac("02-00-00-0a-bB-ff").unwrap(), MacAddr([2, 0, 0, 0x0a, 0xbb, 0xff]));
        assert_eq!(MacAddr([2, 0, 0, 0x0a, 0xbb, 0xff]).to_string(), "02:00:00:0a:bb:ff");
    }

    #[test]
    fn ping_options() {
        let cli = parse(&[
            "ping",
            "10.0.0.1",
            "-c",
            "3",
            "--src-ip",
            "10.0.0.2",
            "--size",
            "100",
            "--interval",
            "0.2",
        ])
        .unwrap();
        let Command::Ping(a) = cli.command else { panic!("wrong subcommand") };
        assert_eq!(a.dest, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(a.count, 3);
        assert_eq!(a.src_ip, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(a.size, 100);
        assert_eq!(a.interval, Duration::from_millis(200));
        assert!(parse(&["ping", "10.0.0.1", "--interval", "0"]).is_err());
        assert!(parse(&["ping", "10.0.0.1", "-c", "0"]).is_err());
        assert!(parse(&["ping"]).is_err());
    }

    #[test]
    fn count_and_duration_exclude_each_other() {
        let e = parse(&["gen", "--count", "5", "--duration", "1"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
        let Command::Gen(g) = parse(&["gen", "--duration", "2.5", "--size", "1500"]).unwrap().command else {
            panic!("wrong subcommand")
        };
        assert_eq!(g.stop.stop_after(), StopAfter::Duration(Duration::from_millis(2500)));
        assert_eq!(g.size, 1500);
        assert_eq!(g.burst, 32);
        assert_eq!(g.linger, None);
        let Command::Gen(g) = parse(&["gen", "--count", "5", "--linger", "0.5"]).unwrap().command else {
            panic!("wrong subcommand")
        };
        assert_eq!(g.linger, Some(Duration::from_millis(500)));
        assert!(parse(&["gen", "--linger", "0"]).is_err());
        assert!(parse(&["gen", "--linger", "soon"]).is_err());
        assert_eq!(g.warmup, None);
        let Command::Gen(g) = parse(&["gen", "--duration", "3", "--warmup", "1"]).unwrap().command else {
            panic!("wrong subcommand")
        };
        assert_eq!(
            (g.warmup, g.stop.stop_after()),
            (Some(Duration::from_secs(1)), StopAfter::Duration(Duration::from_secs(3)))
        );
        let Command::Sink(s) = parse(&["sink", "--warmup", "0.5"]).unwrap().command else {
            panic!("wrong subcommand")
        };
        assert_eq!(s.warmup, Some(Duration::from_millis(500)));
        let Command::Sink(s) = parse(&["sink"]).unwrap().command else { panic!("wrong subcommand") };
        assert_eq!(s.stop.stop_after(), StopAfter::Signal);
        assert!(parse(&["gen", "--size", "10"]).is_err());
    }

    #[test]
    fn forward_loopback_tap_demo() {
        let Command::Forward(f) = parse(&["forward", "--id-a", "1", "--id-b", "2"]).unwrap().command else {
            panic!("wrong subcommand")
        };
        let (a, b) = f.opts();
        assert_eq!((a.id, b.id, a.role, b.role), (1, 2, ProtoRole::Master, ProtoRole::Master));
        assert_eq!((a.name.as_bytes(), b.name.as_bytes()), (&b"memif1"[..], &b"memif2"[..]));
        assert!(parse(&["forward", "--id-a", "1"]).is_err());

        let Command::Loopback(l) = parse(&["loopback", "--reverse", "--count", "3"]).unwrap().command else {
            panic!("wrong subcommand")
        };
        assert!(l.reverse);
        assert_eq!(l.count, 3);
        let (m, s) = l.opts();
        assert_eq!((m.role, s.role), (ProtoRole::Master, ProtoRole::Slave));

        let Command::Tap(t) = parse(&["tap", "--tap", "memtap0"]).unwrap().command else {
            panic!("wrong subcommand")
        };
        assert_eq!(t.tap, "memtap0");
        assert!(parse(&["tap", "--tap", "a-name-longer-than-15"]).is_err());
        assert!(parse(&["tap", "--tap", "a/b"]).is_err());
        assert!(parse(&["tap"]).is_err());

        assert!(matches!(parse(&["demo"]).unwrap().command, Command::Demo(_)));
        assert!(parse(&["demo", "--role", "master"]).is_err());
    }

    #[test]
    fn errors_fit_on_one_line() {
        let e = parse(&["sink", "--ring-size", "1000"]).unwrap_err();
        assert_eq!(
            error_line(&e),
            "invalid value '1000' for '--ring-size <N>': ring size must be a power of two (2 to 16384), not 1000"
        );
        let e = parse(&["forward"]).unwrap_err();
        assert_eq!(
            error_line(&e),
            "the following required arguments were not provided: --id-a <N> --id-b <M>"
        );
        let e = parse(&["ping", "1.2.3"]).unwrap_err();
        assert_eq!(
            error_line(&e),
            "invalid value '1.2.3' for '<DEST>': '1.2.3' is not an IPv4 address (like 192.168.1.1)"
        );
        let e = parse(&["frobnicate"]).unwrap_err();
        assert_eq!(error_line(&e), "unrecognized subcommand 'frobnicate'");
    }
}
