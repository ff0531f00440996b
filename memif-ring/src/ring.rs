//! A checked view of one ring in shared memory.

use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use memif_proto::{
    ring_bytes, Descriptor, Direction, COOKIE, DESCRIPTOR_SIZE, MAX_LOG2_RING_SIZE, MIN_LOG2_RING_SIZE,
    RING_COOKIE_OFFSET, RING_FLAGS_OFFSET, RING_FLAG_MASK_INT, RING_HEADER_SIZE, RING_HEAD_OFFSET,
    RING_TAIL_OFFSET,
};
use memif_shm::Layout;

use crate::memory::BufPtr;
use crate::{Memory, RingError};

/// A descriptor decoded into host values (internal fast path: two 8-byte loads).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RawDesc {
    pub(crate) flags: u16,
    pub(crate) region: u16,
    pub(crate) length: u32,
    pub(crate) offset: u32,
}

impl RawDesc {
    #[inline]
    fn from_words(lo: u64, hi: u64) -> RawDesc {
        RawDesc { flags: lo as u16, region: (lo >> 16) as u16, length: (lo >> 32) as u32, offset: hi as u32 }
    }
    #[inline]
    fn lo(&self) -> u64 {
        u64::from(self.flags) | (u64::from(self.region) << 16) | (u64::from(self.length) << 32)
    }
    #[inline]
    fn hi(&self) -> u64 {
        u64::from(self.offset)
    }
}

/// One memif ring (header and `2^log2` descriptors) inside a region of a [`Memory`].
///
/// Construction checks that the region exists, the ring fits in it, the log2 size is
/// 1..=14 and the header is 8-byte aligned; after that every access is in bounds whatever
/// the peer writes. `head`, `tail` and `flags` are accessed atomically; descriptors are
/// copied out with two 8-byte atomic (relaxed: plain) loads into a local copy, validated
/// on the copy, and written with two 8-byte stores.
///
/// `Ring` is `Send`: it keeps the mapping alive through its `Arc<Memory>`.
#[derive(Debug)]
pub struct Ring {
    mem: Arc<Memory>,
    base: BufPtr,
    region: u16,
    offset: usize,
    log2: u8,
    size: u16,
    mask: u16,
}

impl Ring {
    /// A view of the ring at `offset` in region `region` of `mem`, of `2^log2_ring_size`
    /// descriptors.
    pub fn new(mem: Arc<Memory>, region: u16, offset: usize, log2_ring_size: u8) -> Result<Ring, RingError> {
        if !(MIN_LOG2_RING_SIZE..=MAX_LOG2_RING_SIZE).contains(&log2_ring_size) {
            return Err(RingError::BadRingSize { log2: log2_ring_size });
        }
        let bytes = ring_bytes(log2_ring_size);
        let region_len =
            mem.region_len(usize::from(region)).ok_or(RingError::MissingRegion { index: region })?;
        match offset.checked_add(bytes) {
            Some(end) if end <= region_len => {}
            _ => return Err(RingError::RingOutsideRegion { region, offset, ring_bytes: bytes, region_len }),
        }
        let base = mem
            .locate(region, offset as u32, bytes as u32)
            .map_err(|_| RingError::RingOutsideRegion { region, offset, ring_bytes: bytes, region_len })?;
        if offset % 8 != 0 || (base.0 as usize) % 8 != 0 {
            return Err(RingError::MisalignedRing { region, offset });
        }
        let size = 1u16 << log2_ring_size;
        Ok(Ring { mem, base, region, offset, log2: log2_ring_size, size, mask: size - 1 })
    }

    #[inline]
    fn atomic_u16(&self, off: usize) -> &AtomicU16 {
        debug_assert!(off == RING_HEAD_OFFSET || off == RING_TAIL_OFFSET || off == RING_FLAGS_OFFSET);
        // SAFETY: `off` is one of the header offsets (6, 64, 4), inside the 128-byte
        // header that `new` checked lies in the region; the header is 8-byte aligned so
        // `base + off` is 2-byte aligned; `AtomicU16` has the layout of `u16`; the
        // mapping lives as long as `self.mem`, which outlives the returned reference.
        unsafe { &*(self.base.0.add(off) as *const AtomicU16) }
    }

    #[inline]
    pub(crate) fn head_atomic(&self) -> &AtomicU16 {
        self.atomic_u16(RING_HEAD_OFFSET)
    }

    #[inline]
    pub(crate) fn tail_atomic(&self) -> &AtomicU16 {
        self.atomic_u16(RING_TAIL_OFFSET)
    }

