//! The regions of one connection, with a small table for bounds checks.

use memif_shm::Region;

use crate::RingError;

/// A pointer into shared memory. Only a value: every dereference is an `unsafe` block of
/// its own that states why the pointer is valid there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BufPtr(pub(crate) *mut u8);

// SAFETY: `BufPtr` is an address into a mapping owned by a `Memory` that every holder
// keeps alive through an `Arc<Memory>`; moving or sharing the address between threads
// does not access anything, and each access site states its own invariant.
unsafe impl Send for BufPtr {}
// SAFETY: as for `Send`: shared references to an address give no access by themselves.
unsafe impl Sync for BufPtr {}

#[derive(Clone, Copy, Debug)]
struct Span {
    base: BufPtr,
    len: u64,
}

/// Why a buffer cannot be located (the caller adds the slot).
#[derive(Clone, Copy, Debug)]
pub(crate) enum LocateError {
    NoRegion,
    OutOfBounds { region_len: usize },
}

impl LocateError {
    pub(crate) fn at(self, slot: u16, region: u16, offset: u32, length: u32) -> RingError {
        match self {
            LocateError::NoRegion => RingError::BadDescriptorRegion { slot, region },
            LocateError::OutOfBounds { region_len } => {
                RingError::BufferOutOfBounds { slot, offset, length, region_len }
            }
        }
    }
}

/// The mapped regions of one connection (index 0 first), shared by its rings as an
/// `Arc<Memory>`: the mappings live as long as any ring or queue of the connection.
#[derive(Debug)]
pub struct Memory {
    regions: Vec<Region>,
    spans: Vec<Span>,
}

impl Memory {
    /// Takes ownership of the regions; `regions[i]` is region index `i`.
    pub fn new(regions: Vec<Region>) -> Memory {
        let spans = regions.iter().map(|r| Span { base: BufPtr(r.as_ptr()), len: r.len() as u64 }).collect();
        Memory { regions, spans }
    }

    /// Number of regions.
    pub fn region_count(&self) -> usize {
        self.regions.len()
    }

    /// Length of region `i` in bytes, `None` if there is no such region.
    pub fn region_len(&self, i: usize) -> Option<usize> {
        self.regions.get(i).map(Region::len)
    }

    /// Region `i`.
    pub fn region(&self, i: usize) -> Option<&Region> {
        self.regions.get(i)
    }

    /// Start of `len` bytes at `offset` in region `region`, if they are all inside it
    /// (`offset + len` computed in 64 bits). The pointer is valid while `self` lives.
    #[inline]
    pub(crate) fn locate(&self, region: u16, offset: u32, len: u32) -> Result<BufPtr, LocateError> {
        self.spans().locate(region, offset, len)
    }

    /// The bounds table, to hoist out of a per-descriptor loop.
    #[inline]
    pub(crate) fn spans(&self) -> Spans<'_> {
        Spans(&self.spans)
    }
}

/// The bounds table of a [`Memory`], borrowed (so the mappings outlive it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spans<'m>(&'m [Span]);

impl Spans<'_> {
    /// As [`Memory::locate`].
    #[inline]
    pub(crate) fn locate(self, region: u16, offset: u32, len: u32) -> Result<BufPtr, LocateError> {
        let span = self.0.get(usize::from(region)).ok_or(LocateError::NoRegion)?;
        if u64::from(offset) + u64::from(len) > span.len {
            return Err(LocateError::OutOfBounds { region_len: span.len as usize });
        }
        // SAFETY: `offset + len <= span.len`, so `base + offset` is inside (or one past
        // the end of) the mapping of `span.len` bytes that the `Memory` this table
        // borrows from keeps alive (its `regions`).
        Ok(BufPtr(unsafe { span.base.0.add(offset as usize) }))
    }
}
