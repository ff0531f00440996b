//! The handshake state machines driven against each other in memory, and every hostile
//! case a peer can throw at them, with no sockets.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use memif_conn::handshake::*;
use memif_proto::*;

fn some_fd() -> OwnedFd {
    File::open("/dev/null").unwrap().into()
}

fn iface() -> MasterInterface {
    MasterInterface { secret: None, mode: Mode::Ethernet, s2m_queues: 2, m2s_queues: 2, busy: false }
}

fn params() -> SlaveParams {
    SlaveParams {
        id: 7,
        mode: Mode::Ethernet,
        secret: Secret::default(),
        instance_name: InstanceName::new("slave-inst").unwrap(),
        interface_name: InterfaceName::new("slave-if").unwrap(),
        s2m_queues: 1,
        m2s_queues: 1,
        log2_ring_size: 10,
        handshake_timeout: Duration::from_secs(5),
    }
}

fn plan(s2m: u16, m2s: u16, log2: u8) -> MemoryPlan {
    let rb = ring_bytes(log2) as u64;
    let mut p =
        MemoryPlan { region_sizes: vec![rb * u64::from(s2m + m2s), 2048 * 1024], s2m: vec![], m2s: vec![] };
    for i in 0..s2m {
        p.s2m.push(AddRing {
            direction: Direction::S2M,
            index: i,
            region: 0,
            offset: (rb * u64::from(i)) as u32,
            log2_ring_size: log2,
        });
    }
    for i in 0..m2s {
        p.m2s.push(AddRing {
            direction: Direction::M2S,
            index: i,
            region: 0,
            offset: (rb * u64::from(s2m + i)) as u32,
            log2_ring_size: log2,
        });
    }
    p
}

/// Both ends in memory, exchanging messages through the encoder and parser.
struct Pair {
    m: MasterHandshake,
    s: SlaveHandshake,
    m_events: Vec<MasterEvent>,
    s_events: Vec<SlaveEvent>,
    lookup: Box<dyn Fn(u32) -> Option<MasterInterface>>,
    now: Instant,
}

impl Pair {
    fn new(p: SlaveParams, lookup: impl Fn(u32) -> Option<MasterInterface> + 'static) -> Pair {
        let now = Instant::now();
        Pair {
            m: MasterHandshake::new(InstanceName::new("master").unwrap(), Limits::default(), now),
            s: SlaveHandshake::new(p, now),
            m_events: vec![],
            s_events: vec![],
            lookup: Box::new(lookup),
            now,
        }
    }

    /// Moves messages both ways until nothing moves; answers CreateMemory and Connect.
    fn drive(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.m.poll_transmit() {
                moved = true;
                assert!(t.fd.is_none());
                self.s.handle(Message::parse(&t.msg.encode()), vec![], self.now);
            }
            while let Some(t) = self.s.poll_transmit() {
                moved = true;
                let fds = t.fd.map(|_| vec![some_fd()]).unwrap_or_default();
                let lookup: &dyn InterfaceLookup = &self.lookup;
                self.m.handle(Message::parse(&t.msg.encode()), fds, self.now, lookup);
            }
            while let Some(e) = self.s.poll_event() {
                moved = true;
                if let SlaveEvent::CreateMemory { s2m_queues, m2s_queues, log2_ring_size, .. } = &e {
                    self.s.memory_ready(&plan(*s2m_queues, *m2s_queues, *log2_ring_size));
                }
                self.s_events.push(e);
            }
            while let Some(e) = self.m.poll_event() {
                moved = true;
                if let MasterEvent::Connect { .. } = &e {
                    self.m.established(InterfaceName::new("master-if").unwrap());
                }
                self.m_events.push(e);
            }
            if !moved {
                return;
            }
        }
    }

    fn master_closed(&self) -> Option<(&str, Origin)> {
        self.m_events.iter().find_map(|e| match e {
            MasterEvent::Closed { reason, origin } => Some((reason.as_str(), *origin)),
            _ => None,
        })
    }

    fn slave_closed(&self) -> Option<(&str, Origin)> {
        self.s_events.iter().find_map(|e| match e {
            SlaveEvent::Closed { reason, origin } => Some((reason.as_str(), *origin)),
            _ => None,
        })
    }

    /// Both sides closed with `reason`: local on the master, remote on the slave.
    fn assert_master_refused(&self, reason: &str) {
        assert_eq!(self.master_closed(), Some((reason, Origin::Local)), "{:?}", self.m_events);
        assert_eq!(self.slave_closed(), Some((reason, Origin::Remote)), "{:?}", self.s_events);
        assert!(self.m.is_closed() && self.s.is_closed());
    }
}