    #[inline]
    fn flags_atomic(&self) -> &AtomicU16 {
        self.atomic_u16(RING_FLAGS_OFFSET)
    }

    fn cookie_atomic(&self) -> &AtomicU32 {
        // SAFETY: offset 0 of the header checked in `new`, 8-byte aligned hence 4-byte
        // aligned; `AtomicU32` has the layout of `u32`; the mapping outlives `&self`.
        unsafe { &*(self.base.0.add(RING_COOKIE_OFFSET) as *const AtomicU32) }
    }

    #[inline]
    fn desc_ptr(&self, slot: u16) -> *mut u64 {
        let slot = usize::from(slot & self.mask);
        // SAFETY: `slot < 2^log2`, so the 16 bytes at `128 + 16 * slot` are inside the
        // `ring_bytes(log2)` bytes `new` checked lie in the region.
        unsafe { self.base.0.add(RING_HEADER_SIZE + DESCRIPTOR_SIZE * slot) as *mut u64 }
    }

    /// The two 8-byte words of descriptor `slot & mask`.
    #[inline]
    fn desc_words(&self, slot: u16) -> (&AtomicU64, &AtomicU64) {
        let p = self.desc_ptr(slot);
        // SAFETY: `p` points at a descriptor inside the mapping (see `desc_ptr`), 8-byte
        // aligned (header 8-aligned, 128 + 16 * slot is a multiple of 8) and valid for 16
        // bytes while `self.mem` lives, which outlives `&self`. `AtomicU64` has the layout
        // of `u64`. Atomic (relaxed) accesses make concurrent accesses from this process
        // well defined; the peer's writes are only ever copied out as bits.
        unsafe { (&*(p as *const AtomicU64), &*(p.add(1) as *const AtomicU64)) }
    }

    /// Asks for the cache lines of descriptors `first .. first + n` (modulo the ring
    /// size, at most a ring) in a state this core may write: a hint, no access. For a
    /// queue that reads descriptors the peer wrote and then writes them back (the
    /// master filling posted buffers, the slave refilling received slots): without it
    /// each line crosses between the cores twice, shared for the read and again for
    /// the write; with it, once.
    #[inline]
    pub(crate) fn prefetch_for_write(&self, first: u16, n: usize) {
        let n = n.min(usize::from(self.size));
        // four 16-byte descriptors a 64-byte line (from a 64-byte aligned ring)
        let lines = (usize::from(first & 3) + n).div_ceil(4);
        let mut slot = first & !3;
        for _ in 0..lines {
            prefetch_line_for_write(self.desc_ptr(slot));
            slot = slot.wrapping_add(4);
        }
    }

    /// Copies descriptor `slot & mask` out with two relaxed 8-byte loads (plain moves;
    /// ordered after the acquire load of the peer's index that published it).
    #[inline]
    pub(crate) fn read_raw(&self, slot: u16) -> RawDesc {
        let (lo, hi) = self.desc_words(slot);
        RawDesc::from_words(
            u64::from_le(lo.load(Ordering::Relaxed)),
            u64::from_le(hi.load(Ordering::Relaxed)),
        )
    }

    /// Writes descriptor `slot & mask` with two relaxed 8-byte stores (metadata 0); the
    /// release store of our index that follows publishes them.
    #[inline]
    pub(crate) fn write_raw(&self, slot: u16, d: &RawDesc) {
        let (lo, hi) = self.desc_words(slot);
        lo.store(d.lo().to_le(), Ordering::Relaxed);
        hi.store(d.hi().to_le(), Ordering::Relaxed);
    }

    /// Writes the first word of descriptor `slot & mask` (flags, region, length) with one
    /// relaxed 8-byte store, leaving the offset word as it is: what a master writes into a
    /// descriptor the slave posted (the offset is the slave's, already validated).
    #[inline]
    pub(crate) fn write_lo(&self, slot: u16, d: &RawDesc) {
        let (lo, _) = self.desc_words(slot);
        lo.store(d.lo().to_le(), Ordering::Relaxed);
    }

    /// Descriptor in slot `slot` (taken modulo the ring size), as it is now.
    pub fn descriptor(&self, slot: u16) -> Descriptor {
        let d = self.read_raw(slot);
        Descriptor::new(d.flags, d.region, d.length, d.offset)
    }

