//! The memif handshake of both roles as pure state machines: no sockets, no clock.
//!
//! Callers feed received messages (with the fds that came with them) and the current
//! time through `handle*`, and drain what to send with [`MasterHandshake::poll_transmit`]
//! / [`SlaveHandshake::poll_transmit`] and what happened with `poll_event`. Every
//! refusal ends in a DISCONNECT carrying a reason, sent to the peer and reported locally.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use memif_proto::{
    AddRegion, AddRing, Direction, Disconnect, DisconnectReason, Hello, Init, InstanceName, InterfaceName,
    Message, Mode, ProtoError, Secret, MAX_LOG2_RING_SIZE, VERSION,
};

/// Who ended a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// We did: the reason was sent to the peer.
    Local,
    /// The peer did (DISCONNECT received, or it closed the socket).
    Remote,
}

/// Which of the slave's fds travels with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdRef {
    /// The memfd of region `n`.
    Region(u16),
    /// The interrupt eventfd of ring `index` in `direction`.
    Ring(Direction, u16),
}

/// A message to send, with the fd to attach (slave only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The message.
    pub msg: Message,
    /// The fd to attach with SCM_RIGHTS.
    pub fd: Option<FdRef>,
}

/// Protocol limits a master enforces while a slave describes its memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest region index accepted (announced in HELLO).
    pub max_region: u16,
    /// Largest log2 ring size accepted (announced in HELLO).
    pub max_log2_ring_size: u8,
    /// Largest region size accepted, in bytes.
    pub max_region_size: u64,
    /// How long a peer may take from connecting to CONNECT/CONNECTED.
    pub handshake_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_region: memif_proto::DEFAULT_MAX_REGIONS,
            max_log2_ring_size: MAX_LOG2_RING_SIZE,
            max_region_size: 1 << 32,
            handshake_timeout: Duration::from_secs(5),
        }
    }
}

/// What a master knows of the interface a slave asks for in INIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MasterInterface {
    /// Secret the slave must present (None: any or none accepted).
    pub secret: Option<Secret>,
    /// Mode the slave must ask for.
    pub mode: Mode,
    /// Number of S2M queues (master RX) configured: ADD_RING S2M index must be below.
    pub s2m_queues: u16,
    /// Number of M2S queues (master TX) configured.
    pub m2s_queues: u16,
    /// Another connection holds this interface already.
    pub busy: bool,
}

/// Looks interfaces up by id for [`MasterHandshake::handle`].
pub trait InterfaceLookup {
    /// The interface with id `id` on this socket, if any.
    fn lookup(&self, id: u32) -> Option<MasterInterface>;
}

impl<F: Fn(u32) -> Option<MasterInterface>> InterfaceLookup for F {
    fn lookup(&self, id: u32) -> Option<MasterInterface> {
        self(id)
    }
}