#[test]
fn connects_and_negotiates() {
    let mut p = Pair::new(SlaveParams { s2m_queues: 4, m2s_queues: 3, ..params() }, |id| {
        (id == 7).then_some(MasterInterface { s2m_queues: 4, m2s_queues: 4, ..iface() })
    });
    p.drive();
    assert!(p.m.is_connected() && p.s.is_connected());
    assert!(matches!(p.m_events[0], MasterEvent::Claimed { id: 7 }));
    match &p.m_events[1] {
        MasterEvent::Connect { init, peer_name, regions, s2m, m2s } => {
            assert_eq!(init.id, 7);
            assert_eq!(peer_name.as_bytes(), b"slave-if");
            assert_eq!(regions.len(), 2);
            // HELLO says 255 rings each way; the slave asked 4 and 3
            assert_eq!((s2m.len(), m2s.len()), (4, 3));
        }
        e => panic!("{e:?}"),
    }
    assert!(
        matches!(&p.s_events[1], SlaveEvent::Connected { peer_name } if peer_name.as_bytes() == b"master-if")
    );
}

#[test]
fn slave_takes_min_of_hello_limits() {
    let now = Instant::now();
    let mut s = SlaveHandshake::new(
        SlaveParams { s2m_queues: 8, m2s_queues: 8, log2_ring_size: 14, ..params() },
        now,
    );
    let hello = Hello { max_s2m_ring: 1, max_m2s_ring: 0, max_log2_ring_size: 12, ..Hello::default() };
    s.handle(Ok(Message::Hello(hello)), vec![], now);
    assert!(matches!(
        s.poll_event(),
        Some(SlaveEvent::CreateMemory { s2m_queues: 2, m2s_queues: 1, log2_ring_size: 12, .. })
    ));
}

#[test]
fn wrong_secret_refused_both_sides() {
    let want = Secret::new("right").unwrap();
    let mut p = Pair::new(SlaveParams { secret: Secret::new("wrong").unwrap(), ..params() }, move |_| {
        Some(MasterInterface { secret: Some(want), ..iface() })
    });
    p.drive();
    p.assert_master_refused("Incorrect secret");
}

#[test]
fn missing_secret_refused() {
    let want = Secret::new("right").unwrap();
    let mut p = Pair::new(params(), move |_| Some(MasterInterface { secret: Some(want), ..iface() }));
    p.drive();
    p.assert_master_refused("Secret required");
}

#[test]
fn matching_secret_connects() {
    let want = Secret::new("right").unwrap();
    let mut p = Pair::new(SlaveParams { secret: want, ..params() }, move |_| {
        Some(MasterInterface { secret: Some(want), ..iface() })
    });
    p.drive();
    assert!(p.m.is_connected() && p.s.is_connected());
}

#[test]
fn unknown_id_refused() {
    let mut p = Pair::new(params(), |_| None);
    p.drive();
    p.assert_master_refused("unmatched interface id 7");
}

#[test]
fn already_connected_refused() {
    let mut p = Pair::new(params(), |_| Some(MasterInterface { busy: true, ..iface() }));
    p.drive();
    p.assert_master_refused("Already connected");
}

#[test]
fn mode_mismatch_refused() {
    let mut p = Pair::new(SlaveParams { mode: Mode::Ip, ..params() }, |_| Some(iface()));
    p.drive();
    assert!(p.master_closed().unwrap().0.starts_with("Mode mismatch"));
}

#[test]
fn too_many_rings_refused() {
    let mut p = Pair::new(SlaveParams { s2m_queues: 3, ..params() }, |_| Some(iface()));
    p.drive();
    assert!(p.master_closed().unwrap().0.starts_with("Invalid ring index"), "{:?}", p.m_events);
    assert_eq!(p.slave_closed().unwrap().1, Origin::Remote);
}

#[test]
fn slave_refuses_incompatible_version() {
    let now = Instant::now();
    let mut s = SlaveHandshake::new(params(), now);
    let hello = Hello { min_version: 0x0300, max_version: 0x0301, ..Hello::default() };
    s.handle(Ok(Message::Hello(hello)), vec![], now);
    let t = s.poll_transmit().unwrap();
    assert!(
        matches!(t.msg, Message::Disconnect(d) if d.reason.to_string_lossy().contains("incompatible memif version"))
    );
    assert!(matches!(s.poll_event(), Some(SlaveEvent::Closed { origin: Origin::Local, .. })));
}

/// A hand-driven master, for the hostile cases.
struct M {
    m: MasterHandshake,
    now: Instant,
}

