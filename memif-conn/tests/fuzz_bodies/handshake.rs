//! Fuzz body: both handshake state machines fed arbitrary messages, fds and time steps.
//! Shared by `fuzz/fuzz_targets/handshake.rs` and `tests/fuzz_props.rs`.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use memif_conn::handshake::*;
use memif_proto::{InstanceName, InterfaceName, Message, Mode, Secret};

fn fd() -> OwnedFd {
    File::open("/dev/null").expect("/dev/null").into()
}

/// `data` is a sequence of 130-byte records: a flags byte (bit 0: attach an fd, bit 1:
/// attach two, bits 2-7: milliseconds to advance the clock times 100), a byte choosing
/// the machine (even: master, odd: slave), then 128 bytes of message.
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
    let mut m = MasterHandshake::new(InstanceName::default(), Limits::default(), now);
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
    let mut s = SlaveHandshake::new(params, now);
    let (mut m_closed, mut s_closed) = (0, 0);
    for rec in data.chunks_exact(130) {
        now += Duration::from_millis(u64::from(rec[0] >> 2) * 100);
        let fds: Vec<OwnedFd> = (0..(rec[0] & 3).min(2)).map(|_| fd()).collect();
        let msg = Message::parse(&rec[2..]);
        if rec[1] % 2 == 0 {
            let was_closed = m.is_closed();
            m.handle(msg, fds, now, &lookup);
            while let Some(e) = m.poll_event() {
                match e {
                    MasterEvent::Closed { .. } => m_closed += 1,
                    MasterEvent::Connect { .. } => m.established(InterfaceName::default()),
                    MasterEvent::Claimed { .. } => {}
                }
            }
            let mut sent = 0;
            while let Some(t) = m.poll_transmit() {
                assert!(t.fd.is_none(), "the master never attaches fds");
                sent += 1;
            }
            if was_closed {
                assert_eq!(sent, 0, "a closed master sent something");
            }
        } else {
            let was_closed = s.is_closed();
            s.handle(msg, fds, now);
            while let Some(e) = s.poll_event() {
                match e {
                    SlaveEvent::Closed { .. } => s_closed += 1,
                    SlaveEvent::CreateMemory { s2m_queues, m2s_queues, log2_ring_size, .. } => {
                        assert!((1..=2).contains(&s2m_queues) && (1..=2).contains(&m2s_queues));
                        assert!((1..=10).contains(&log2_ring_size));
                        s.memory_ready(&MemoryPlan { region_sizes: vec![4096], s2m: vec![], m2s: vec![] });
                    }
                    SlaveEvent::Connected { .. } => {}
                }
            }
            let mut sent = 0;
            while s.poll_transmit().is_some() {
                sent += 1;
            }
            if was_closed {
                assert_eq!(sent, 0, "a closed slave sent something");
            }
        }
        m.handle_timeout(now);
        s.handle_timeout(now);
        while let Some(e) = m.poll_event() {
            m_closed += usize::from(matches!(e, MasterEvent::Closed { .. }));
        }
        while let Some(e) = s.poll_event() {
            s_closed += usize::from(matches!(e, SlaveEvent::Closed { .. }));
        }
        while m.poll_transmit().is_some() {}
        while s.poll_transmit().is_some() {}
    }
    assert!(m_closed <= 1 && s_closed <= 1, "closed more than once: {m_closed} {s_closed}");
}
