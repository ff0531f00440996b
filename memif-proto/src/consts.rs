//! Protocol constants, defaults and limits.

/// Protocol major version.
pub const VERSION_MAJOR: u8 = 2;
/// Protocol minor version.
pub const VERSION_MINOR: u8 = 0;
/// The protocol version as carried in HELLO and INIT: `(major << 8) | minor`.
pub const VERSION: u16 = ((VERSION_MAJOR as u16) << 8) | VERSION_MINOR as u16;

/// Size of every control message on the wire, in bytes.
pub const MSG_SIZE: usize = 128;
/// Size of a name field (interface name, instance name) in bytes.
pub const NAME_LEN: usize = 32;
/// Size of the secret field in INIT, in bytes.
pub const SECRET_LEN: usize = 24;
/// Size of the reason string in DISCONNECT, in bytes.
pub const DISCONNECT_REASON_LEN: usize = 96;

/// The cookie every ring header starts with.
pub const COOKIE: u32 = 0x03E3_1F20;

/// Default control socket path (VPP's and libmemif's).
pub const DEFAULT_SOCKET_PATH: &str = "/run/vpp/memif.sock";
/// Default log2 of the number of descriptors in a ring (1024 slots).
pub const DEFAULT_LOG2_RING_SIZE: u8 = 10;
/// Default packet buffer size in bytes.
pub const DEFAULT_BUFFER_SIZE: u32 = 2048;
/// Largest log2 ring size the protocol allows (16384 slots).
pub const MAX_LOG2_RING_SIZE: u8 = 14;
/// Smallest log2 ring size we accept (2 slots).
pub const MIN_LOG2_RING_SIZE: u8 = 1;
/// Default number of regions a master announces in HELLO (libmemif's value).
pub const DEFAULT_MAX_REGIONS: u16 = 255;
/// Default largest ring index per direction a master announces in HELLO (libmemif's value).
pub const DEFAULT_MAX_RINGS: u16 = 255;
/// Default reconnect interval of a slave, in milliseconds (libmemif's examples: 2 s).
pub const DEFAULT_RECONNECT_INTERVAL_MS: u64 = 2000;

/// The interface mode carried in INIT.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Mode {
    /// Ethernet frames (the default).
    #[default]
    Ethernet = 0,
    /// IP packets without an Ethernet header.
    Ip = 1,
    /// Punt/inject.
    PuntInject = 2,
}

impl Mode {
    /// Mode from its wire value; `None` for values the protocol does not define.
    pub fn from_u8(v: u8) -> Option<Mode> {
        match v {
            0 => Some(Mode::Ethernet),
            1 => Some(Mode::Ip),
            2 => Some(Mode::PuntInject),
            _ => None,
        }
    }
}

/// Direction of a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Slave to master: the slave transmits, the master receives.
    S2M,
    /// Master to slave: the master transmits into buffers the slave posted.
    M2S,
}

/// A memif role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Listens on the control socket and maps what the slave gives it (DPDK: server).
    Master,
    /// Connects, and owns all shared memory (DPDK: client).
    Slave,
}