impl M {
    fn new() -> M {
        let now = Instant::now();
        let mut m = MasterHandshake::new(InstanceName::new("m").unwrap(), Limits::default(), now);
        assert!(matches!(m.poll_transmit().unwrap().msg, Message::Hello(_)));
        M { m, now }
    }
    fn send(&mut self, msg: Message, fds: usize) -> Option<Message> {
        let fds = (0..fds).map(|_| some_fd()).collect();
        self.m.handle(Ok(msg), fds, self.now, &|id| (id == 0).then(iface));
        self.m.poll_transmit().map(|t| t.msg)
    }
    fn init(&mut self) {
        let init = Init {
            version: VERSION,
            id: 0,
            mode: Mode::Ethernet,
            secret: Secret::default(),
            name: InstanceName::default(),
        };
        assert_eq!(self.send(Message::Init(init), 0), Some(Message::Ack));
    }
    fn region(&mut self, size: u64) {
        assert_eq!(self.send(Message::AddRegion(AddRegion { index: 0, size }), 1), Some(Message::Ack));
    }
    /// The refusal reason, checking the master sent DISCONNECT and reported it.
    fn refused(&mut self, msg: Message, fds: usize) -> String {
        let out = self.send(msg, fds);
        let Some(Message::Disconnect(d)) = out else { panic!("expected DISCONNECT, got {out:?}") };
        let mut reported = None;
        while let Some(e) = self.m.poll_event() {
            if let MasterEvent::Closed { reason, origin: Origin::Local } = e {
                reported = Some(reason);
            }
        }
        assert_eq!(reported.as_deref(), Some(d.reason.to_string_lossy().as_str()));
        assert!(self.m.is_closed());
        d.reason.to_string_lossy()
    }
}

fn init_msg(version: u16) -> Message {
    Message::Init(Init {
        version,
        id: 0,
        mode: Mode::Ethernet,
        secret: Secret::default(),
        name: InstanceName::default(),
    })
}

fn ring(direction: Direction, index: u16, region: u16, offset: u32, log2: u8) -> Message {
    Message::AddRing(AddRing { direction, index, region, offset, log2_ring_size: log2 })
}

#[test]
fn hostile_version() {
    assert!(M::new().refused(init_msg(0x0100), 0).contains("incompatible memif version 1.0"));
    assert!(M::new().refused(init_msg(0x0201), 0).contains("incompatible memif version 2.1"));
}

#[test]
fn hostile_out_of_order() {
    assert_eq!(
        M::new().refused(Message::AddRegion(AddRegion { index: 0, size: 10 }), 1),
        "AddRegion before INIT"
    );
    assert_eq!(M::new().refused(Message::Connect(InterfaceName::default()), 0), "Connect before INIT");
    assert_eq!(M::new().refused(Message::Ack, 0), "unexpected message Ack");
    assert_eq!(M::new().refused(Message::Hello(Hello::default()), 0), "unexpected message Hello");
    let mut m = M::new();
    m.init();
    assert_eq!(m.refused(Message::Connected(InterfaceName::default()), 0), "unexpected message Connected");
}

#[test]
fn hostile_duplicate_init() {
    let mut m = M::new();
    m.init();
    assert_eq!(m.refused(init_msg(VERSION), 0), "duplicate INIT");
}

#[test]
fn hostile_region_without_fd() {
    let mut m = M::new();
    m.init();
    assert_eq!(
        m.refused(Message::AddRegion(AddRegion { index: 0, size: 4096 }), 0),
        "ADD_REGION 0 without a file descriptor"
    );
}

#[test]
fn hostile_region_sizes() {
    let mut m = M::new();
    m.init();
    assert_eq!(m.refused(Message::AddRegion(AddRegion { index: 0, size: 0 }), 1), "region 0 has size 0");
    let mut m = M::new();
    m.init();
    assert!(m
        .refused(Message::AddRegion(AddRegion { index: 0, size: 1 << 40 }), 1)
        .contains("above the limit"));
}

#[test]
fn hostile_too_many_regions() {
    let mut m = M::new();
    m.init();
    assert!(m
        .refused(Message::AddRegion(AddRegion { index: 256, size: 4096 }), 1)
        .contains("region index 256 above the limit 255"));
    let mut m = M::new();
    m.init();
    assert!(m.refused(Message::AddRegion(AddRegion { index: 3, size: 4096 }), 1).contains("out of order"));
}