/// What the master's handshake reports.
#[derive(Debug)]
pub enum MasterEvent {
    /// INIT was accepted: this connection now holds interface `id`.
    Claimed {
        /// Interface id.
        id: u32,
    },
    /// CONNECT arrived with everything needed: map the regions, check the rings, then
    /// call [`MasterHandshake::established`] (or [`MasterHandshake::fail`]).
    Connect {
        /// The accepted INIT.
        init: Init,
        /// The slave's interface name.
        peer_name: InterfaceName,
        /// Regions in index order, each with its memfd.
        regions: Vec<(AddRegion, OwnedFd)>,
        /// S2M rings in index order, each with its eventfd.
        s2m: Vec<(AddRing, OwnedFd)>,
        /// M2S rings in index order, each with its eventfd.
        m2s: Vec<(AddRing, OwnedFd)>,
    },
    /// The connection is over.
    Closed {
        /// Why.
        reason: String,
        /// Who ended it.
        origin: Origin,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MState {
    AwaitInit,
    AwaitMemory,
    Connecting,
    Connected,
    Closed,
}

/// The master side of one control connection.
#[derive(Debug)]
pub struct MasterHandshake {
    state: MState,
    limits: Limits,
    deadline: Option<Instant>,
    init: Option<Init>,
    requested: Option<u32>,
    iface: Option<MasterInterface>,
    regions: Vec<(AddRegion, OwnedFd)>,
    s2m: Vec<(AddRing, OwnedFd)>,
    m2s: Vec<(AddRing, OwnedFd)>,
    out: VecDeque<Transmit>,
    events: VecDeque<MasterEvent>,
}

fn disconnect(reason: &str) -> Message {
    Message::Disconnect(Disconnect { code: 0, reason: DisconnectReason::truncated(reason) })
}

impl MasterHandshake {
    /// A connection just accepted: queues HELLO.
    pub fn new(name: InstanceName, limits: Limits, now: Instant) -> Self {
        let hello = Hello {
            name,
            max_region: limits.max_region,
            max_log2_ring_size: limits.max_log2_ring_size,
            ..Hello::default()
        };
        let mut out = VecDeque::new();
        out.push_back(Transmit { msg: Message::Hello(hello), fd: None });
        MasterHandshake {
            state: MState::AwaitInit,
            limits,
            deadline: Some(now + limits.handshake_timeout),
            init: None,
            requested: None,
            iface: None,
            regions: Vec::new(),
            s2m: Vec::new(),
            m2s: Vec::new(),
            out,
            events: VecDeque::new(),
        }
    }

    /// The next message to send. Call after every `handle*` until it returns `None`.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// The next event. Call after every `handle*` until it returns `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<MasterEvent> {
        self.events.pop_front()
    }

    /// When [`MasterHandshake::handle_timeout`] must be called next, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether the link is up.
    pub fn is_connected(&self) -> bool {
        self.state == MState::Connected
    }

    /// Whether the connection is over (the socket should be closed).
    pub fn is_closed(&self) -> bool {
        self.state == MState::Closed
    }

    /// The interface id this connection holds, once INIT was accepted.
    pub fn interface_id(&self) -> Option<u32> {
        self.init.map(|i| i.id)
    }

    /// The interface id the slave asked for in INIT, accepted or not.
    pub fn requested_id(&self) -> Option<u32> {
        self.requested
    }

    /// The clock passed `now`: ends a handshake that took too long.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(d) = self.deadline {
            if now >= d && self.state != MState::Connected && self.state != MState::Closed {
                self.fail("handshake timeout");
            }
        }
    }

    /// The socket was closed by the peer (or failed).
    pub fn handle_hangup(&mut self, what: &str) {
        self.close(what.to_string(), Origin::Remote);
    }

    /// Ends the connection from our side with `reason`: queues DISCONNECT.
    pub fn fail(&mut self, reason: &str) {
        if self.state == MState::Closed {
            return;
        }
        self.out.push_back(Transmit { msg: disconnect(reason), fd: None });
        self.close(reason.to_string(), Origin::Local);
    }

    fn close(&mut self, reason: String, origin: Origin) {
        if self.state == MState::Closed {
            return;
        }
        self.state = MState::Closed;
        self.deadline = None;
        self.regions.clear();
        self.s2m.clear();
        self.m2s.clear();
        self.events.push_back(MasterEvent::Closed { reason, origin });
    }

    /// The regions are mapped and the rings checked: the link is up; queues CONNECTED.
    pub fn established(&mut self, name: InterfaceName) {
        if self.state == MState::Connecting {
            self.state = MState::Connected;
            self.out.push_back(Transmit { msg: Message::Connected(name), fd: None });
        }
    }

    /// One received message (or why it did not parse), with the fds that came with it.
    pub fn handle(
        &mut self,
        msg: Result<Message, ProtoError>,
        mut fds: Vec<OwnedFd>,
        now: Instant,
        lookup: &dyn InterfaceLookup,
    ) {
        self.handle_timeout(now);
        if self.state == MState::Closed {
            return;
        }
        let msg = match msg {
            Ok(m) => m,
            Err(e) => return self.fail(&format!("invalid message: {e}")),
        };
        if let Message::Disconnect(d) = msg {
            return self.close(d.reason.to_string_lossy(), Origin::Remote);
        }
        if fds.len() > 1 {
            return self.fail(&format!("{} file descriptors with one message", fds.len()));
        }
        let fd = fds.pop();
        let takes_fd = matches!(msg, Message::AddRegion(_) | Message::AddRing(_));
        if fd.is_some() && !takes_fd {
            return self.fail(&format!("unexpected file descriptor with {:?}", msg.msg_type()));
        }
        match (self.state, msg) {
            (MState::AwaitInit, Message::Init(init)) => self.on_init(init, lookup),
            (MState::AwaitMemory, Message::AddRegion(r)) => self.on_region(r, fd),
            (MState::AwaitMemory, Message::AddRing(r)) => self.on_ring(r, fd),
            (MState::AwaitMemory, Message::Connect(name)) => self.on_connect(name),
            (MState::AwaitInit, Message::AddRegion(_) | Message::AddRing(_) | Message::Connect(_)) => {
                self.fail(&format!("{:?} before INIT", msg.msg_type()))
            }
            (MState::AwaitMemory | MState::Connecting | MState::Connected, Message::Init(_)) => {
                self.fail("duplicate INIT")
            }
            (_, m) => self.fail(&format!("unexpected message {:?}", m.msg_type())),
        }
    }

    fn on_init(&mut self, init: Init, lookup: &dyn InterfaceLookup) {
        self.requested = Some(init.id);
        if init.version != VERSION {
            return self.fail(&format!(
                "incompatible memif version {}.{} (this master speaks 2.0)",
                init.version >> 8,
                init.version & 0xff
            ));
        }
        let Some(iface) = lookup.lookup(init.id) else {
            return self.fail(&format!("unmatched interface id {}", init.id));
        };
        if iface.busy {
            return self.fail("Already connected");
        }
        if let Some(want) = iface.secret {
            if init.secret.is_empty() {
                return self.fail("Secret required");
            }
            if !want.ct_eq(&init.secret) {
                return self.fail("Incorrect secret");
            }
        }
        if init.mode != iface.mode {
            return self
                .fail(&format!("Mode mismatch: slave asks {:?}, interface is {:?}", init.mode, iface.mode));
        }
        self.init = Some(init);
        self.iface = Some(iface);
        self.state = MState::AwaitMemory;
        self.events.push_back(MasterEvent::Claimed { id: init.id });
        self.out.push_back(Transmit { msg: Message::Ack, fd: None });
    }

    fn on_region(&mut self, r: AddRegion, fd: Option<OwnedFd>) {
        let Some(fd) = fd else {
            return self.fail(&format!("ADD_REGION {} without a file descriptor", r.index));
        };
        if r.index > self.limits.max_region {
            return self
                .fail(&format!("region index {} above the limit {}", r.index, self.limits.max_region));
        }
        if usize::from(r.index) != self.regions.len() {
            return self.fail(&format!(
                "region index {} out of order, expected {}",
                r.index,
                self.regions.len()
            ));
        }
        if r.size == 0 {
            return self.fail(&format!("region {} has size 0", r.index));
        }
        if r.size > self.limits.max_region_size {
            return self.fail(&format!(
                "region {} size {} above the limit {}",
                r.index, r.size, self.limits.max_region_size
            ));
        }
        self.regions.push((r, fd));
        self.out.push_back(Transmit { msg: Message::Ack, fd: None });
    }

    fn on_ring(&mut self, r: AddRing, fd: Option<OwnedFd>) {
        let Some(fd) = fd else {
            return self.fail(&format!("ADD_RING {:?} {} without an interrupt fd", r.direction, r.index));
        };
        let Some(iface) = self.iface else { return self.fail("ADD_RING before INIT") };
        let (list, configured) = match r.direction {
            Direction::S2M => (&self.s2m, iface.s2m_queues),
            Direction::M2S => (&self.m2s, iface.m2s_queues),
        };
        if r.index >= configured {
            return self.fail(&format!(
                "Invalid ring index: {:?} ring {} but {} queues configured",
                r.direction, r.index, configured
            ));
        }
        if usize::from(r.index) != list.len() {
            return self.fail(&format!(
                "{:?} ring index {} out of order, expected {}",
                r.direction,
                r.index,
                list.len()
            ));
        }
        if r.log2_ring_size > self.limits.max_log2_ring_size {
            return self.fail(&format!(
                "log2 ring size {} above the limit {}",
                r.log2_ring_size, self.limits.max_log2_ring_size
            ));
        }
        let Some((region, _)) = self.regions.get(usize::from(r.region)) else {
            return self
                .fail(&format!("{:?} ring {} names missing region {}", r.direction, r.index, r.region));
        };
        let end = u64::from(r.offset) + memif_proto::ring_bytes(r.log2_ring_size) as u64;
        if end > region.size {
            return self.fail(&format!(
                "{:?} ring {} (offset {}, {} bytes) does not fit in region {} of {} bytes",
                r.direction,
                r.index,
                r.offset,
                memif_proto::ring_bytes(r.log2_ring_size),
                r.region,
                region.size
            ));
        }
        if r.offset % 8 != 0 {
            return self.fail(&format!(
                "{:?} ring {} offset {} is not 8-byte aligned",
                r.direction, r.index, r.offset
            ));
        }
        match r.direction {
            Direction::S2M => self.s2m.push((r, fd)),
            Direction::M2S => self.m2s.push((r, fd)),
        }
        self.out.push_back(Transmit { msg: Message::Ack, fd: None });
    }

    fn on_connect(&mut self, name: InterfaceName) {
        if self.regions.is_empty() {
            return self.fail("CONNECT without any region");
        }
        if self.s2m.is_empty() || self.m2s.is_empty() {
            return self.fail("CONNECT without at least one ring in each direction");
        }
        let Some(init) = self.init else { return self.fail("CONNECT before INIT") };
        self.state = MState::Connecting;
        self.deadline = None;
        self.events.push_back(MasterEvent::Connect {
            init,
            peer_name: name,
            regions: std::mem::take(&mut self.regions),
            s2m: std::mem::take(&mut self.s2m),
            m2s: std::mem::take(&mut self.m2s),
        });
    }
}

