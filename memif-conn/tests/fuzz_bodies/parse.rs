//! Fuzz body: control message parsing. Shared by `fuzz/fuzz_targets/parse.rs` and the
//! bounded proptest in `tests/fuzz_props.rs`.

use memif_proto::Message;

/// Parses `data`; whatever parses re-encodes to bytes that parse to the same message.
pub fn run(data: &[u8]) {
    if let Ok(m) = Message::parse(data) {
        let again = Message::parse(&m.encode()).expect("re-encoded message must parse");
        assert_eq!(again, m);
    }
}
