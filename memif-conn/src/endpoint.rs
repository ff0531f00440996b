//! [`Socket`]: one control socket, its interfaces and connections, and the event loop.

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use memif_proto::{AddRing, Direction, InterfaceName, Role};
use memif_ring::{Interrupt, MasterRx, MasterTx, Memory, Ring, SlaveRx, SlaveTx};
use memif_shm::{Layout, MapOptions, Region};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use crate::config::InterfaceConfig;
use crate::handshake::{
    FdRef, InterfaceLookup, MasterEvent, MasterHandshake, MasterInterface, MemoryPlan, Origin, SlaveEvent,
    SlaveHandshake, SlaveParams,
};
use crate::queue::{Link, Queues, RxQueue, TxQueue};
use crate::socket::{self, Listener, Received, SocketFileOptions, SocketPath};
use crate::Error;

/// Handle of an interface on a [`Socket`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InterfaceId(pub usize);

/// What [`Socket::poll`] reports.
#[derive(Debug)]
pub enum Event {
    /// The link is up; the queues are yours (each may move to its own thread).
    Connected {
        /// Which interface.
        iface: InterfaceId,
        /// Its queues.
        queues: Queues,
        /// The peer's interface name.
        peer_name: InterfaceName,
    },
    /// The link went down: drop the queues. A slave reconnects on its timer.
    Disconnected {
        /// Which interface.
        iface: InterfaceId,
        /// Why.
        reason: String,
        /// Who ended it.
        origin: Origin,
    },
    /// The peer signalled RX queue `queue` (interrupt mode).
    Interrupt {
        /// Which interface.
        iface: InterfaceId,
        /// Which queue.
        queue: u16,
    },
    /// Master: a connection was refused before it held an interface (unknown id,
    /// wrong secret, uid not allowed, handshake timeout, ...).
    Refused {
        /// The interface id the slave asked for, if it got that far.
        id: Option<u32>,
        /// Why.
        reason: String,
    },
}

/// Socket-wide options.
#[derive(Clone, Debug, Default)]
pub struct SocketOptions {
    /// Mode and owner of a master's socket file.
    pub file: SocketFileOptions,
    /// Master: only peers with one of these uids may connect (SO_PEERCRED).
    pub allowed_uids: Option<Vec<u32>>,
}

/// How soon a slave tries again when the master's accept backlog was full.
const BACKLOG_RETRY: Duration = Duration::from_millis(5);

const LISTENER: u64 = 0;
const KIND_SHIFT: u32 = 60;
const CONN: u64 = 1 << KIND_SHIFT;
const IRQ: u64 = 2 << KIND_SHIFT;
const FAULT: u64 = 3 << KIND_SHIFT;
const VALUE: u64 = (1 << KIND_SHIFT) - 1;

enum Hs {
    Master(Box<MasterHandshake>),
    Slave(Box<SlaveHandshake>),
}

/// The slave's memory for one connection, with the fds it sends.
struct SlaveMemory {
    layout: Layout,
    memory: Arc<Memory>,
    region_fds: Vec<OwnedFd>,
    s2m: Vec<(Ring, Interrupt)>,
    m2s: Vec<(Ring, Interrupt)>,
}

struct Conn {
    fd: OwnedFd,
    hs: Hs,
    iface: Option<usize>,
    slave_mem: Option<SlaveMemory>,
    link: Option<Arc<Link>>,
    /// Interrupt eventfds registered with epoll (RX queues in interrupt mode).
    irqs: Vec<Interrupt>,
}

struct Iface {
    cfg: InterfaceConfig,
    conn: Option<u64>,
    next_attempt: Option<Instant>,
    last_error: Option<String>,
}

