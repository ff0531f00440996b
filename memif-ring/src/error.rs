//! Errors of the ring layer: what a peer wrote wrong in shared memory.

use memif_proto::COOKIE;

/// What was wrong with a ring or a descriptor. The connection layer turns these into a
/// DISCONNECT reason (`to_string()` says what was wrong, in at most a line).
///
/// A ring error is reported before anything is handed out or published: shared memory
/// is left as it was.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// The ring header does not start with the memif cookie.
    #[error("bad ring cookie {found:#010x}, expected {expected:#010x}", expected = COOKIE)]
    BadCookie {
        /// The value found.
        found: u32,
    },
    /// The ring (header plus descriptors) does not fit in its region.
    #[error(
        "ring at offset {offset} ({ring_bytes} bytes) does not fit in region {region} of {region_len} bytes"
    )]
    RingOutsideRegion {
        /// Region index.
        region: u16,
        /// Offset of the ring in the region.
        offset: usize,
        /// Bytes the ring takes.
        ring_bytes: usize,
        /// Length of the region.
        region_len: usize,
    },
    /// The ring header is not 8-byte aligned (head, tail and descriptors could not be
    /// accessed atomically).
    #[error("ring offset {offset} in region {region} is not 8-byte aligned")]
    MisalignedRing {
        /// Region index.
        region: u16,
        /// Offset of the ring in the region.
        offset: usize,
    },
    /// log2 ring size outside 1..=14.
    #[error("log2 ring size {log2} outside 1..=14")]
    BadRingSize {
        /// The log2 ring size given.
        log2: u8,
    },
    /// A ring names a region that does not exist.
    #[error("region {index} does not exist")]
    MissingRegion {
        /// Region index.
        index: u16,
    },
    /// A descriptor names a region that does not exist.
    #[error("descriptor in slot {slot} names region {region}, which does not exist")]
    BadDescriptorRegion {
        /// Ring slot of the descriptor.
        slot: u16,
        /// Region index it names.
        region: u16,
    },
    /// A descriptor's buffer (offset + length, computed in 64 bits) is outside its region.
    #[error(
        "descriptor in slot {slot}: buffer at offset {offset} with length {length} is outside its region \
         of {region_len} bytes"
    )]
    BufferOutOfBounds {
        /// Ring slot of the descriptor.
        slot: u16,
        /// Buffer offset.
        offset: u32,
        /// Buffer length.
        length: u32,
        /// Length of the region.
        region_len: usize,
    },
    /// A descriptor's length is above the agreed buffer size.
    #[error("descriptor in slot {slot}: length {length} above the buffer size {buffer_size}")]
    LengthAboveBufferSize {
        /// Ring slot of the descriptor.
        slot: u16,
        /// Length found.
        length: u32,
        /// The buffer size.
        buffer_size: u32,
    },
    /// The peer's index is further from ours than the ring has slots (it jumped ahead,
    /// or went backwards).
    #[error("peer index is {distance} slots away from ours, more than the ring size {ring_size}")]
    IndexJump {
        /// Wrapping distance from our index to the peer's.
        distance: u16,
        /// Ring size.
        ring_size: u16,
    },
    /// The peer's index moved past what was handed to it (a master's tail beyond the
    /// slave's head, or backwards).
    #[error("peer index moved {distance} slots on, but only {published} slots were handed to it")]
    IndexBeyondPublished {
        /// How far the peer's index moved since we last read it (wrapping).
        distance: u16,
        /// How many slots it could have moved.
        published: u16,
    },
    /// The peer's index went backwards over slots it had already published.
    #[error("peer index went backwards from {from} to {to}")]
    IndexBackwards {
        /// The index as we last read it.
        from: u16,
        /// The index now.
        to: u16,
    },
    /// A NEXT chain fills the whole ring without ending: it can never become a packet.
    #[error("descriptor chain of {length} descriptors fills the ring of {ring_size} slots without an end")]
    ChainTooLong {
        /// Descriptors in the chain so far.
        length: usize,
        /// Ring size.
        ring_size: u16,
    },
    /// A slave queue was built from a layout whose ring size differs from its ring's.
    #[error("layout has log2 ring size {layout_log2}, the ring {ring_log2}")]
    LayoutMismatch {
        /// log2 size of the ring.
        ring_log2: u8,
        /// log2 size in the layout.
        layout_log2: u8,
    },
    /// Zero-copy forwarding between queues of different connections (different shared
    /// memory or buffer sizes) is impossible.
    #[error("cannot forward zero-copy between queues of different connections")]
    ForeignMemory,
}
