//! The fuzz targets' bodies (`tests/fuzz_bodies/`, also used by `fuzz/fuzz_targets/`) run
//! as bounded property tests, so every `cargo test` exercises them. The inputs are
//! generated to get deep: random bytes alone rarely make a valid INIT, so the handshake
//! also gets whole handshakes in a random interleaving with messages replaced, inserted,
//! dropped and delayed.

mod fuzz_bodies {
    pub mod handshake;
    pub mod parse;
    pub mod ring;
}

use memif_proto::{
    AddRegion, AddRing, Direction, Disconnect, DisconnectReason, Hello, Init, InstanceName, InterfaceName,
    Message, Mode, Secret, VERSION,
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parse(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        fuzz_bodies::parse::run(&data);
    }

    #[test]
    fn parse_typed(t in 0u8..10, body in proptest::collection::vec(any::<u8>(), 126)) {
        let mut data = vec![t, 0];
        data.extend_from_slice(&body);
        fuzz_bodies::parse::run(&data);
    }

    #[test]
    fn parse_encoded(m in message(), flip in any::<(u8, u8)>()) {
        // a valid message, and the same with one byte changed
        let mut data = m.encode().to_vec();
        fuzz_bodies::parse::run(&data);
        let at = usize::from(flip.0) % data.len();
        data[at] ^= flip.1;
        fuzz_bodies::parse::run(&data);
    }
}

/// A well-formed message of any type, fields drawn near the limits.
fn message() -> impl Strategy<Value = Message> {
    let dir = |s2m: bool| if s2m { Direction::S2M } else { Direction::M2S };
    prop_oneof![
        Just(Message::Ack),
        (0u16..3, 0u16..3, 0u8..16).prop_map(|(lo, hi, log2)| Message::Hello(Hello {
            min_version: VERSION + lo - 1,
            max_version: VERSION + hi - 1,
            max_log2_ring_size: log2,
            ..Hello::default()
        })),
        (0u16..3, 0u32..5, 0u8..3, any::<bool>()).prop_map(|(v, id, mode, secret)| Message::Init(Init {
            version: VERSION + v - 1,
            id,
            mode: [Mode::Ethernet, Mode::Ip, Mode::PuntInject][usize::from(mode)],
            secret: if secret { Secret::new("s").unwrap() } else { Secret::default() },
            name: InstanceName::default(),
        })),
        (0u16..3, prop_oneof![Just(0u64), Just(4096), Just(1 << 33), 1u64..100_000])
            .prop_map(|(index, size)| Message::AddRegion(AddRegion { index, size })),
        (any::<bool>(), 0u16..3, 0u16..3, prop_oneof![Just(0u32), 0u32..70_000], 0u8..16).prop_map(
            move |(s2m, index, region, offset, log2_ring_size)| Message::AddRing(AddRing {
                direction: dir(s2m),
                index,
                region,
                offset,
                log2_ring_size,
            })
        ),
        Just(Message::Connect(InterfaceName::new("peer").unwrap())),
        Just(Message::Connected(InterfaceName::new("peer").unwrap())),
        Just(Message::Disconnect(Disconnect { code: 0, reason: DisconnectReason::new("bye").unwrap() })),
    ]
}

/// One record of the handshake body: flags (fds, clock), who, 128 bytes of message.
fn rec(flags: u8, who: u8, msg: &[u8]) -> Vec<u8> {
    let mut r = vec![flags, who];
    r.extend_from_slice(msg);
    r
}

/// A random record: a well-formed message (or random bytes of a known type), to either
/// machine, with 0-2 fds, a small clock step, now and then a refusal (1 in 8) or a
/// hang-up (1 in 16).
fn record() -> impl Strategy<Value = Vec<u8>> {
    (any::<u8>(), any::<u8>(), message(), 1u8..9, proptest::collection::vec(any::<u8>(), 126), any::<bool>())
        .prop_map(|(flags, r, m, t, body, raw)| {
            let who = (r & 1) | (u8::from(r >> 5 == 0) << 1) | (u8::from(r >> 4 == 0) << 2);
            let msg = if raw { [&[t, 0][..], &body].concat() } else { m.encode().to_vec() };
            rec(flags & 0x0f, who, &msg)
        })
}

/// A whole handshake as both machines expect it (the master gets the slave's messages,
/// the slave the master's), in a random interleaving, then edited: each message kept,
/// replaced by a random record, preceded by one, dropped, or delayed past the timeout.
fn scripted() -> impl Strategy<Value = Vec<u8>> {
    let ring = |direction, index, offset| {
        Message::AddRing(AddRing { direction, index, region: 0, offset, log2_ring_size: 4 })
    };
    let to_master: Vec<(Message, u8)> = vec![
        (
            Message::Init(Init {
                version: VERSION,
                id: 0,
                mode: Mode::Ethernet,
                secret: Secret::default(),
                name: InstanceName::default(),
            }),
            0,
        ),
        (Message::AddRegion(AddRegion { index: 0, size: 4096 }), 1),
        (Message::AddRegion(AddRegion { index: 1, size: 65536 }), 1),
        (ring(Direction::S2M, 0, 0), 1),
        (ring(Direction::S2M, 1, 384), 1),
        (ring(Direction::M2S, 0, 768), 1),
        (ring(Direction::M2S, 1, 1152), 1),
        (Message::Connect(InterfaceName::new("slave").unwrap()), 0),
    ];
    // the slave's plan in the body has two rings each way: HELLO, then an ACK for
    // INIT, two regions and four rings, then CONNECTED
    let mut to_slave: Vec<(Message, u8)> = vec![(Message::Hello(Hello::default()), 0)];
    to_slave.extend(std::iter::repeat_n((Message::Ack, 0), 7));
    to_slave.push((Message::Connected(InterfaceName::new("master").unwrap()), 0));
    let n = to_master.len() + to_slave.len();
    (proptest::collection::vec(any::<bool>(), n), proptest::collection::vec((0u8..32, record()), n)).prop_map(
        move |(order, edits)| {
            let (mut m, mut s) = (to_master.iter(), to_slave.iter());
            let mut out = Vec::new();
            for (pick_master, (edit, random)) in order.into_iter().zip(edits) {
                let (item, who) = match (pick_master, m.clone().next(), s.clone().next()) {
                    (true, Some(_), _) | (_, Some(_), None) => (m.next().unwrap(), 0),
                    _ => (s.next().unwrap(), 1),
                };
                let (msg, fds) = item;
                match edit {
                    0 => out.push(random),
                    1 => {
                        out.push(random);
                        out.push(rec(*fds, who, &msg.encode()));
                    }
                    2 => {}
                    // 6 s later: past the 5 s handshake timeout
                    3 => out.push(rec(*fds | (60 << 2), who, &msg.encode())),
                    _ => out.push(rec(*fds, who, &msg.encode())),
                }
            }
            out.concat()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn handshake_scripted(data in scripted()) {
        fuzz_bodies::handshake::run(&data);
    }

    #[test]
    fn handshake_records(records in proptest::collection::vec(record(), 0..16)) {
        fuzz_bodies::handshake::run(&records.concat());
    }

    #[test]
    fn handshake_raw(data in proptest::collection::vec(any::<u8>(), 0..1300)) {
        fuzz_bodies::handshake::run(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn ring(data in proptest::collection::vec(any::<u8>(), 0..800)) {
        fuzz_bodies::ring::run(&data);
    }
}
