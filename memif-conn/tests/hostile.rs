//! A hostile peer against our master and our slave. The peer speaks raw memif control
//! messages and writes raw ring memory. Every case must end in a clean DISCONNECT with a
//! reason (sent to the peer and reported locally), no panic, no fd left behind, and the
//! other interface on the same master socket still passing traffic.
//!
//! One test function runs every case in turn, because it counts the whole process's fds.

mod common;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use memif_conn::socket::{self as sock, Listener, Received, SocketFileOptions};
use memif_conn::*;
use memif_proto::*;
use memif_ring::{Interrupt, Memory, Ring};
use memif_shm::{Layout, Region};

const LOG2: u8 = 4;

/// A raw control connection.
struct Peer {
    fd: OwnedFd,
}

impl Peer {
    fn connect(path: &SocketPath) -> Peer {
        Peer { fd: sock::connect(path).unwrap() }
    }
    fn send(&self, msg: Message, fd: Option<BorrowedFd<'_>>) {
        let _ = sock::send(self.fd.as_fd(), &msg, fd);
    }
    fn send_raw(&self, bytes: &[u8]) {
        let _ = nix::sys::socket::send(
            std::os::fd::AsRawFd::as_raw_fd(&self.fd),
            bytes,
            nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
        );
    }
    /// The next message, polling `other` meanwhile; None when the socket closed.
    fn recv(&self, other: &mut Socket, ev: &mut Vec<Event>) -> Option<Message> {
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            assert!(Instant::now() < end, "peer got nothing; events {ev:?}");
            other.poll(Some(Duration::from_millis(1)), ev).unwrap();
            match sock::recv(self.fd.as_fd()).unwrap() {
                Received::Message(m, _) => return Some(m.unwrap()),
                Received::Closed => return None,
                Received::WouldBlock => {}
            }
        }
    }
}

/// Memory a hostile slave lays out the normal way, then corrupts.
struct SlaveMem {
    layout: Layout,
    mem: Arc<Memory>,
    s2m: Ring,
    m2s: Ring,
    irqs: [Interrupt; 2],
}

impl SlaveMem {
    fn new() -> SlaveMem {
        let layout =
            Layout { num_s2m: 1, num_m2s: 1, log2_ring_size: LOG2, buffer_size: 2048, buffer_regions: 1 };
        let mem = Arc::new(Memory::new(layout.create_regions("hostile").unwrap()));
        let s2m = Ring::new(mem.clone(), 0, layout.ring_offset(Direction::S2M, 0), LOG2).unwrap();
        let m2s = Ring::new(mem.clone(), 0, layout.ring_offset(Direction::M2S, 0), LOG2).unwrap();
        s2m.init(&layout, Direction::S2M, 0);
        m2s.init(&layout, Direction::M2S, 0);
        SlaveMem { layout, mem, s2m, m2s, irqs: [Interrupt::new().unwrap(), Interrupt::new().unwrap()] }
    }
    fn region_fd(&self, i: usize) -> BorrowedFd<'_> {
        self.mem.region(i).unwrap().as_fd()
    }
}

fn init(id: u32) -> Message {
    Message::Init(Init {
        version: VERSION,
        id,
        mode: Mode::Ethernet,
        secret: Secret::default(),
        name: InstanceName::new("evil").unwrap(),
    })
}

fn add_ring(direction: Direction, index: u16, region: u16, offset: u32, log2: u8) -> Message {
    Message::AddRing(AddRing { direction, index, region, offset, log2_ring_size: log2 })
}

/// Our master with a victim interface (id 0) and a bystander (id 1) connected through a
/// normal slave on the same socket.
struct MasterRig {
    _dir: TempDir,
    path: SocketPath,
    m: Socket,
    s: Socket,
    mq: Queues,
    sq: Queues,
    victim_queues: Option<Queues>,
}