#[test]
fn hostile_rings() {
    let rb = ring_bytes(10) as u64;
    let setup = || {
        let mut m = M::new();
        m.init();
        m.region(rb * 2);
        m
    };
    assert!(setup().refused(ring(Direction::S2M, 0, 1, 0, 10), 1).contains("names missing region 1"));
    assert!(setup()
        .refused(ring(Direction::S2M, 0, 0, rb as u32 + 8, 10), 1)
        .contains("does not fit in region 0"));
    assert!(setup().refused(ring(Direction::S2M, 0, 0, u32::MAX - 7, 10), 1).contains("does not fit"));
    assert!(setup().refused(ring(Direction::S2M, 0, 0, 4, 10), 1).contains("not 8-byte aligned"));
    assert!(setup().refused(ring(Direction::M2S, 2, 0, 0, 10), 1).starts_with("Invalid ring index"));
    assert!(setup().refused(ring(Direction::S2M, 0, 0, 0, 10), 0).contains("without an interrupt fd"));
    assert!(setup().refused(ring(Direction::S2M, 1, 0, 0, 10), 1).contains("out of order"));
    let mut m = setup();
    m.m = {
        let mut h = MasterHandshake::new(
            InstanceName::default(),
            Limits { max_log2_ring_size: 8, ..Limits::default() },
            m.now,
        );
        let _ = h.poll_transmit();
        h
    };
    m.init();
    m.region(rb * 2);
    assert!(m.refused(ring(Direction::S2M, 0, 0, 0, 10), 1).contains("log2 ring size 10 above the limit 8"));
}

#[test]
fn hostile_connect_without_memory() {
    let mut m = M::new();
    m.init();
    assert_eq!(m.refused(Message::Connect(InterfaceName::default()), 0), "CONNECT without any region");
    let mut m = M::new();
    m.init();
    m.region(1 << 20);
    assert!(m.refused(Message::Connect(InterfaceName::default()), 0).contains("at least one ring"));
}

#[test]
fn hostile_fd_with_message_that_takes_none() {
    assert_eq!(M::new().refused(init_msg(VERSION), 1), "unexpected file descriptor with Init");
    let mut m = M::new();
    m.init();
    assert_eq!(
        m.refused(Message::Connect(InterfaceName::default()), 1),
        "unexpected file descriptor with Connect"
    );
    let mut m = M::new();
    m.init();
    assert_eq!(
        m.refused(Message::AddRegion(AddRegion { index: 0, size: 4096 }), 2),
        "2 file descriptors with one message"
    );
}

#[test]
fn hostile_unparseable_message() {
    let mut m = M::new();
    m.m.handle(Err(ProtoError::UnknownType(99)), vec![], m.now, &|_| None);
    let Some(Transmit { msg: Message::Disconnect(d), .. }) = m.m.poll_transmit() else { panic!() };
    assert_eq!(d.reason.to_string_lossy(), "invalid message: unknown control message type 99");
}

#[test]
fn handshake_timeout_both_roles() {
    let mut m = M::new();
    assert!(m.m.poll_timeout().is_some());
    m.m.handle_timeout(m.now + Duration::from_secs(4));
    assert!(!m.m.is_closed());
    m.m.handle_timeout(m.now + Duration::from_secs(5));
    assert!(
        matches!(m.m.poll_transmit(), Some(Transmit { msg: Message::Disconnect(d), .. }) if d.reason.to_string_lossy() == "handshake timeout")
    );
    let now = Instant::now();
    let mut s = SlaveHandshake::new(params(), now);
    s.handle_timeout(now + Duration::from_secs(6));
    assert!(matches!(s.poll_event(), Some(SlaveEvent::Closed { origin: Origin::Local, .. })));
}

#[test]
fn remote_disconnect_and_hangup() {
    let mut p = Pair::new(params(), |_| Some(iface()));
    p.drive();
    assert!(p.m.is_connected());
    let d = Message::Disconnect(Disconnect { code: 0, reason: DisconnectReason::new("bye").unwrap() });
    p.m.handle(Ok(d), vec![], p.now, &|_| None);
    assert!(
        matches!(p.m.poll_event(), Some(MasterEvent::Closed { reason, origin: Origin::Remote }) if reason == "bye")
    );
    p.s.handle_hangup("peer closed the control socket");
    assert!(matches!(p.s.poll_event(), Some(SlaveEvent::Closed { origin: Origin::Remote, .. })));
}

#[test]
fn slave_rejects_fd_from_master() {
    let now = Instant::now();
    let mut s = SlaveHandshake::new(params(), now);
    s.handle(Ok(Message::Hello(Hello::default())), vec![some_fd()], now);
    assert!(
        matches!(s.poll_event(), Some(SlaveEvent::Closed { reason, .. }) if reason == "unexpected file descriptor with Hello")
    );
}
