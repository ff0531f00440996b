//! Byte-exact vectors for every message, computed from the layout in the protocol
//! reference, and proptests for round trips and hostile input.

use memif_proto::*;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let v: Vec<u8> = s
        .split_whitespace()
        .filter(|w| !w.ends_with(':'))
        .map(|w| u8::from_str_radix(w, 16).unwrap())
        .collect();
    let mut out = vec![0u8; 128];
    out[..v.len()].copy_from_slice(&v);
    out
}

#[test]
fn hello_from_vpp() {
    let want = hex("00: 02 00 76 70 70 00 00 00  00 00 00 00 00 00 00 00
         10: 00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00
         20: 00 00 00 02 00 02 ff 00  ff 00 ff 00 0e");
    let m = Message::Hello(Hello {
        name: InstanceName::new("vpp").unwrap(),
        min_version: 0x0200,
        max_version: 0x0200,
        max_region: 255,
        max_m2s_ring: 255,
        max_s2m_ring: 255,
        max_log2_ring_size: 14,
    });
    assert_eq!(m.encode().to_vec(), want);
    assert_eq!(Message::parse(&want).unwrap(), m);
}

#[test]
fn init_id0_ethernet_memif0() {
    let want = hex("00: 03 00 00 02 00 00 00 00  00 00 00 00 00 00 00 00
         10: 00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00
         20: 00 6d 65 6d 69 66 30");
    let m = Message::Init(Init {
        version: VERSION,
        id: 0,
        mode: Mode::Ethernet,
        secret: Secret::default(),
        name: InstanceName::new("memif0").unwrap(),
    });
    assert_eq!(m.encode().to_vec(), want);
    assert_eq!(Message::parse(&want).unwrap(), m);
}

#[test]
fn init_with_id_mode_secret() {
    // type 3; version 0x0200; id 0x01020304; mode ip (1); secret "s3cr" at 9; name "n" at 33
    let want = hex("00: 03 00 00 02 04 03 02 01  01 73 33 63 72 00 00 00
         10: 00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00
         20: 00 6e");
    let m = Message::Init(Init {
        version: VERSION,
        id: 0x0102_0304,
        mode: Mode::Ip,
        secret: Secret::new("s3cr").unwrap(),
        name: InstanceName::new("n").unwrap(),
    });
    assert_eq!(m.encode().to_vec(), want);
    assert_eq!(Message::parse(&want).unwrap(), m);
}

#[test]
fn ack() {
    let want = hex("00: 01 00");
    assert_eq!(Message::Ack.encode().to_vec(), want);
    assert_eq!(Message::parse(&want).unwrap(), Message::Ack);
}

#[test]
fn add_region() {
    // index 1, size 0x0000_0001_0020_0000
    let want = hex("00: 04 00 01 00 00 00 20 00  01 00 00 00");
    let m = Message::AddRegion(AddRegion { index: 1, size: 0x1_0020_0000 });
    assert_eq!(m.encode().to_vec(), want);
    assert_eq!(Message::parse(&want).unwrap(), m);
}

#[test]
fn add_ring() {
    // S2M flag, index 2, region 0, offset 0x4080, log2 10, private header 0
    let want = hex("00: 05 00 01 00 02 00 00 00  80 40 00 00 0a 00 00");
    let m = Message::AddRing(AddRing {
        direction: Direction::S2M,
        index: 2,
        region: 0,
        offset: 0x4080,
        log2_ring_size: 10,
    });
    assert_eq!(m.encode().to_vec(), want);
    assert_eq!(Message::parse(&want).unwrap(), m);
    let m2s = hex("00: 05 00 00 00 00 00 00 00  00 00 00 00 01");
    assert!(matches!(
        Message::parse(&m2s).unwrap(),
        Message::AddRing(AddRing { direction: Direction::M2S, log2_ring_size: 1, .. })
    ));
}

#[test]
fn connect_connected() {
    let want = hex("00: 06 00 6d 65 6d 69 66 30  2f 30");
    let m = Message::Connect(InterfaceName::new("memif0/0").unwrap());
    assert_eq!(m.encode().to_vec(), want);
    assert_eq!(Message::parse(&want).unwrap(), m);
    let want = hex("00: 07 00 76 70 70");
    let m = Message::Connected(InterfaceName::new("vpp").unwrap());
    assert_eq!(m.encode().to_vec(), want);
    assert_eq!(Message::parse(&want).unwrap(), m);
}

#[test]
fn disconnect() {
    // code 5, reason "Incorrect secret" at offset 6
    let want = hex("00: 08 00 05 00 00 00 49 6e  63 6f 72 72 65 63 74 20 10: 73 65 63 72 65 74");
    let m = Message::Disconnect(Disconnect {
        code: 5,
        reason: DisconnectReason::new("Incorrect secret").unwrap(),
    });
    assert_eq!(m.encode().to_vec(), want);
    assert_eq!(Message::parse(&want).unwrap(), m);
}

#[test]
fn garbage_outside_fields_is_ignored() {
    let mut b = Message::Ack.encode();
    b[2..].fill(0xa5);
    assert_eq!(Message::parse(&b).unwrap(), Message::Ack);
    let mut b = Message::Connect(InterfaceName::new("x").unwrap()).encode();
    b[40..].fill(0xee);
    b[4] = 0x77; // after the NUL
    assert_eq!(Message::parse(&b).unwrap(), Message::Connect(InterfaceName::new("x").unwrap()));
}

#[test]
fn errors_say_what_was_wrong() {
    assert_eq!(Message::parse(&[0u8; 127]), Err(ProtoError::Length(127)));
    assert_eq!(Message::parse(&[0u8; 129]), Err(ProtoError::Length(129)));
    assert_eq!(Message::parse(&[]), Err(ProtoError::Length(0)));
    assert_eq!(Message::parse(&[0u8; 128]), Err(ProtoError::NoneType));
    let mut b = [0u8; 128];
    b[0] = 9;
    assert_eq!(Message::parse(&b), Err(ProtoError::UnknownType(9)));
    b[0] = 0xff;
    b[1] = 0xff;
    assert_eq!(Message::parse(&b), Err(ProtoError::UnknownType(0xffff)));
    let mut b = Message::Init(Init {
        version: VERSION,
        id: 0,
        mode: Mode::Ethernet,
        secret: Secret::default(),
        name: InstanceName::default(),
    })
    .encode();
    b[8] = 3;
    assert_eq!(Message::parse(&b), Err(ProtoError::InvalidMode(3)));
    let ring = AddRing { direction: Direction::M2S, index: 0, region: 0, offset: 0, log2_ring_size: 10 };
    let mut b = Message::AddRing(ring).encode();
    b[12] = 0;
    assert_eq!(Message::parse(&b), Err(ProtoError::InvalidRingSize(0)));
    b[12] = 15;
    assert_eq!(Message::parse(&b), Err(ProtoError::InvalidRingSize(15)));
    let mut b = Message::AddRing(ring).encode();
    b[13] = 8;
    assert_eq!(Message::parse(&b), Err(ProtoError::PrivateHeader(8)));
    let mut b = Message::AddRing(ring).encode();
    b[2] = 2;
    assert_eq!(Message::parse(&b), Err(ProtoError::InvalidRingFlags(2)));
    assert!(ProtoError::Length(3).to_string().contains("3 bytes"));
}

#[test]
fn full_name_field_without_nul() {
    let mut b = Message::Connected(InterfaceName::default()).encode();
    b[2..34].fill(b'z');
    match Message::parse(&b).unwrap() {
        Message::Connected(n) => assert_eq!(n.as_bytes(), &[b'z'; 32][..]),
        m => panic!("{m:?}"),
    }
}

#[test]
fn descriptor_and_ring_layout() {
    let d = Descriptor::new(DESC_FLAG_NEXT, 1, 0x40, 0x1000);
    use zerocopy::IntoBytes;
    assert_eq!(d.as_bytes(), &[1, 0, 1, 0, 0x40, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0][..]);
    assert_eq!(Descriptor::from_u128(d.to_u128()), d);
    assert!(d.has_next());
    assert_eq!(COOKIE.to_le_bytes(), [0x20, 0x1f, 0xe3, 0x03]);
    assert_eq!(ring_bytes(14), 128 + 16 * 16384);
}

fn name32() -> impl Strategy<Value = InterfaceName> {
    "[a-zA-Z0-9/_.-]{0,31}".prop_map(|s| InterfaceName::new(&s).unwrap())
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::Ack),
        (name32(), any::<[u16; 5]>(), any::<u8>()).prop_map(|(name, v, l)| Message::Hello(Hello {
            name,
            min_version: v[0],
            max_version: v[1],
            max_region: v[2],
            max_m2s_ring: v[3],
            max_s2m_ring: v[4],
            max_log2_ring_size: l
        })),
        (any::<u16>(), any::<u32>(), 0u8..3, "[ -~&&[^\0]]{0,23}", name32()).prop_map(
            |(version, id, m, s, name)| {
                Message::Init(Init {
                    version,
                    id,
                    mode: Mode::from_u8(m).unwrap(),
                    secret: Secret::new(&s).unwrap(),
                    name,
                })
            }
        ),
        (any::<u16>(), any::<u64>()).prop_map(|(index, size)| Message::AddRegion(AddRegion { index, size })),
        (any::<bool>(), any::<u16>(), any::<u16>(), any::<u32>(), 1u8..=14).prop_map(
            |(s2m, index, region, offset, l)| {
                Message::AddRing(AddRing {
                    direction: if s2m { Direction::S2M } else { Direction::M2S },
                    index,
                    region,
                    offset,
                    log2_ring_size: l,
                })
            }
        ),
        name32().prop_map(Message::Connect),
        name32().prop_map(Message::Connected),
        (any::<u32>(), "[ -~]{0,95}").prop_map(|(code, r)| Message::Disconnect(Disconnect {
            code,
            reason: DisconnectReason::new(&r).unwrap()
        })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn round_trip(m in message()) {
        let b = m.encode();
        prop_assert_eq!(Message::parse(&b).unwrap(), m);
        // re-encoding what was parsed gives the same bytes
        prop_assert_eq!(Message::parse(&b).unwrap().encode(), b);
    }

    #[test]
    fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Message::parse(&b);
    }

    #[test]
    fn parse_128_typed_never_panics(t in 0u16..10, body in proptest::collection::vec(any::<u8>(), 126)) {
        let mut b = t.to_le_bytes().to_vec();
        b.extend_from_slice(&body);
        if let Ok(m) = Message::parse(&b) {
            // whatever parsed re-encodes to something that parses the same
            prop_assert_eq!(Message::parse(&m.encode()).unwrap(), m);
        }
    }
}
