//! Interface and socket configuration, with VPP/libmemif defaults.

use std::time::Duration;

use memif_proto::{InstanceName, InterfaceName, Mode, Role, Secret};
use memif_ring::RxMode;

use crate::handshake::Limits;
use crate::Error;

/// One memif interface on a control socket.
#[derive(Clone, Debug)]
pub struct InterfaceConfig {
    /// Interface id: the slave asks for it in INIT, the master demultiplexes on it.
    pub id: u32,
    /// Master (listens, maps the slave's memory) or slave (connects, owns the memory).
    pub role: Role,
    /// Our interface name, sent in CONNECT (slave) or CONNECTED (master).
    pub interface_name: InterfaceName,
    /// Our instance name, sent in HELLO (master) or INIT (slave).
    pub instance_name: InstanceName,
    /// Shared secret; a master with a secret refuses slaves without the same one.
    pub secret: Option<Secret>,
    /// Interface mode.
    pub mode: Mode,
    /// Slave-to-master queues (slave TX, master RX).
    pub s2m_queues: u16,
    /// Master-to-slave queues (master TX, slave RX).
    pub m2s_queues: u16,
    /// log2 of the ring size (slave: wanted; the master's HELLO may lower it).
    pub log2_ring_size: u8,
    /// Packet buffer size in bytes. The slave lays its buffers out with it; a master
    /// writes at most this much into one buffer the slave posted, and receives
    /// descriptors of any length that stays inside the slave's region (a zero-copy
    /// slave's buffers need not have this size).
    pub buffer_size: u32,
    /// Number of buffer regions the slave spreads its buffers over.
    pub buffer_regions: u16,
    /// RX mode every receive queue starts in (each queue can change its own later).
    pub rx_mode: RxMode,
    /// Whether [`crate::Socket::poll`] waits on the RX queues' interrupt eventfds and
    /// reports [`crate::Event::Interrupt`]. Turn off when each queue's thread waits on
    /// its own queue ([`crate::RxQueue::wait`]).
    pub interrupts_in_poll: bool,
    /// How often a disconnected slave tries again.
    pub reconnect_interval: Duration,
    /// Master: the limits a slave must stay within.
    pub limits: Limits,
    /// Master: accept regions that are not sealed against shrinking (a peer that
    /// shrinks such a region makes our reads fault). Off by default.
    pub accept_unsealed_regions: bool,
}

impl InterfaceConfig {
    /// A configuration with VPP/libmemif defaults: one queue pair, 1024-slot rings,
    /// 2048-byte buffers, ethernet, interrupt mode, reconnect every 2 s.
    pub fn new(id: u32, role: Role) -> Self {
        let name = InterfaceName::new(&format!("memif{id}")).unwrap_or_default();
        InterfaceConfig {
            id,
            role,
            interface_name: name,
            instance_name: InstanceName::new("memif-rs").unwrap_or_default(),
            secret: None,
            mode: Mode::Ethernet,
            s2m_queues: 1,
            m2s_queues: 1,
            log2_ring_size: memif_proto::DEFAULT_LOG2_RING_SIZE,
            buffer_size: memif_proto::DEFAULT_BUFFER_SIZE,
            buffer_regions: 1,
            rx_mode: RxMode::Interrupt,
            interrupts_in_poll: true,
            reconnect_interval: Duration::from_millis(memif_proto::DEFAULT_RECONNECT_INTERVAL_MS),
            limits: Limits::default(),
            accept_unsealed_regions: false,
        }
    }

    /// Sets both queue counts to `n` queue pairs.
    pub fn queue_pairs(mut self, n: u16) -> Self {
        self.s2m_queues = n;
        self.m2s_queues = n;
        self
    }

    /// Checks the values fit the protocol.
    pub fn check(&self) -> Result<(), Error> {
        if self.s2m_queues == 0 || self.m2s_queues == 0 {
            return Err(Error::Config("at least one queue in each direction".into()));
        }
        if self.s2m_queues > 256 || self.m2s_queues > 256 {
            return Err(Error::Config("at most 256 queues in each direction".into()));
        }
        if !(memif_proto::MIN_LOG2_RING_SIZE..=memif_proto::MAX_LOG2_RING_SIZE).contains(&self.log2_ring_size)
        {
            return Err(Error::Config(format!("log2 ring size {} outside 1..=14", self.log2_ring_size)));
        }
        if self.buffer_size == 0 {
            return Err(Error::Config("buffer size 0".into()));
        }
        if self.buffer_regions == 0 {
            return Err(Error::Config("at least one buffer region".into()));
        }
        Ok(())
    }
}
