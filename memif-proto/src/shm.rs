//! Shared memory layouts: ring header and descriptor.

use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Size of a ring header in bytes; descriptors follow it.
pub const RING_HEADER_SIZE: usize = 128;
/// Offset of the cookie (u32) in a ring header.
pub const RING_COOKIE_OFFSET: usize = 0;
/// Offset of the flags (u16) in a ring header.
pub const RING_FLAGS_OFFSET: usize = 4;
/// Offset of `head` (u16, written by the slave) in a ring header.
pub const RING_HEAD_OFFSET: usize = 6;
/// Offset of `tail` (u16, written by the master) in a ring header, on its own cache line.
pub const RING_TAIL_OFFSET: usize = 64;
/// Size of one descriptor in bytes.
pub const DESCRIPTOR_SIZE: usize = 16;

/// Ring flag: the receiver polls; the transmitter must not signal its eventfd.
pub const RING_FLAG_MASK_INT: u16 = 1;
/// Descriptor flag: the packet continues in the next descriptor.
pub const DESC_FLAG_NEXT: u16 = 1;

/// Bytes one ring of `2^log2` descriptors takes: header plus descriptors.
pub const fn ring_bytes(log2_ring_size: u8) -> usize {
    RING_HEADER_SIZE + (DESCRIPTOR_SIZE << log2_ring_size)
}

/// The ring header as laid out in shared memory (for layout checks and tests; the ring
/// code accesses `head`, `tail` and `flags` atomically at the offsets above).
#[derive(Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct RingHeader {
    /// [`crate::COOKIE`].
    pub cookie: U32,
    /// Ring flags ([`RING_FLAG_MASK_INT`]).
    pub flags: U16,
    /// Written by the slave.
    pub head: U16,
    /// Padding to the next cache line.
    pub _pad0: [u8; 56],
    /// Written by the master.
    pub tail: U16,
    /// Padding to the descriptors.
    pub _pad1: [u8; 62],
}

/// One descriptor as laid out in shared memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct Descriptor {
    /// [`DESC_FLAG_NEXT`].
    pub flags: U16,
    /// Region the buffer is in.
    pub region: U16,
    /// Length of the data (or, for an empty buffer posted to an M2S ring, its capacity).
    pub length: U32,
    /// Offset of the buffer in its region.
    pub offset: U32,
    /// Unused, 0.
    pub metadata: U32,
}

impl Descriptor {
    /// A descriptor from host values.
    pub fn new(flags: u16, region: u16, length: u32, offset: u32) -> Self {
        Descriptor {
            flags: flags.into(),
            region: region.into(),
            length: length.into(),
            offset: offset.into(),
            metadata: U32::new(0),
        }
    }
    /// Whether NEXT is set.
    pub fn has_next(&self) -> bool {
        self.flags.get() & DESC_FLAG_NEXT != 0
    }
    /// The descriptor as a little-endian u128 (for single-load access to shared memory).
    pub fn to_u128(&self) -> u128 {
        u128::from_le_bytes(zerocopy::transmute!(*self))
    }
    /// The descriptor from a little-endian u128.
    pub fn from_u128(v: u128) -> Self {
        zerocopy::transmute!(v.to_le_bytes())
    }
}

const _: () = {
    assert!(core::mem::size_of::<RingHeader>() == RING_HEADER_SIZE);
    assert!(core::mem::offset_of!(RingHeader, head) == RING_HEAD_OFFSET);
    assert!(core::mem::offset_of!(RingHeader, flags) == RING_FLAGS_OFFSET);
    assert!(core::mem::offset_of!(RingHeader, tail) == RING_TAIL_OFFSET);
    assert!(core::mem::size_of::<Descriptor>() == DESCRIPTOR_SIZE);
    assert!(ring_bytes(10) == 128 + 16 * 1024);
};