/// One control socket (a path or an abstract name) with its interfaces. Masters on it
/// share one listener and are told apart by interface id; each slave interface has its
/// own connection. Drive it with [`Socket::poll`], or from your own event loop: wait for
/// [`Socket::as_fd`] to be readable or [`Socket::next_timeout`] to pass, then call
/// `poll(Some(Duration::ZERO), ..)`.
pub struct Socket {
    path: SocketPath,
    opts: SocketOptions,
    epoll: Epoll,
    listener: Option<Listener>,
    ifaces: Vec<Option<Iface>>,
    conns: HashMap<u64, Conn>,
    next_conn: u64,
    events: VecDeque<Event>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket").field("path", &self.path).field("connections", &self.conns.len()).finish()
    }
}

impl Socket {
    /// A socket at `path` (nothing is bound or connected until an interface is added).
    pub fn new(path: SocketPath, opts: SocketOptions) -> Result<Socket, Error> {
        path.unix_addr()?;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| Error::io("epoll_create", e))?;
        Ok(Socket {
            path,
            opts,
            epoll,
            listener: None,
            ifaces: Vec::new(),
            conns: HashMap::new(),
            next_conn: 1,
            events: VecDeque::new(),
        })
    }

    /// The socket's path or name.
    pub fn path(&self) -> &SocketPath {
        &self.path
    }

    /// Adds an interface. A master starts listening (the first one binds the socket); a
    /// slave connects at the next [`Socket::poll`].
    pub fn add_interface(&mut self, cfg: InterfaceConfig) -> Result<InterfaceId, Error> {
        cfg.check()?;
        if self.ifaces.iter().flatten().any(|i| i.cfg.id == cfg.id && i.cfg.role == cfg.role) {
            return Err(Error::Config(format!("interface id {} already exists on {}", cfg.id, self.path)));
        }
        if cfg.role == Role::Master && self.listener.is_none() {
            let l = Listener::bind(&self.path, &self.opts.file)?;
            self.epoll
                .add(l.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, LISTENER))
                .map_err(|e| Error::io("epoll_ctl", e))?;
            tracing::info!(path = %self.path, "listening");
            self.listener = Some(l);
        }
        let next_attempt = (cfg.role == Role::Slave).then(Instant::now);
        self.ifaces.push(Some(Iface { cfg, conn: None, next_attempt, last_error: None }));
        Ok(InterfaceId(self.ifaces.len() - 1))
    }

    /// Removes an interface, disconnecting it (the peer gets a DISCONNECT).
    pub fn remove_interface(&mut self, id: InterfaceId) -> Result<(), Error> {
        let conn = self.iface(id)?.conn;
        if let Some(c) = conn {
            self.fail(c, "interface deleted");
        }
        self.ifaces[id.0] = None;
        Ok(())
    }

    /// Disconnects an interface from our side with `reason`; a slave reconnects later.
    pub fn disconnect(&mut self, id: InterfaceId, reason: &str) -> Result<(), Error> {
        if let Some(c) = self.iface(id)?.conn {
            self.fail(c, reason);
        }
        Ok(())
    }

    /// Whether the interface's link is up.
    pub fn is_connected(&self, id: InterfaceId) -> bool {
        self.iface(id).ok().and_then(|i| i.conn).and_then(|c| self.conns.get(&c)).is_some_and(|c| {
            match &c.hs {
                Hs::Master(h) => h.is_connected(),
                Hs::Slave(h) => h.is_connected(),
            }
        })
    }

    /// The last reason a slave interface could not connect, if any.
    pub fn last_error(&self, id: InterfaceId) -> Option<&str> {
        self.iface(id).ok().and_then(|i| i.last_error.as_deref())
    }

    /// The configuration of an interface.
    pub fn config(&self, id: InterfaceId) -> Option<&InterfaceConfig> {
        self.iface(id).ok().map(|i| &i.cfg)
    }

    fn iface(&self, id: InterfaceId) -> Result<&Iface, Error> {
        self.ifaces.get(id.0).and_then(|i| i.as_ref()).ok_or(Error::NoSuchInterface)
    }

    /// When the next timer (reconnect, handshake timeout) is due.
    pub fn next_timeout(&self) -> Option<Instant> {
        let reconnect =
            self.ifaces.iter().flatten().filter(|i| i.conn.is_none()).filter_map(|i| i.next_attempt);
        let hs = self.conns.values().filter_map(|c| match &c.hs {
            Hs::Master(h) => h.poll_timeout(),
            Hs::Slave(h) => h.poll_timeout(),
        });
        reconnect.chain(hs).min()
    }

    /// Handles everything ready on the control side (new connections, control messages,
    /// hang-ups, interrupts, timers) and appends what happened to `events`. Waits up to
    /// `timeout` (`None`: until something happens) when nothing is pending.
    pub fn poll(&mut self, timeout: Option<Duration>, events: &mut Vec<Event>) -> Result<(), Error> {
        self.run_timers(Instant::now());
        if self.events.is_empty() {
            let mut wait = timeout;
            if let Some(t) = self.next_timeout() {
                let d = t.saturating_duration_since(Instant::now());
                wait = Some(wait.map_or(d, |w| w.min(d)));
            }
            let t = match wait {
                None => EpollTimeout::NONE,
                Some(d) => {
                    // round up so a timer that is due in 0.3 ms is not spun on
                    let ms = d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
                    EpollTimeout::try_from(ms).unwrap_or(EpollTimeout::MAX)
                }
            };
            let mut ready = [EpollEvent::empty(); 64];
            let n = match self.epoll.wait(&mut ready, t) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => 0,
                Err(e) => return Err(Error::io("epoll_wait", e)),
            };
            for ev in &ready[..n] {
                self.dispatch(ev.data(), ev.events());
            }
            self.run_timers(Instant::now());
        }
        events.extend(self.events.drain(..));
        Ok(())
    }

    fn dispatch(&mut self, token: u64, flags: EpollFlags) {
        match token & !VALUE {
            LISTENER => self.accept_all(),
            CONN => self.conn_ready(token, flags),
            IRQ => {
                let (ci, q) = ((token & VALUE) >> 16, (token & 0xffff) as u16);
                let key = CONN | ci;
                if let Some(c) = self.conns.get(&key) {
                    if let Some(irq) = c.irqs.get(usize::from(q)) {
                        irq.clear();
                    }
                    if let Some(i) = c.iface {
                        self.events.push_back(Event::Interrupt { iface: InterfaceId(i), queue: q });
                    }
                }
            }
            FAULT => {
                let key = CONN | (token & VALUE);
                let fault = self.conns.get(&key).and_then(|c| c.link.as_ref()).and_then(|l| {
                    l.wake.clear();
                    l.take_fault()
                });
                if let Some(reason) = fault {
                    self.fail(key, &reason);
                }
            }
            _ => {}
        }
    }

    fn accept_all(&mut self) {
        loop {
            let fd = match self.listener.as_ref().map(|l| l.accept()) {
                Some(Ok(Some(fd))) => fd,
                Some(Ok(None)) | None => return,
                Some(Err(e)) => {
                    tracing::warn!("accept failed: {e}");
                    return;
                }
            };
            let creds = socket::peer_credentials(fd.as_fd());
            match &creds {
                Ok(c) => {
                    tracing::info!(uid = c.uid(), gid = c.gid(), pid = c.pid(), path = %self.path, "slave connected")
                }
                Err(e) => tracing::warn!("no peer credentials: {e}"),
            }
            let now = Instant::now();
            let name = self
                .ifaces
                .iter()
                .flatten()
                .find(|i| i.cfg.role == Role::Master)
                .map(|i| (i.cfg.instance_name, i.cfg.limits))
                .unwrap_or_default();
            let mut hs = Box::new(MasterHandshake::new(name.0, name.1, now));
            if let Some(allowed) = &self.opts.allowed_uids {
                let uid = creds.as_ref().map(|c| c.uid()).ok();
                if !uid.is_some_and(|u| allowed.contains(&u)) {
                    let _ = hs.poll_transmit(); // not even HELLO
                    let reason = match uid {
                        Some(u) => format!("uid {u} is not allowed on this socket"),
                        None => "peer credentials unavailable".to_string(),
                    };
                    hs.fail(&reason);
                    if let Some(t) = hs.poll_transmit() {
                        let _ = socket::send(fd.as_fd(), &t.msg, None);
                    }
                    self.events.push_back(Event::Refused { id: None, reason });
                    continue;
                }
            }
            let key = CONN | self.next_conn;
            self.next_conn += 1;
            if let Err(e) = self.epoll.add(fd.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, key)) {
                tracing::warn!("epoll_ctl: {e}");
                continue;
            }
            self.conns.insert(
                key,
                Conn { fd, hs: Hs::Master(hs), iface: None, slave_mem: None, link: None, irqs: Vec::new() },
            );
            self.flush(key);
        }
    }

    fn run_timers(&mut self, now: Instant) {
        let due: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                match &c.hs {
                    Hs::Master(h) => h.poll_timeout(),
                    Hs::Slave(h) => h.poll_timeout(),
                }
                .is_some_and(|t| t <= now)
            })
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            if let Some(c) = self.conns.get_mut(&key) {
                match &mut c.hs {
                    Hs::Master(h) => h.handle_timeout(now),
                    Hs::Slave(h) => h.handle_timeout(now),
                }
            }
            self.flush(key);
        }
        for i in 0..self.ifaces.len() {
            let Some(f) = &self.ifaces[i] else { continue };
            if f.cfg.role == Role::Slave && f.conn.is_none() && f.next_attempt.is_some_and(|t| t <= now) {
                self.try_connect(i, now);
            }
        }
    }

    fn try_connect(&mut self, i: usize, now: Instant) {
        let Some(f) = self.ifaces[i].as_mut() else { return };
        f.next_attempt = Some(now + f.cfg.reconnect_interval);
        let fd = match socket::connect(&self.path) {
            Ok(fd) => fd,
            Err(e) => {
                tracing::debug!("interface {}: {e}", f.cfg.id);
                // EAGAIN: the master is there but its accept backlog is full (many
                // slaves at once); try again shortly rather than after a whole interval
                if matches!(&e, Error::Io(_, io) if io.kind() == std::io::ErrorKind::WouldBlock) {
                    f.next_attempt = Some(now + BACKLOG_RETRY.min(f.cfg.reconnect_interval));
                }
                f.last_error = Some(e.to_string());
                return;
            }
        };
        let c = &f.cfg;
        let params = SlaveParams {
            id: c.id,
            mode: c.mode,
            secret: c.secret.unwrap_or_default(),
            instance_name: c.instance_name,
            interface_name: c.interface_name,
            s2m_queues: c.s2m_queues,
            m2s_queues: c.m2s_queues,
            log2_ring_size: c.log2_ring_size,
            handshake_timeout: c.limits.handshake_timeout,
        };
        let key = CONN | self.next_conn;
        self.next_conn += 1;
        if let Err(e) = self.epoll.add(fd.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, key)) {
            f.last_error = Some(format!("epoll_ctl: {e}"));
            return;
        }
        f.conn = Some(key);
        let hs = Hs::Slave(Box::new(SlaveHandshake::new(params, now)));
        self.conns
            .insert(key, Conn { fd, hs, iface: Some(i), slave_mem: None, link: None, irqs: Vec::new() });
    }

    fn conn_ready(&mut self, key: u64, flags: EpollFlags) {
        // read everything available; the exchange is lock-step, so this is short
        for _ in 0..64 {
            let r = match self.conns.get(&key) {
                Some(c) => socket::recv(c.fd.as_fd()),
                None => return,
            };
            let now = Instant::now();
            match r {
                Ok(Received::WouldBlock) => break,
                Ok(Received::Message(msg, fds)) => {
                    let snap = Lookup { ifaces: &self.ifaces, conns: &self.conns, me: key }.snapshot(&msg);
                    if let Some(c) = self.conns.get_mut(&key) {
                        match &mut c.hs {
                            Hs::Master(h) => h.handle(msg, fds, now, &snap),
                            Hs::Slave(h) => h.handle(msg, fds, now),
                        }
                    }
                    self.flush(key);
                }
                Ok(Received::Closed) | Err(_) => {
                    let what = match r {
                        Err(e) => e.to_string(),
                        _ => "peer closed the control socket".to_string(),
                    };
                    self.hangup(key, &what);
                    return;
                }
            }
        }
        if flags.intersects(EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR) {
            self.hangup(key, "peer closed the control socket");
        }
    }

    fn hangup(&mut self, key: u64, what: &str) {
        if let Some(c) = self.conns.get_mut(&key) {
            match &mut c.hs {
                Hs::Master(h) => h.handle_hangup(what),
                Hs::Slave(h) => h.handle_hangup(what),
            }
            self.flush(key);
        }
    }

    fn fail(&mut self, key: u64, reason: &str) {
        if let Some(c) = self.conns.get_mut(&key) {
            match &mut c.hs {
                Hs::Master(h) => h.fail(reason),
                Hs::Slave(h) => h.fail(reason),
            }
            self.flush(key);
        }
    }

    /// Sends what the handshake queued and acts on its events, until both are empty.
    fn flush(&mut self, key: u64) {
        loop {
            let Some(c) = self.conns.get_mut(&key) else { return };
            let mut progressed = false;
            // transmit
            loop {
                let t = match &mut c.hs {
                    Hs::Master(h) => h.poll_transmit(),
                    Hs::Slave(h) => h.poll_transmit(),
                };
                let Some(t) = t else { break };
                progressed = true;
                let fd = t.fd.and_then(|r| c.slave_mem.as_ref().and_then(|m| m.fd_for(r)));
                if let Err(e) = socket::send(c.fd.as_fd(), &t.msg, fd) {
                    tracing::debug!("send failed: {e}");
                    match &mut c.hs {
                        Hs::Master(h) => h.handle_hangup(&e.to_string()),
                        Hs::Slave(h) => h.handle_hangup(&e.to_string()),
                    }
                }
            }
            // events
            let ev = match &mut c.hs {
                Hs::Master(h) => h.poll_event().map(Ok),
                Hs::Slave(h) => h.poll_event().map(Err),
            };
            match ev {
                Some(Ok(e)) => {
                    progressed = true;
                    self.master_event(key, e);
                }
                Some(Err(e)) => {
                    progressed = true;
                    self.slave_event(key, e);
                }
                None => {}
            }
            if !progressed {
                return;
            }
        }
    }

    fn master_event(&mut self, key: u64, e: MasterEvent) {
        match e {
            MasterEvent::Claimed { id } => {
                let idx = self
                    .ifaces
                    .iter()
                    .position(|i| i.as_ref().is_some_and(|i| i.cfg.role == Role::Master && i.cfg.id == id));
                if let (Some(idx), Some(c)) = (idx, self.conns.get_mut(&key)) {
                    c.iface = Some(idx);
                    if let Some(f) = self.ifaces[idx].as_mut() {
                        f.conn = Some(key);
                    }
                }
            }
            MasterEvent::Connect { init: _, peer_name, regions, s2m, m2s } => {
                let r = self.master_map(key, regions, s2m, m2s);
                match r {
                    Ok(queues) => {
                        let Some(c) = self.conns.get_mut(&key) else { return };
                        let Some(idx) = c.iface else { return };
                        let name =
                            self.ifaces[idx].as_ref().map(|f| f.cfg.interface_name).unwrap_or_default();
                        if let Hs::Master(h) = &mut c.hs {
                            h.established(name);
                        }
                        tracing::info!(iface = idx, peer = %peer_name, "master link up");
                        self.events.push_back(Event::Connected {
                            iface: InterfaceId(idx),
                            queues,
                            peer_name,
                        });
                    }
                    Err(reason) => self.fail(key, &reason),
                }
            }
            MasterEvent::Closed { reason, origin } => self.teardown(key, reason, origin),
        }
    }

    fn master_map(
        &mut self,
        key: u64,
        regions: Vec<(memif_proto::AddRegion, OwnedFd)>,
        s2m: Vec<(AddRing, OwnedFd)>,
        m2s: Vec<(AddRing, OwnedFd)>,
    ) -> Result<Queues, String> {
        let idx = self.conns.get(&key).and_then(|c| c.iface).ok_or("no interface")?;
        let cfg = self.ifaces[idx].as_ref().ok_or("interface deleted")?.cfg.clone();
        let opts =
            MapOptions { max_size: cfg.limits.max_region_size, require_seal: !cfg.accept_unsealed_regions };
        let mut mapped = Vec::with_capacity(regions.len());
        for (r, fd) in regions {
            mapped.push(Region::from_fd(fd, r.size, &opts).map_err(|e| format!("region {}: {e}", r.index))?);
        }
        let memory = Arc::new(Memory::new(mapped));
        let link = Link::new().map_err(|e| e.to_string())?;
        let mut rx = Vec::new();
        let mut tx = Vec::new();
        let mut irqs = Vec::new();
        for (r, fd) in s2m {
            let ring = self.master_ring(&memory, &r)?;
            let irq = Interrupt::from_fd(fd);
            // Region bounds only, as VPP and libmemif check: a zero-copy slave (VPP's
            // default) hands over buffers of its own size, which we are not told.
            let mut q = MasterRx::new(ring, u32::MAX, irq.clone());
            q.set_rx_mode(cfg.rx_mode);
            irqs.push(irq);
            rx.push(RxQueue::master(q, link.clone(), r.index));
        }
        for (r, fd) in m2s {
            let ring = self.master_ring(&memory, &r)?;
            tx.push(TxQueue::master(
                MasterTx::new(ring, cfg.buffer_size, Interrupt::from_fd(fd)),
                link.clone(),
                r.index,
            ));
        }
        self.arm(key, idx, link, irqs, &cfg).map_err(|e| e.to_string())?;
        Ok(Queues { rx, tx })
    }

    fn master_ring(&self, memory: &Arc<Memory>, r: &AddRing) -> Result<Ring, String> {
        let ring = Ring::new(memory.clone(), r.region, r.offset as usize, r.log2_ring_size)
            .map_err(|e| format!("{:?} ring {}: {e}", r.direction, r.index))?;
        ring.check_cookie().map_err(|e| format!("{:?} ring {}: {e}", r.direction, r.index))?;
        ring.reset_indices();
        Ok(ring)
    }

    /// Registers the link's fault eventfd and the RX interrupts with epoll.
    fn arm(
        &mut self,
        key: u64,
        idx: usize,
        link: Arc<Link>,
        irqs: Vec<Interrupt>,
        cfg: &InterfaceConfig,
    ) -> Result<(), Error> {
        let ci = key & VALUE;
        self.epoll
            .add(link.wake.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, FAULT | ci))
            .map_err(|e| Error::io("epoll_ctl", e))?;
        let Some(c) = self.conns.get_mut(&key) else { return Ok(()) };
        if cfg.interrupts_in_poll {
            for (q, irq) in irqs.iter().enumerate() {
                self.epoll
                    .add(irq.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, IRQ | (ci << 16) | q as u64))
                    .map_err(|e| Error::io("epoll_ctl", e))?;
            }
            c.irqs = irqs;
        }
        c.link = Some(link);
        let _ = idx;
        Ok(())
    }

    fn slave_event(&mut self, key: u64, e: SlaveEvent) {
        match e {
            SlaveEvent::CreateMemory { s2m_queues, m2s_queues, log2_ring_size, .. } => {
                match self.slave_create(key, s2m_queues, m2s_queues, log2_ring_size) {
                    Ok(plan) => {
                        if let Some(Conn { hs: Hs::Slave(h), .. }) = self.conns.get_mut(&key) {
                            h.memory_ready(&plan);
                        }
                    }
                    Err(reason) => self.fail(key, &reason),
                }
            }
            SlaveEvent::Connected { peer_name } => match self.slave_queues(key) {
                Ok((idx, queues)) => {
                    tracing::info!(iface = idx, peer = %peer_name, "slave link up");
                    if let Some(f) = self.ifaces[idx].as_mut() {
                        f.last_error = None;
                    }
                    self.events.push_back(Event::Connected { iface: InterfaceId(idx), queues, peer_name });
                }
                Err(reason) => self.fail(key, &reason),
            },
            SlaveEvent::Closed { reason, origin } => self.teardown(key, reason, origin),
        }
    }

    fn slave_create(&mut self, key: u64, s2m: u16, m2s: u16, log2: u8) -> Result<MemoryPlan, String> {
        let idx = self.conns.get(&key).and_then(|c| c.iface).ok_or("no interface")?;
        let cfg = &self.ifaces[idx].as_ref().ok_or("interface deleted")?.cfg;
        let layout = Layout {
            num_s2m: s2m,
            num_m2s: m2s,
            log2_ring_size: log2,
            buffer_size: cfg.buffer_size,
            buffer_regions: cfg.buffer_regions,
        };
        layout.check().map_err(|e| e.to_string())?;
        let regions = layout.create_regions(&format!("memif{}", cfg.id)).map_err(|e| e.to_string())?;
        let mut region_fds = Vec::with_capacity(regions.len());
        for r in &regions {
            region_fds.push(r.as_fd().try_clone_to_owned().map_err(|e| format!("dup region fd: {e}"))?);
        }
        let memory = Arc::new(Memory::new(regions));
        let mut plan = MemoryPlan {
            region_sizes: layout.region_sizes().iter().map(|&s| s as u64).collect(),
            s2m: vec![],
            m2s: vec![],
        };
        let mut rings = [Vec::new(), Vec::new()];
        for (d, dir, n) in [(0, Direction::S2M, s2m), (1, Direction::M2S, m2s)] {
            for i in 0..n {
                let offset = layout.ring_offset(dir, i);
                let ring = Ring::new(memory.clone(), 0, offset, log2).map_err(|e| e.to_string())?;
                ring.init(&layout, dir, i);
                let irq = Interrupt::new().map_err(|e| format!("eventfd: {e}"))?;
                rings[d].push((ring, irq));
                let r = AddRing {
                    direction: dir,
                    index: i,
                    region: 0,
                    offset: offset as u32,
                    log2_ring_size: log2,
                };
                if dir == Direction::S2M {
                    plan.s2m.push(r)
                } else {
                    plan.m2s.push(r)
                }
            }
        }
        let [s2m_rings, m2s_rings] = rings;
        let c = self.conns.get_mut(&key).ok_or("connection gone")?;
        c.slave_mem = Some(SlaveMemory { layout, memory, region_fds, s2m: s2m_rings, m2s: m2s_rings });
        Ok(plan)
    }

    fn slave_queues(&mut self, key: u64) -> Result<(usize, Queues), String> {
        let c = self.conns.get_mut(&key).ok_or("connection gone")?;
        let idx = c.iface.ok_or("no interface")?;
        let mem = c.slave_mem.take().ok_or("no memory")?;
        let cfg = self.ifaces[idx].as_ref().ok_or("interface deleted")?.cfg.clone();
        let link = Link::new().map_err(|e| e.to_string())?;
        for (ring, _) in mem.s2m.iter().chain(&mem.m2s) {
            ring.check_cookie().map_err(|e| e.to_string())?;
            ring.reset_indices();
        }
        let mut tx = Vec::new();
        for (i, (ring, irq)) in mem.s2m.into_iter().enumerate() {
            tx.push(TxQueue::slave(SlaveTx::new(ring, &mem.layout, i as u16, irq), link.clone(), i as u16));
        }
        let mut rx = Vec::new();
        let mut irqs = Vec::new();
        for (i, (ring, irq)) in mem.m2s.into_iter().enumerate() {
            let mut q = SlaveRx::new(ring, &mem.layout, i as u16, irq.clone());
            q.set_rx_mode(cfg.rx_mode);
            q.refill();
            irqs.push(irq);
            rx.push(RxQueue::slave(q, link.clone(), i as u16));
        }
        drop(mem.region_fds);
        drop(mem.memory);
        self.arm(key, idx, link, irqs, &cfg).map_err(|e| e.to_string())?;
        Ok((idx, Queues { rx, tx }))
    }

    fn teardown(&mut self, key: u64, reason: String, origin: Origin) {
        let Some(c) = self.conns.remove(&key) else { return };
        let _ = self.epoll.delete(c.fd.as_fd());
        for irq in &c.irqs {
            let _ = self.epoll.delete(irq.as_fd());
        }
        if let Some(link) = &c.link {
            let _ = self.epoll.delete(link.wake.as_fd());
            link.set_down();
        }
        let (requested, master) = match &c.hs {
            Hs::Master(h) => (h.requested_id(), true),
            Hs::Slave(_) => (None, false),
        };
        match c.iface {
            Some(idx) => {
                if let Some(f) = self.ifaces[idx].as_mut() {
                    f.conn = None;
                    if f.cfg.role == Role::Slave {
                        f.next_attempt = Some(Instant::now() + f.cfg.reconnect_interval);
                        f.last_error = Some(reason.clone());
                    }
                }
                tracing::info!(iface = idx, %reason, ?origin, "disconnected");
                self.events.push_back(Event::Disconnected { iface: InterfaceId(idx), reason, origin });
            }
            None if master => {
                tracing::info!(id = ?requested, %reason, "connection refused");
                self.events.push_back(Event::Refused { id: requested, reason });
            }
            None => {}
        }
        // dropping `c` closes the socket, the slave's memfds and eventfds; the mapping
        // goes when the last queue handle is dropped
    }
}

