//! Fuzz body: both handshake state machines fed arbitrary messages, fds, hang-ups,
//! decisions and time steps. Shared by `fuzz/fuzz_targets/handshake.rs` and
//! `tests/fuzz_props.rs`.
//!
//! Invariants, checked after every step of either machine:
//! - no panic;
//! - `Closed` is reported at most once, and exactly when `is_closed()` turns true;
//! - once closed, a step transmits nothing and reports nothing, and no timeout is armed;
//! - a close of our own (`Origin::Local`) sends DISCONNECT in that step, a close by the
//!   peer sends nothing;
//! - the master never attaches an fd; the slave attaches exactly the fds of the memory it
//!   described, one per ADD_REGION / ADD_RING, and none to other messages.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use memif_conn::handshake::*;
use memif_proto::{AddRing, Direction, InstanceName, InterfaceName, Message, Mode, Secret};

fn fd() -> OwnedFd {
    File::open("/dev/null").expect("/dev/null").into()
}

/// What one machine has reported so far.
#[derive(Default)]
struct Seen {
    closed: usize,
    /// The step's transmits, drained.
    sent: Vec<Transmit>,
    closed_now: Option<Origin>,
    events_now: usize,
}

impl Seen {
    /// Checks one step's outcome; `was_closed`: the machine was closed before the step.
    fn check(&mut self, was_closed: bool, is_closed: bool, timeout: Option<Instant>, who: &str) {
        if was_closed {
            assert!(self.sent.is_empty(), "{who}: transmitted after closing: {:?}", self.sent);
            assert_eq!(self.events_now, 0, "{who}: reported an event after closing");
        }
        assert!(self.closed <= 1, "{who}: closed {} times", self.closed);
        assert_eq!(is_closed, self.closed == 1, "{who}: is_closed() disagrees with its Closed events");
        if is_closed {
            assert!(timeout.is_none(), "{who}: a timeout armed after closing");
        }
        let disconnects = self.sent.iter().filter(|t| matches!(t.msg, Message::Disconnect(_))).count();
        match self.closed_now {
            Some(Origin::Local) => assert_eq!(disconnects, 1, "{who}: closed without telling the peer"),
            Some(Origin::Remote) => assert_eq!(disconnects, 0, "{who}: sent DISCONNECT to a peer that left"),
            None => assert_eq!(disconnects, 0, "{who}: sent DISCONNECT without closing"),
        }
        self.sent.clear();
        self.closed_now = None;
        self.events_now = 0;
    }
}

struct Master {
    hs: MasterHandshake,
    seen: Seen,
    claimed: bool,
}

impl Master {
    /// Drains events (answering Connect as `fail_connect` says) and transmits, checks.
    fn settle(&mut self, was_closed: bool, fail_connect: bool) {
        while let Some(e) = self.hs.poll_event() {
            self.seen.events_now += 1;
            match e {
                MasterEvent::Closed { origin, .. } => {
                    self.seen.closed += 1;
                    self.seen.closed_now = Some(origin);
                }
                MasterEvent::Claimed { .. } => {
                    assert!(!self.claimed, "master: claimed an interface twice");
                    self.claimed = true;
                }
                MasterEvent::Connect { .. } => {
                    assert!(self.claimed, "master: Connect before an INIT was accepted");
                    if fail_connect {
                        self.hs.fail("cannot map");
                    } else {
                        self.hs.established(InterfaceName::default());
                        assert!(self.hs.is_connected());
                    }
                }
            }
        }
        while let Some(t) = self.hs.poll_transmit() {
            assert!(t.fd.is_none(), "the master never attaches fds");
            self.seen.sent.push(t);
        }
        self.seen.check(was_closed, self.hs.is_closed(), self.hs.poll_timeout(), "master");
    }
}

struct Slave {
    hs: SlaveHandshake,
    seen: Seen,
    plan: Option<MemoryPlan>,
}