    /// Overwrites descriptor `slot` (modulo the ring size). For initialisation, tests and
    /// tools; the queues write descriptors themselves.
    pub fn set_descriptor(&self, slot: u16, d: &Descriptor) {
        let raw = RawDesc {
            flags: d.flags.get(),
            region: d.region.get(),
            length: d.length.get(),
            offset: d.offset.get(),
        };
        self.write_raw(slot, &raw);
    }

    /// Slave side, before ADD_RING: writes the cookie, flags 0, head = tail = 0, and
    /// points every descriptor at its initial buffer in `layout` (length = buffer size,
    /// flags 0).
    pub fn init(&self, layout: &Layout, dir: Direction, index: u16) {
        self.cookie_atomic().store(COOKIE, Ordering::Relaxed);
        self.flags_atomic().store(0, Ordering::Relaxed);
        self.head_atomic().store(0, Ordering::Relaxed);
        self.tail_atomic().store(0, Ordering::Relaxed);
        for slot in 0..self.size {
            let (region, offset) = layout.buffer_location(dir, index, slot);
            self.write_raw(slot, &RawDesc { flags: 0, region, length: layout.buffer_size, offset });
        }
        std::sync::atomic::fence(Ordering::Release);
    }

    /// The cookie as it is now.
    pub fn cookie(&self) -> u32 {
        self.cookie_atomic().load(Ordering::Acquire)
    }

    /// Checks the ring header starts with the memif cookie.
    pub fn check_cookie(&self) -> Result<(), RingError> {
        match self.cookie() {
            COOKIE => Ok(()),
            found => Err(RingError::BadCookie { found }),
        }
    }

    /// Sets head and tail to 0 (both sides do at link up, protocol reference section 3).
    pub fn reset_indices(&self) {
        self.head_atomic().store(0, Ordering::Release);
        self.tail_atomic().store(0, Ordering::Release);
    }

    /// Sets (`true`) or clears MASK_INT in the ring flags: the receiver polls, and the
    /// transmitter must not signal. Other flag bits are kept.
    pub fn set_mask_int(&self, on: bool) {
        if on {
            self.flags_atomic().fetch_or(RING_FLAG_MASK_INT, Ordering::AcqRel);
        } else {
            self.flags_atomic().fetch_and(!RING_FLAG_MASK_INT, Ordering::AcqRel);
        }
    }

    /// Whether MASK_INT is set now.
    #[inline]
    pub fn mask_int(&self) -> bool {
        self.flags_atomic().load(Ordering::Acquire) & RING_FLAG_MASK_INT != 0
    }

    /// Number of slots, `2^log2_ring_size` (at most 16384).
    #[inline]
    pub fn size(&self) -> u16 {
        self.size
    }

    /// log2 of the number of slots.
    pub fn log2_ring_size(&self) -> u8 {
        self.log2
    }

    /// `head` (written by the slave), acquire load. For tests and diagnostics.
    pub fn head(&self) -> u16 {
        self.head_atomic().load(Ordering::Acquire)
    }

    /// `tail` (written by the master), acquire load. For tests and diagnostics.
    pub fn tail(&self) -> u16 {
        self.tail_atomic().load(Ordering::Acquire)
    }

    /// Stores `head` (release). Test and tool helper: the queues own their index.
    #[doc(hidden)]
    pub fn set_head(&self, v: u16) {
        self.head_atomic().store(v, Ordering::Release);
    }

    /// Stores `tail` (release). Test and tool helper: the queues own their index.
    #[doc(hidden)]
    pub fn set_tail(&self, v: u16) {
        self.tail_atomic().store(v, Ordering::Release);
    }

    /// The memory this ring lives in.
    pub fn memory(&self) -> &Arc<Memory> {
        &self.mem
    }

    /// Region index of the ring.
    pub fn region(&self) -> u16 {
        self.region
    }

    /// Offset of the ring in its region.
    pub fn offset(&self) -> usize {
        self.offset
    }

    #[inline]
    pub(crate) fn mask(&self) -> u16 {
        self.mask
    }
}

/// Hints that the cache line holding `p` will be written (x86-64 `prefetchw`; nothing
/// elsewhere, untried).
#[inline(always)]
fn prefetch_line_for_write(p: *mut u64) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetchw` is a hint: it never faults, whatever the address, and neither
    // reads nor writes memory architecturally; it leaves registers and flags alone. CPUs
    // without it (Intel before Broadwell) execute its encoding, 0F 0D, as a no-op.
    unsafe {
        std::arch::asm!("prefetchw [{0}]", in(reg) p, options(nostack, preserves_flags, readonly));
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