/// What a slave wants; the master's HELLO limits what it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlaveParams {
    /// Interface id asked for in INIT.
    pub id: u32,
    /// Mode.
    pub mode: Mode,
    /// Secret (empty: none).
    pub secret: Secret,
    /// Our instance name (INIT).
    pub instance_name: InstanceName,
    /// Our interface name (CONNECT).
    pub interface_name: InterfaceName,
    /// S2M queues wanted.
    pub s2m_queues: u16,
    /// M2S queues wanted.
    pub m2s_queues: u16,
    /// log2 ring size wanted.
    pub log2_ring_size: u8,
    /// How long the master may take.
    pub handshake_timeout: Duration,
}

/// The memory the slave created, described for ADD_REGION / ADD_RING.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Region sizes, region 0 first.
    pub region_sizes: Vec<u64>,
    /// S2M rings, index order.
    pub s2m: Vec<AddRing>,
    /// M2S rings, index order.
    pub m2s: Vec<AddRing>,
}

/// What the slave's handshake reports.
#[derive(Debug, PartialEq, Eq)]
pub enum SlaveEvent {
    /// HELLO accepted: create this many rings of this size, then call
    /// [`SlaveHandshake::memory_ready`] (or [`SlaveHandshake::fail`]).
    CreateMemory {
        /// The master's name.
        peer_instance: InstanceName,
        /// S2M rings to create.
        s2m_queues: u16,
        /// M2S rings to create.
        m2s_queues: u16,
        /// log2 ring size.
        log2_ring_size: u8,
    },
    /// CONNECTED: the master is up; reset the rings, post receive buffers.
    Connected {
        /// The master's interface name.
        peer_name: InterfaceName,
    },
    /// The connection is over.
    Closed {
        /// Why.
        reason: String,
        /// Who ended it.
        origin: Origin,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SState {
    AwaitHello,
    CreatingMemory,
    AwaitAck,
    AwaitConnected,
    Connected,
    Closed,
}

/// The slave side of one control connection.
#[derive(Debug)]
pub struct SlaveHandshake {
    state: SState,
    params: SlaveParams,
    deadline: Option<Instant>,
    pending: VecDeque<Transmit>,
    out: VecDeque<Transmit>,
    events: VecDeque<SlaveEvent>,
}

impl SlaveHandshake {
    /// Connected to the master's socket: waits for HELLO.
    pub fn new(params: SlaveParams, now: Instant) -> Self {
        SlaveHandshake {
            state: SState::AwaitHello,
            params,
            deadline: Some(now + params.handshake_timeout),
            pending: VecDeque::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The next message to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SlaveEvent> {
        self.events.pop_front()
    }

    /// When [`SlaveHandshake::handle_timeout`] must be called next, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether the link is up.
    pub fn is_connected(&self) -> bool {
        self.state == SState::Connected
    }

    /// Whether the connection is over.
    pub fn is_closed(&self) -> bool {
        self.state == SState::Closed
    }

    /// The clock passed `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(d) = self.deadline {
            if now >= d && !matches!(self.state, SState::Connected | SState::Closed) {
                self.fail("handshake timeout");
            }
        }
    }

    /// The socket was closed by the peer (or failed).
    pub fn handle_hangup(&mut self, what: &str) {
        self.close(what.to_string(), Origin::Remote);
    }

    /// Ends the connection from our side: queues DISCONNECT.
    pub fn fail(&mut self, reason: &str) {
        if self.state == SState::Closed {
            return;
        }
        self.pending.clear();
        self.out.push_back(Transmit { msg: disconnect(reason), fd: None });
        self.close(reason.to_string(), Origin::Local);
    }

    fn close(&mut self, reason: String, origin: Origin) {
        if self.state == SState::Closed {
            return;
        }
        self.state = SState::Closed;
        self.deadline = None;
        self.pending.clear();
        self.events.push_back(SlaveEvent::Closed { reason, origin });
    }

    /// The regions and rings exist: queues INIT, then (one per ACK) every ADD_REGION,
    /// every ADD_RING and CONNECT.
    pub fn memory_ready(&mut self, plan: &MemoryPlan) {
        if self.state != SState::CreatingMemory {
            return;
        }
        let p = &self.params;
        let mut q = VecDeque::new();
        q.push_back(Transmit {
            msg: Message::Init(Init {
                version: VERSION,
                id: p.id,
                mode: p.mode,
                secret: p.secret,
                name: p.instance_name,
            }),
            fd: None,
        });
        for (i, &size) in plan.region_sizes.iter().enumerate() {
            let index = i as u16;
            q.push_back(Transmit {
                msg: Message::AddRegion(AddRegion { index, size }),
                fd: Some(FdRef::Region(index)),
            });
        }
        for r in plan.s2m.iter().chain(&plan.m2s) {
            q.push_back(Transmit { msg: Message::AddRing(*r), fd: Some(FdRef::Ring(r.direction, r.index)) });
        }
        q.push_back(Transmit { msg: Message::Connect(p.interface_name), fd: None });
        self.pending = q;
        self.state = SState::AwaitAck;
        self.send_next();
    }

    fn send_next(&mut self) {
        if let Some(t) = self.pending.pop_front() {
            if matches!(t.msg, Message::Connect(_)) {
                self.state = SState::AwaitConnected;
            }
            self.out.push_back(t);
        }
    }

    /// One received message (or why it did not parse), with the fds that came with it.
    pub fn handle(&mut self, msg: Result<Message, ProtoError>, fds: Vec<OwnedFd>, now: Instant) {
        self.handle_timeout(now);
        if self.state == SState::Closed {
            return;
        }
        let msg = match msg {
            Ok(m) => m,
            Err(e) => return self.fail(&format!("invalid message: {e}")),
        };
        if let Message::Disconnect(d) = msg {
            return self.close(d.reason.to_string_lossy(), Origin::Remote);
        }
        if !fds.is_empty() {
            drop(fds);
            return self.fail(&format!("unexpected file descriptor with {:?}", msg.msg_type()));
        }
        match (self.state, msg) {
            (SState::AwaitHello, Message::Hello(h)) => self.on_hello(h),
            (SState::AwaitAck, Message::Ack) => self.send_next(),
            (SState::AwaitConnected, Message::Connected(name)) => {
                self.state = SState::Connected;
                self.deadline = None;
                self.events.push_back(SlaveEvent::Connected { peer_name: name });
            }
            (_, m) => self.fail(&format!("unexpected message {:?}", m.msg_type())),
        }
    }

    fn on_hello(&mut self, h: Hello) {
        if !(h.min_version <= VERSION && VERSION <= h.max_version) {
            return self.fail(&format!(
                "incompatible memif version: master speaks {:#06x}..={:#06x}, we speak {:#06x}",
                h.min_version, h.max_version, VERSION
            ));
        }
        let p = &self.params;
        let s2m = p.s2m_queues.min(h.max_s2m_ring.saturating_add(1));
        let m2s = p.m2s_queues.min(h.max_m2s_ring.saturating_add(1));
        let log2 = p.log2_ring_size.min(h.max_log2_ring_size);
        if s2m == 0 || m2s == 0 || log2 == 0 {
            return self.fail("master allows no rings");
        }
        self.state = SState::CreatingMemory;
        self.events.push_back(SlaveEvent::CreateMemory {
            peer_instance: h.name,
            s2m_queues: s2m,
            m2s_queues: m2s,
            log2_ring_size: log2,
        });
    }
}
