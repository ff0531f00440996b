//! The fuzz targets' bodies (`tests/fuzz_bodies/`, also used by `fuzz/fuzz_targets/`) run
//! as bounded property tests, so every `cargo test` exercises them.

mod fuzz_bodies {
    pub mod handshake;
    pub mod parse;
    pub mod ring;
}

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
}

/// A message as the handshake body's records carry it: mostly well-formed messages of
/// random types with random fields, so the state machines get past HELLO and INIT.
fn record() -> impl Strategy<Value = Vec<u8>> {
    (any::<u8>(), any::<u8>(), 1u8..9, proptest::collection::vec(any::<u8>(), 126), any::<bool>()).prop_map(
        |(flags, who, t, mut body, plausible)| {
            if plausible {
                // version 2.0 where INIT/HELLO keep it, small ids, NUL-terminated names
                body[0] = 0;
                body[1] = 2;
                body[2] &= 3;
                body[3..6].fill(0);
                body[32] = 0;
                body[33] = 2;
                body[34] = 0;
                body[35] = 2;
            }
            let mut rec = vec![flags & 0x0f, who, t, 0];
            rec.extend_from_slice(&body);
            rec
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn handshake(records in proptest::collection::vec(record(), 0..12)) {
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