impl MasterRig {
    fn new() -> MasterRig {
        let dir = TempDir::new("hostile-m");
        let path = dir.sock();
        let mut m = Socket::new(path.clone(), SocketOptions::default()).unwrap();
        let mut s = Socket::new(path.clone(), SocketOptions::default()).unwrap();
        for id in [0, 1] {
            let mut c = master_cfg(id);
            c.limits.handshake_timeout = Duration::from_millis(500);
            c.limits.max_region_size = 64 << 20;
            c.rx_mode = RxMode::Polling;
            m.add_interface(c).unwrap();
        }
        s.add_interface(slave_cfg(1)).unwrap();
        let ((_, mq), (_, sq)) = connect_pair(&mut m, &mut s);
        MasterRig { _dir: dir, path, m, s, mq, sq, victim_queues: None }
    }

    /// The bystander still passes traffic both ways.
    fn bystander_ok(&mut self) {
        let mut ev = Vec::new();
        self.s.poll(Some(Duration::ZERO), &mut ev).unwrap();
        assert!(!ev.iter().any(|e| matches!(e, Event::Disconnected { .. })), "bystander slave saw {ev:?}");
        let f = vec![vec![0x42u8; 100]];
        assert_eq!(exchange(&mut self.sq.tx[0], &mut self.mq.rx[0], &f), f);
        assert_eq!(exchange(&mut self.mq.tx[0], &mut self.sq.rx[0], &f), f);
    }

    /// Runs the handshake a well-behaved slave would, up to CONNECTED.
    fn connect_evil(&mut self, mem: &SlaveMem) -> Peer {
        let p = Peer::connect(&self.path);
        let mut ev = Vec::new();
        assert!(matches!(p.recv(&mut self.m, &mut ev), Some(Message::Hello(_))));
        p.send(init(0), None);
        assert_eq!(p.recv(&mut self.m, &mut ev), Some(Message::Ack));
        for (i, size) in mem.layout.region_sizes().into_iter().enumerate() {
            p.send(
                Message::AddRegion(AddRegion { index: i as u16, size: size as u64 }),
                Some(mem.region_fd(i)),
            );
            assert_eq!(p.recv(&mut self.m, &mut ev), Some(Message::Ack));
        }
        for (k, dir) in [Direction::S2M, Direction::M2S].into_iter().enumerate() {
            let off = mem.layout.ring_offset(dir, 0) as u32;
            p.send(add_ring(dir, 0, 0, off, LOG2), Some(mem.irqs[k].as_fd()));
            assert_eq!(p.recv(&mut self.m, &mut ev), Some(Message::Ack));
        }
        p.send(Message::Connect(InterfaceName::new("evil").unwrap()), None);
        assert!(matches!(p.recv(&mut self.m, &mut ev), Some(Message::Connected(_))), "{ev:?}");
        self.m.poll(Some(Duration::ZERO), &mut ev).unwrap();
        self.victim_queues = take_queues(&mut ev).pop().map(|(_, q)| q);
        assert!(self.victim_queues.is_some());
        p
    }

    /// The peer is sent a DISCONNECT whose reason contains `want`, and the master
    /// reports the same reason.
    fn expect_refused(&mut self, p: &Peer, want: &str) {
        let mut ev = Vec::new();
        let got = loop {
            match p.recv(&mut self.m, &mut ev) {
                Some(Message::Disconnect(d)) => break d.reason.to_string_lossy(),
                Some(Message::Hello(_) | Message::Ack | Message::Connected(_)) => continue,
                other => panic!("expected DISCONNECT containing {want:?}, got {other:?}"),
            }
        };
        assert!(got.contains(want), "reason {got:?} does not contain {want:?}");
        // the socket is closed after it
        assert_eq!(p.recv(&mut self.m, &mut ev), None);
        let end = Instant::now() + Duration::from_secs(2);
        while !ev.iter().any(|e| matches!(e, Event::Refused { .. } | Event::Disconnected { .. })) {
            assert!(Instant::now() < end, "master reported nothing: {ev:?}");
            self.m.poll(Some(Duration::from_millis(5)), &mut ev).unwrap();
        }
        let reported = ev.iter().find_map(|e| match e {
            Event::Refused { reason, .. } | Event::Disconnected { reason, origin: Origin::Local, .. } => {
                Some(reason.clone())
            }
            _ => None,
        });
        // the wire carries what fits in its 96-byte field; the local report is whole
        assert!(reported.as_deref().is_some_and(|r| r.starts_with(got.as_str())), "{got:?} vs {ev:?}");
        // a disconnected victim's queues say so
        if let Some(q) = &mut self.victim_queues {
            assert!(matches!(q.rx[0].rx_burst(1), Err(QueueError::Down)));
        }
        self.victim_queues = None;
    }