impl AsFd for Socket {
    /// An epoll fd that becomes readable when [`Socket::poll`] has work: for your own
    /// event loop.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.0.as_fd()
    }
}

impl SlaveMemory {
    fn fd_for(&self, r: FdRef) -> Option<BorrowedFd<'_>> {
        match r {
            FdRef::Region(i) => self.region_fds.get(usize::from(i)).map(|f| f.as_fd()),
            FdRef::Ring(Direction::S2M, i) => self.s2m.get(usize::from(i)).map(|(_, irq)| irq.as_fd()),
            FdRef::Ring(Direction::M2S, i) => self.m2s.get(usize::from(i)).map(|(_, irq)| irq.as_fd()),
        }
    }
}

/// The master's view of its interfaces for one INIT.
struct Lookup<'a> {
    ifaces: &'a [Option<Iface>],
    conns: &'a HashMap<u64, Conn>,
    me: u64,
}

impl Lookup<'_> {
    fn snapshot(&self, msg: &Result<memif_proto::Message, memif_proto::ProtoError>) -> Snapshot {
        let id = match msg {
            Ok(memif_proto::Message::Init(i)) => i.id,
            _ => return Snapshot(None),
        };
        let f = self.ifaces.iter().flatten().find(|f| f.cfg.role == Role::Master && f.cfg.id == id);
        Snapshot(f.map(|f| MasterInterface {
            secret: f.cfg.secret,
            mode: f.cfg.mode,
            s2m_queues: f.cfg.s2m_queues,
            m2s_queues: f.cfg.m2s_queues,
            busy: f.conn.is_some_and(|c| c != self.me && self.conns.contains_key(&c)),
        }))
    }
}

struct Snapshot(Option<MasterInterface>);

impl InterfaceLookup for Snapshot {
    fn lookup(&self, _id: u32) -> Option<MasterInterface> {
        self.0
    }
}
