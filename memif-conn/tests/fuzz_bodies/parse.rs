//! Fuzz body: control message parsing. Shared by `fuzz/fuzz_targets/parse.rs` and the
//! bounded proptest in `tests/fuzz_props.rs`.

use memif_proto::{Message, MSG_SIZE};

/// Parses `data`; only exactly 128 bytes can parse, and whatever parses re-encodes to
/// bytes that parse to the same message and re-encode to the same bytes.
pub fn run(data: &[u8]) {
    if let Ok(m) = Message::parse(data) {
        assert_eq!(data.len(), MSG_SIZE, "parsed a message of {} bytes", data.len());
        let bytes = m.encode();
        let again = Message::parse(&bytes).expect("re-encoded message must parse");
        assert_eq!(again, m);
        assert_eq!(again.encode(), bytes, "encoding is not stable");
        assert_eq!(again.msg_type(), m.msg_type());
    }
}