    /// Handshake up to and including the regions and rings given, then CONNECT.
    fn handshake_with(
        &mut self,
        p: &Peer,
        regions: &[(u64, BorrowedFd<'_>)],
        rings: &[Message],
        ring_fd: BorrowedFd<'_>,
    ) {
        let mut ev = Vec::new();
        assert!(matches!(p.recv(&mut self.m, &mut ev), Some(Message::Hello(_))));
        p.send(init(0), None);
        assert_eq!(p.recv(&mut self.m, &mut ev), Some(Message::Ack));
        for (i, (size, fd)) in regions.iter().enumerate() {
            p.send(Message::AddRegion(AddRegion { index: i as u16, size: *size }), Some(*fd));
            assert_eq!(p.recv(&mut self.m, &mut ev), Some(Message::Ack));
        }
        for r in rings {
            p.send(*r, Some(ring_fd));
            assert_eq!(p.recv(&mut self.m, &mut ev), Some(Message::Ack));
        }
        p.send(Message::Connect(InterfaceName::new("evil").unwrap()), None);
    }
}

fn unsealed_memfd(size: i64) -> OwnedFd {
    let fd =
        nix::sys::memfd::memfd_create(c"unsealed", nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC).unwrap();
    nix::unistd::ftruncate(&fd, size).unwrap();
    fd
}

type Case = (&'static str, fn(&mut MasterRig));

fn master_cases() -> Vec<Case> {
    vec![
        ("unknown message type", |r| {
            let p = Peer::connect(&r.path);
            let mut b = [0u8; 128];
            b[0] = 99;
            p.send_raw(&b);
            r.expect_refused(&p, "unknown control message type 99");
        }),
        ("message shorter than 128 bytes", |r| {
            let p = Peer::connect(&r.path);
            p.send_raw(&init(0).encode()[..64]);
            r.expect_refused(&p, "control message is 64 bytes long");
        }),
        ("message longer than 128 bytes", |r| {
            let p = Peer::connect(&r.path);
            let mut b = init(0).encode().to_vec();
            b.extend_from_slice(&[0u8; 72]);
            p.send_raw(&b);
            r.expect_refused(&p, "control message is 200 bytes long");
        }),
        ("message far longer than 128 bytes", |r| {
            let p = Peer::connect(&r.path);
            p.send_raw(&[3u8; 4000]);
            r.expect_refused(&p, "expected exactly 128");
        }),
        ("CONNECT before INIT", |r| {
            let p = Peer::connect(&r.path);
            p.send(Message::Connect(InterfaceName::default()), None);
            r.expect_refused(&p, "Connect before INIT");
        }),
        ("duplicate INIT", |r| {
            let p = Peer::connect(&r.path);
            p.send(init(0), None);
            p.send(init(0), None);
            r.expect_refused(&p, "duplicate INIT");
        }),
        ("version outside our range", |r| {
            let p = Peer::connect(&r.path);
            let Message::Init(mut i) = init(0) else { unreachable!() };
            i.version = 0x0100;
            p.send(Message::Init(i), None);
            r.expect_refused(&p, "incompatible memif version 1.0");
        }),
        ("unknown interface id", |r| {
            let p = Peer::connect(&r.path);
            p.send(init(77), None);
            r.expect_refused(&p, "unmatched interface id 77");
        }),
        ("id already connected", |r| {
            let p = Peer::connect(&r.path);
            p.send(init(1), None);
            r.expect_refused(&p, "Already connected");
        }),
        ("fd attached to INIT", |r| {
            let p = Peer::connect(&r.path);
            let irq = Interrupt::new().unwrap();
            p.send(init(0), Some(irq.as_fd()));
            r.expect_refused(&p, "unexpected file descriptor with Init");
        }),
        ("fd attached to CONNECT", |r| {
            let p = Peer::connect(&r.path);
            let irq = Interrupt::new().unwrap();
            p.send(init(0), None);
            p.send(Message::Connect(InterfaceName::default()), Some(irq.as_fd()));
            r.expect_refused(&p, "unexpected file descriptor with Connect");
        }),
        ("ADD_REGION without an fd", |r| {
            let p = Peer::connect(&r.path);
            p.send(init(0), None);
            p.send(Message::AddRegion(AddRegion { index: 0, size: 4096 }), None);
            r.expect_refused(&p, "ADD_REGION 0 without a file descriptor");
        }),
        ("region size zero", |r| {
            let p = Peer::connect(&r.path);
            let m = SlaveMem::new();
            p.send(init(0), None);
            p.send(Message::AddRegion(AddRegion { index: 0, size: 0 }), Some(m.region_fd(0)));
            r.expect_refused(&p, "region 0 has size 0");
        }),
        ("region size above the cap", |r| {
            let p = Peer::connect(&r.path);
            let m = SlaveMem::new();
            p.send(init(0), None);
            p.send(Message::AddRegion(AddRegion { index: 0, size: 1 << 40 }), Some(m.region_fd(0)));
            r.expect_refused(&p, "above the limit");
        }),
        ("too many regions", |r| {
            let p = Peer::connect(&r.path);
            let m = SlaveMem::new();
            p.send(init(0), None);
            p.send(Message::AddRegion(AddRegion { index: 300, size: 4096 }), Some(m.region_fd(0)));
            r.expect_refused(&p, "region index 300 above the limit 255");
        }),
        ("too many rings", |r| {
            let p = Peer::connect(&r.path);
            let m = SlaveMem::new();
            p.send(init(0), None);
            p.send(
                Message::AddRegion(AddRegion { index: 0, size: m.layout.ring_region_size() as u64 }),
                Some(m.region_fd(0)),
            );
            p.send(add_ring(Direction::S2M, 1, 0, 0, LOG2), Some(m.irqs[0].as_fd()));
            r.expect_refused(&p, "Invalid ring index");
        }),
        ("ADD_RING naming a missing region", |r| {
            let p = Peer::connect(&r.path);
            let m = SlaveMem::new();
            p.send(init(0), None);
            p.send(
                Message::AddRegion(AddRegion { index: 0, size: m.layout.ring_region_size() as u64 }),
                Some(m.region_fd(0)),
            );
            p.send(add_ring(Direction::S2M, 0, 5, 0, LOG2), Some(m.irqs[0].as_fd()));
            r.expect_refused(&p, "names missing region 5");
        }),
        ("ring that does not fit in its region", |r| {
            let p = Peer::connect(&r.path);
            let m = SlaveMem::new();
            p.send(init(0), None);
            let size = m.layout.ring_region_size() as u64;
            p.send(Message::AddRegion(AddRegion { index: 0, size }), Some(m.region_fd(0)));
            p.send(add_ring(Direction::S2M, 0, 0, size as u32 - 64, LOG2), Some(m.irqs[0].as_fd()));
            r.expect_refused(&p, "does not fit in region 0");
        }),
        ("log2 ring size 0", |r| {
            let p = Peer::connect(&r.path);
            let m = SlaveMem::new();
            p.send(init(0), None);
            p.send(
                Message::AddRegion(AddRegion { index: 0, size: m.layout.ring_region_size() as u64 }),
                Some(m.region_fd(0)),
            );
            let mut b = add_ring(Direction::S2M, 0, 0, 0, LOG2).encode();
            b[12] = 0;
            p.send_raw(&b);
            r.expect_refused(&p, "log2 ring size 0 outside 1..=14");
        }),
        ("log2 ring size above the maximum", |r| {
            let p = Peer::connect(&r.path);
            let m = SlaveMem::new();
            p.send(init(0), None);
            p.send(
                Message::AddRegion(AddRegion { index: 0, size: m.layout.ring_region_size() as u64 }),
                Some(m.region_fd(0)),
            );
            let mut b = add_ring(Direction::S2M, 0, 0, 0, LOG2).encode();
            b[12] = 15;
            p.send_raw(&b);
            r.expect_refused(&p, "log2 ring size 15 outside 1..=14");
        }),
        ("ADD_RING without an fd", |r| {
            let p = Peer::connect(&r.path);
            let m = SlaveMem::new();
            p.send(init(0), None);
            p.send(
                Message::AddRegion(AddRegion { index: 0, size: m.layout.ring_region_size() as u64 }),
                Some(m.region_fd(0)),
            );
            p.send(add_ring(Direction::S2M, 0, 0, 0, LOG2), None);
            r.expect_refused(&p, "without an interrupt fd");
        }),
        ("region size larger than the memfd", |r| {
            let p = Peer::connect(&r.path);
            let m = SlaveMem::new();
            let rs = m.layout.ring_region_size() as u64;
            let rings =
                [add_ring(Direction::S2M, 0, 0, 0, LOG2), add_ring(Direction::M2S, 0, 0, rs as u32, LOG2)];
            r.handshake_with(&p, &[(1 << 20, m.region_fd(0))], &rings, m.irqs[0].as_fd());
            r.expect_refused(&p, "region 0");
        }),
        ("region fd that is a pipe", |r| {
            let p = Peer::connect(&r.path);
            let (rd, _wr) = nix::unistd::pipe().unwrap();
            let rings = [add_ring(Direction::S2M, 0, 0, 0, LOG2), add_ring(Direction::M2S, 0, 0, 4096, LOG2)];
            r.handshake_with(&p, &[(1 << 16, rd.as_fd())], &rings, rd.as_fd());
            r.expect_refused(&p, "region 0");
        }),
        ("region fd that is a socket", |r| {
            let p = Peer::connect(&r.path);
            let s = sock::connect(&r.path).unwrap();
            let rings = [add_ring(Direction::S2M, 0, 0, 0, LOG2), add_ring(Direction::M2S, 0, 0, 4096, LOG2)];
            r.handshake_with(&p, &[(1 << 16, s.as_fd())], &rings, s.as_fd());
            r.expect_refused(&p, "region 0");
            drop(s);
            // that extra connection never spoke: it ends in a handshake timeout
            let mut ev = Vec::new();
            let end = Instant::now() + Duration::from_secs(3);
            while !ev.iter().any(|e| matches!(e, Event::Refused { reason, .. } if reason.contains("closed") || reason.contains("timeout"))) {
                assert!(Instant::now() < end, "{ev:?}");
                r.m.poll(Some(Duration::from_millis(10)), &mut ev).unwrap();
            }
        }),
        ("unsealed memfd that the peer can shrink", |r| {
            let p = Peer::connect(&r.path);
            let fd = unsealed_memfd(1 << 16);
            let irq = Interrupt::new().unwrap();
            let rings = [add_ring(Direction::S2M, 0, 0, 0, LOG2), add_ring(Direction::M2S, 0, 0, 4096, LOG2)];
            r.handshake_with(&p, &[(1 << 16, fd.as_fd())], &rings, irq.as_fd());
            // and shrinks it while we map
            nix::unistd::ftruncate(&fd, 0).unwrap();
            r.expect_refused(&p, "region 0");
        }),
        ("wrong cookie in a ring", |r| {
            let p = Peer::connect(&r.path);
            let m = SlaveMem::new();
            let rs = m.layout.ring_bytes() as u32;
            // a region with no ring written in it: cookie 0
            let blank = Region::create("blank", 2 * rs as usize).unwrap();
            let rings = [add_ring(Direction::S2M, 0, 0, 0, LOG2), add_ring(Direction::M2S, 0, 0, rs, LOG2)];
            r.handshake_with(
                &p,
                &[(2 * u64::from(rs), blank.as_fd()), (m.layout.region_sizes()[1] as u64, m.region_fd(1))],
                &rings,
                m.irqs[0].as_fd(),
            );
            r.expect_refused(&p, "cookie");
        }),
        ("peer that connects and never speaks", |r| {
            let p = Peer::connect(&r.path);
            r.expect_refused(&p, "handshake timeout");
        }),
        ("descriptor with a bad region", |r| {
            let m = SlaveMem::new();
            let p = r.connect_evil(&m);
            m.s2m.set_descriptor(0, &Descriptor::new(0, 9, 64, 0));
            m.s2m.set_head(1);
            r.victim_rx();
            r.expect_refused(&p, "region 9");
        }),
        ("descriptor offset past the end of its region", |r| {
            let m = SlaveMem::new();
            let p = r.connect_evil(&m);
            let len = m.mem.region_len(1).unwrap() as u32;
            m.s2m.set_descriptor(0, &Descriptor::new(0, 1, 64, len + 4096));
            m.s2m.set_head(1);
            r.victim_rx();
            r.expect_refused(&p, "RX queue 0");
        }),
        ("descriptor offset plus length overflowing 32 bits", |r| {
            let m = SlaveMem::new();
            let p = r.connect_evil(&m);
            m.s2m.set_descriptor(0, &Descriptor::new(0, 1, 2000, u32::MAX - 100));
            m.s2m.set_head(1);
            r.victim_rx();
            r.expect_refused(&p, "RX queue 0");
        }),
        ("descriptor above the buffer size: inside its region taken, past its end refused", |r| {
            // VPP's zero-copy slave hands over descriptors longer than 2048 bytes in its
            // own buffer regions: only the region's bounds can be checked, as VPP does.
            let m = SlaveMem::new();
            let p = r.connect_evil(&m);
            let len = m.mem.region_len(1).unwrap() as u32;
            m.s2m.set_descriptor(0, &Descriptor::new(0, 1, 4096, 0));
            m.s2m.set_descriptor(1, &Descriptor::new(0, 1, len - 4096, 4096));
            m.s2m.set_head(2);
            let q = r.victim_queues.as_mut().unwrap();
            let b = q.rx[0].rx_burst(32).unwrap();
            let lens: Vec<usize> = b.iter().map(|p| p.len()).collect();
            assert_eq!(lens, [4096, len as usize - 4096]);
            b.release();
            m.s2m.set_descriptor(2, &Descriptor::new(0, 1, len - 4095, 4096));
            m.s2m.set_head(3);
            r.victim_rx();
            r.expect_refused(&p, "RX queue 0");
        }),
        ("head jumping more than the ring size ahead", |r| {
            let m = SlaveMem::new();
            let p = r.connect_evil(&m);
            m.s2m.set_head(1000);
            r.victim_rx();
            r.expect_refused(&p, "RX queue 0");
        }),
        ("NEXT chain that never ends", |r| {
            let m = SlaveMem::new();
            let p = r.connect_evil(&m);
            for slot in 0..(1u16 << LOG2) {
                let (region, offset) = m.layout.buffer_location(Direction::S2M, 0, slot);
                m.s2m.set_descriptor(slot, &Descriptor::new(DESC_FLAG_NEXT, region, 64, offset));
            }
            m.s2m.set_head(1 << LOG2);
            r.victim_rx();
            r.expect_refused(&p, "RX queue 0");
        }),
        ("master TX into buffers the slave posted out of bounds", |r| {
            let m = SlaveMem::new();
            let p = r.connect_evil(&m);
            m.m2s.set_descriptor(0, &Descriptor::new(0, 1, 2048, u32::MAX - 10));
            m.m2s.set_head(1);
            let q = r.victim_queues.as_mut().unwrap();
            assert!(matches!(q.tx[0].send(&[&[1u8; 64]]), Err(QueueError::Ring(_))));
            r.expect_refused(&p, "TX queue 0");
        }),
        ("name fields with no NUL are read whole", |r| {
            let p = Peer::connect(&r.path);
            let mut ev = Vec::new();
            assert!(matches!(p.recv(&mut r.m, &mut ev), Some(Message::Hello(_))));
            let mut b = init(0).encode();
            b[33..65].fill(b'N');
            p.send_raw(&b);
            assert_eq!(p.recv(&mut r.m, &mut ev), Some(Message::Ack));
            let mut b = Message::Connect(InterfaceName::default()).encode();
            b[2..34].fill(b'Z');
            p.send_raw(&b);
            r.expect_refused(&p, "CONNECT without any region");
        }),
    ]
}

impl MasterRig {
    /// The victim's RX queue reads the corrupted ring (as a user thread would).
    fn victim_rx(&mut self) {
        let q = self.victim_queues.as_mut().unwrap();
        match q.rx[0].rx_burst(32) {
            Err(QueueError::Ring(_)) => {}
            other => panic!("expected a ring error, got {:?}", other.map(|b| b.len())),
        }
    }
}

#[test]
fn hostile_peers() {
    raise_fd_limit();
    let mut rig = MasterRig::new();
    rig.bystander_ok();
    let mut n = 0;
    for (name, case) in master_cases() {
        eprintln!("master case: {name}");
        let fds = fd_count();
        case(&mut rig);
        assert_eq!(fd_count(), fds, "{name}: fds leaked");
        rig.bystander_ok();
        n += 1;
    }
    eprintln!("flood of 1000 connections");
    flood(&mut rig);
    rig.bystander_ok();
    n += 1;
    for (name, case) in slave_cases() {
        eprintln!("slave case: {name}");
        let fds = fd_count();
        case();
        assert_eq!(fd_count(), fds, "{name}: fds leaked");
        rig.bystander_ok();
        n += 1;
    }
    eprintln!("{n} hostile cases passed");
    assert!(n >= 25);
}

fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard.min(65536), hard).unwrap();
}

/// 1000 connections at once: the master keeps serving, and every one is cleaned up.
fn flood(r: &mut MasterRig) {
    let fds = fd_count();
    let mut peers = Vec::new();
    let mut ev = Vec::new();
    while peers.len() < 1000 {
        match sock::connect(&r.path) {
            Ok(fd) => peers.push(fd),
            Err(_) => r.m.poll(Some(Duration::from_millis(1)), &mut ev).unwrap(),
        }
        if peers.len() % 100 == 0 {
            r.m.poll(Some(Duration::ZERO), &mut ev).unwrap();
        }
    }
    r.bystander_ok();
    drop(peers);
    let end = Instant::now() + Duration::from_secs(10);
    while fd_count() > fds {
        assert!(Instant::now() < end, "flood left {} fds", fd_count() - fds);
        r.m.poll(Some(Duration::from_millis(5)), &mut ev).unwrap();
    }
    assert_eq!(ev.iter().filter(|e| matches!(e, Event::Refused { .. })).count(), 1000);
}

/// A hostile master against our slave.
struct EvilMaster {
    _dir: TempDir,
    listener: Listener,
    s: Socket,
}

impl EvilMaster {
    fn new() -> EvilMaster {
        let dir = TempDir::new("hostile-s");
        let listener = Listener::bind(&dir.sock(), &SocketFileOptions::default()).unwrap();
        let mut s = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
        let mut c = slave_cfg(0);
        c.rx_mode = RxMode::Polling;
        c.log2_ring_size = LOG2;
        c.reconnect_interval = Duration::from_secs(60);
        s.add_interface(c).unwrap();
        EvilMaster { _dir: dir, listener, s }
    }
    fn accept(&mut self) -> Peer {
        let mut ev = Vec::new();
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            self.s.poll(Some(Duration::from_millis(1)), &mut ev).unwrap();
            if let Some(fd) = self.listener.accept().unwrap() {
                return Peer { fd };
            }
            assert!(Instant::now() < end);
        }
    }
    /// Plays a correct master up to CONNECTED; returns the slave's regions and queues.
    fn connect(&mut self, p: &Peer) -> (Arc<Memory>, Queues) {
        let mut ev = Vec::new();
        p.send(Message::Hello(Hello::default()), None);
        let mut regions = Vec::new();
        loop {
            let end = Instant::now() + Duration::from_secs(5);
            let (msg, mut fds) = loop {
                self.s.poll(Some(Duration::from_millis(1)), &mut ev).unwrap();
                if let Received::Message(m, fds) = sock::recv(p.fd.as_fd()).unwrap() {
                    break (m.unwrap(), fds);
                }
                assert!(Instant::now() < end);
            };
            match msg {
                Message::AddRegion(r) => {
                    regions.push(Region::from_fd(fds.pop().unwrap(), r.size, &Default::default()).unwrap())
                }
                Message::Connect(_) => break,
                _ => {}
            }
            p.send(Message::Ack, None);
        }
        p.send(Message::Connected(InterfaceName::new("evil").unwrap()), None);
        let mut ev = drive(&mut [&mut self.s], Duration::from_secs(5), |e| connected(&e[0]) == 1);
        let (_, q) = take_queues(&mut ev[0]).pop().unwrap();
        (Arc::new(Memory::new(regions)), q)
    }
    /// Our slave sent a DISCONNECT containing `want` and reported it locally.
    fn expect_refused(&mut self, p: &Peer, want: &str) {
        let mut ev = Vec::new();
        let got = loop {
            match p.recv(&mut self.s, &mut ev) {
                Some(Message::Disconnect(d)) => break d.reason.to_string_lossy(),
                Some(_) => continue,
                None => panic!("closed without DISCONNECT"),
            }
        };
        assert!(got.contains(want), "reason {got:?} does not contain {want:?}");
        self.s.poll(Some(Duration::from_millis(5)), &mut ev).unwrap();
        assert!(
            ev.iter().any(|e| matches!(e, Event::Disconnected { reason, origin: Origin::Local, .. } if reason.starts_with(got.as_str()))),
            "{ev:?}"
        );
    }
}