impl Slave {
    fn settle(&mut self, was_closed: bool, fail_memory: bool) {
        while let Some(e) = self.hs.poll_event() {
            self.seen.events_now += 1;
            match e {
                SlaveEvent::Closed { origin, .. } => {
                    self.seen.closed += 1;
                    self.seen.closed_now = Some(origin);
                }
                SlaveEvent::CreateMemory { s2m_queues, m2s_queues, log2_ring_size, .. } => {
                    assert!(self.plan.is_none(), "slave: asked to create memory twice");
                    assert!((1..=2).contains(&s2m_queues) && (1..=2).contains(&m2s_queues));
                    assert!((1..=10).contains(&log2_ring_size));
                    if fail_memory {
                        self.hs.fail("cannot create memory");
                        continue;
                    }
                    let ring =
                        |direction, index| AddRing { direction, index, region: 0, offset: 0, log2_ring_size };
                    let plan = MemoryPlan {
                        region_sizes: vec![4096, 8192],
                        s2m: (0..s2m_queues).map(|i| ring(Direction::S2M, i)).collect(),
                        m2s: (0..m2s_queues).map(|i| ring(Direction::M2S, i)).collect(),
                    };
                    self.hs.memory_ready(&plan);
                    self.plan = Some(plan);
                }
                SlaveEvent::Connected { .. } => assert!(self.hs.is_connected()),
            }
        }
        while let Some(t) = self.hs.poll_transmit() {
            match (&t.msg, t.fd) {
                (Message::AddRegion(r), Some(FdRef::Region(i))) => {
                    assert_eq!(r.index, i);
                    let plan = self.plan.as_ref().expect("ADD_REGION before the memory existed");
                    assert_eq!(plan.region_sizes.get(usize::from(i)), Some(&r.size));
                }
                (Message::AddRing(r), Some(FdRef::Ring(d, i))) => {
                    assert_eq!((r.direction, r.index), (d, i));
                    let plan = self.plan.as_ref().expect("ADD_RING before the memory existed");
                    assert!(plan.s2m.contains(r) || plan.m2s.contains(r), "a ring that is not in the plan");
                }
                (m, fd) => assert!(
                    fd.is_none() && !matches!(m, Message::AddRegion(_) | Message::AddRing(_)),
                    "slave: {m:?} with fd {fd:?}"
                ),
            }
            self.seen.sent.push(t);
        }
        self.seen.check(was_closed, self.hs.is_closed(), self.hs.poll_timeout(), "slave");
    }
}

/// `data` is a sequence of 130-byte records: a flags byte (bit 0: attach an fd, bit 1:
/// attach two, bits 2-7: milliseconds to advance the clock times 100), a byte choosing
/// what happens (bit 0: the master (0) or the slave (1); bit 1: refuse the memory or
/// the mapping when asked; bit 2: the peer hangs up instead of sending), then 128 bytes
/// of message.
pub fn run(data: &[u8]) {
    let mut now = Instant::now();
    let lookup = |id: u32| {
        (id < 4).then_some(MasterInterface {
            secret: (id == 1).then(|| Secret::new("s").expect("fits")),
            mode: Mode::Ethernet,
            s2m_queues: 2,
            m2s_queues: 2,
            busy: id == 3,
        })
    };
    let mut m = Master {
        hs: MasterHandshake::new(InstanceName::default(), Limits::default(), now),
        seen: Seen::default(),
        claimed: false,
    };
    let params = SlaveParams {
        id: 0,
        mode: Mode::Ethernet,
        secret: Secret::default(),
        instance_name: InstanceName::default(),
        interface_name: InterfaceName::default(),
        s2m_queues: 2,
        m2s_queues: 2,
        log2_ring_size: 10,
        handshake_timeout: Duration::from_secs(5),
    };
    let mut s = Slave { hs: SlaveHandshake::new(params, now), seen: Seen::default(), plan: None };
    // the master says HELLO at once
    m.settle(false, false);
    for rec in data.chunks_exact(130) {
        now += Duration::from_millis(u64::from(rec[0] >> 2) * 100);
        let fds: Vec<OwnedFd> = (0..(rec[0] & 3).min(2)).map(|_| fd()).collect();
        let (slave, refuse, hangup) = (rec[1] & 1 != 0, rec[1] & 2 != 0, rec[1] & 4 != 0);
        let msg = Message::parse(&rec[2..]);
        if slave {
            let was_closed = s.hs.is_closed();
            if hangup {
                s.hs.handle_hangup("peer closed");
            } else {
                s.hs.handle(msg, fds, now);
            }
            s.settle(was_closed, refuse);
        } else {
            let was_closed = m.hs.is_closed();
            if hangup {
                m.hs.handle_hangup("peer closed");
            } else {
                m.hs.handle(msg, fds, now, &lookup);
            }
            m.settle(was_closed, refuse);
        }
        let was_closed = m.hs.is_closed();
        m.hs.handle_timeout(now);
        m.settle(was_closed, refuse);
        let was_closed = s.hs.is_closed();
        s.hs.handle_timeout(now);
        s.settle(was_closed, refuse);
    }
}