fn slave_cases() -> Vec<(&'static str, fn())> {
    vec![
        ("HELLO with a version range we do not speak", || {
            let mut e = EvilMaster::new();
            let p = e.accept();
            p.send(
                Message::Hello(Hello { min_version: 0x0300, max_version: 0x0400, ..Hello::default() }),
                None,
            );
            e.expect_refused(&p, "incompatible memif version");
        }),
        ("fd attached to HELLO", || {
            let mut e = EvilMaster::new();
            let p = e.accept();
            let irq = Interrupt::new().unwrap();
            p.send(Message::Hello(Hello::default()), Some(irq.as_fd()));
            e.expect_refused(&p, "unexpected file descriptor with Hello");
        }),
        ("unknown message type from the master", || {
            let mut e = EvilMaster::new();
            let p = e.accept();
            let mut b = [0u8; 128];
            b[0] = 42;
            p.send_raw(&b);
            e.expect_refused(&p, "unknown control message type 42");
        }),
        ("CONNECTED out of order", || {
            let mut e = EvilMaster::new();
            let p = e.accept();
            p.send(Message::Connected(InterfaceName::default()), None);
            e.expect_refused(&p, "unexpected message Connected");
        }),
        ("master that never answers", || {
            let mut e = EvilMaster::new();
            let p = e.accept();
            e.expect_refused(&p, "handshake timeout");
        }),
        ("M2S descriptor rewritten by the master", || {
            let mut e = EvilMaster::new();
            let p = e.accept();
            let (mem, mut q) = e.connect(&p);
            let layout =
                Layout { num_s2m: 1, num_m2s: 1, log2_ring_size: LOG2, buffer_size: 2048, buffer_regions: 1 };
            let m2s = Ring::new(mem.clone(), 0, layout.ring_offset(Direction::M2S, 0), LOG2).unwrap();
            // a region/offset pointing anywhere is ignored: the slave reads the buffer it
            // posted in that slot, so the master cannot redirect it
            m2s.set_descriptor(0, &Descriptor::new(0, 7, 64, u32::MAX - 8));
            m2s.set_tail(1);
            let b = q.rx[0].rx_burst(8).unwrap();
            assert_eq!(b.len(), 1);
            assert_eq!(b.get(0).unwrap().len(), 64);
            b.release();
            // a length above the buffer size is an error
            m2s.set_descriptor(1, &Descriptor::new(0, 1, 4096, 0));
            m2s.set_tail(2);
            assert!(matches!(q.rx[0].rx_burst(8), Err(QueueError::Ring(_))));
            e.expect_refused(&p, "RX queue 0");
        }),
        ("M2S tail jumping past what the slave posted", || {
            let mut e = EvilMaster::new();
            let p = e.accept();
            let (mem, mut q) = e.connect(&p);
            let layout =
                Layout { num_s2m: 1, num_m2s: 1, log2_ring_size: LOG2, buffer_size: 2048, buffer_regions: 1 };
            let m2s = Ring::new(mem.clone(), 0, layout.ring_offset(Direction::M2S, 0), LOG2).unwrap();
            m2s.set_tail(40000);
            assert!(matches!(q.rx[0].rx_burst(8), Err(QueueError::Ring(_))));
            e.expect_refused(&p, "RX queue 0");
        }),
    ]
}
