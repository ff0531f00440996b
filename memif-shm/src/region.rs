//! One memfd region: create, seal, size-check, map.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use memmap2::{MmapOptions, MmapRaw};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use nix::sys::stat::{fstat, SFlag};

use crate::ShmError;

/// Default cap on the size of a region received from a peer: 4 GiB. Buffer offsets in
/// descriptors and ring offsets in ADD_RING are u32, so no byte past 4 GiB of a region
/// can be named by the protocol; a larger region only costs address space.
pub const DEFAULT_MAX_REGION_SIZE: u64 = 1 << 32;

/// Longest memfd name Linux accepts (249 bytes, without the NUL).
const MAX_MEMFD_NAME: usize = 249;

/// What [`Region::from_fd`] accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapOptions {
    /// Largest announced size accepted, in bytes. Default [`DEFAULT_MAX_REGION_SIZE`]
    /// (4 GiB).
    pub max_size: u64,
    /// Refuse a region that is not sealed against shrinking (`F_SEAL_SHRINK`). When
    /// false (the default, because not every peer seals), such a region is mapped and a
    /// warning is logged: a peer that later shrinks the file makes our accesses fault
    /// with SIGBUS.
    pub require_seal: bool,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions { max_size: DEFAULT_MAX_REGION_SIZE, require_seal: false }
    }
}

/// A memfd region mapped shared and read-write. Owns the fd and the mapping: dropping it
/// unmaps and closes.
#[derive(Debug)]
pub struct Region {
    // Field order: the mapping is dropped (unmapped) before the fd is closed.
    map: MmapRaw,
    fd: OwnedFd,
    sealed_against_shrink: bool,
}

/// Regions up to this size are prefaulted when mapped (`MAP_POPULATE`): with the
/// default layout (1024-slot rings, 2048-byte buffers) one region is about 4 MiB.
pub const PREFAULT_MAX: u64 = 64 << 20;

impl Region {
    /// Creates a region as libmemif does: `memfd_create(name, MFD_CLOEXEC |
    /// MFD_ALLOW_SEALING)`, `ftruncate(size)`, `F_SEAL_SHRINK` (not GROW nor WRITE), then a
    /// shared read-write mapping of `size` bytes.
    ///
    /// `name` is only a label (shown in `/proc/<pid>/fd`); it is truncated to the 249
    /// bytes Linux accepts and must not contain NUL.
    pub fn create(name: &str, size: usize) -> Result<Region, ShmError> {
        if size == 0 {
            return Err(ShmError::ZeroSize);
        }
        let size_u64 = size as u64;
        let off = nix::libc::off_t::try_from(size_u64)
            .map_err(|_| ShmError::TooLargeForAddressSpace { size: size_u64 })?;
        let mut end = name.len().min(MAX_MEMFD_NAME);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let cname = CString::new(&name[..end]).map_err(|_| ShmError::BadName(name.to_owned()))?;
        let fd = memfd_create(&cname, MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING)
            .map_err(ShmError::sys("memfd_create"))?;
        nix::unistd::ftruncate(&fd, off).map_err(ShmError::sys("ftruncate"))?;
        fcntl(fd.as_raw_fd(), FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SHRINK))
            .map_err(ShmError::sys("fcntl(F_ADD_SEALS)"))?;
        // Our own buffers, sized by our configuration: prefaulted (see `from_fd`).
        let mut o = MmapOptions::new();
        o.len(size);
        if size_u64 <= PREFAULT_MAX {
            o.populate();
        }
        let map = o.map_raw(&fd)?;
        tracing::debug!(name, size, fd = fd.as_raw_fd(), "created memfd region");
        Ok(Region { map, fd, sealed_against_shrink: true })
    }

    /// Maps a region a peer sent, after the checks of protocol reference section 6:
    ///
    /// - `announced_size` is not 0, not above `opts.max_size`, and fits in `usize`;
    /// - the fd is a regular file (a memfd is one; a pipe or socket is refused here,
    ///   before any `mmap`);
    /// - its real size (`fstat`) is at least `announced_size`;
    /// - it is sealed against shrinking (`F_GET_SEALS`; a regular file that is not a memfd
    ///   answers EINVAL and counts as unsealed), else a warning, or
    ///   [`ShmError::NotSealed`] when `opts.require_seal`.
    ///
    /// Maps exactly `announced_size` bytes, shared and read-write. The fd is owned: it is
    /// closed on every error path and when the region is dropped.
    pub fn from_fd(fd: OwnedFd, announced_size: u64, opts: &MapOptions) -> Result<Region, ShmError> {
        if announced_size == 0 {
            return Err(ShmError::ZeroSize);
        }
        if announced_size > opts.max_size {
            return Err(ShmError::AboveCap { size: announced_size, cap: opts.max_size });
        }
        let len = usize::try_from(announced_size)
            .map_err(|_| ShmError::TooLargeForAddressSpace { size: announced_size })?;
        let st = fstat(fd.as_raw_fd()).map_err(ShmError::sys("fstat"))?;
        let mode: u32 = st.st_mode;
        if mode & SFlag::S_IFMT.bits() != SFlag::S_IFREG.bits() {
            return Err(ShmError::NotRegularFile { mode });
        }
        let actual = u64::try_from(st.st_size).unwrap_or(0);
        if actual < announced_size {
            return Err(ShmError::TooSmall { actual, announced: announced_size });
        }
        let sealed = match fcntl(fd.as_raw_fd(), FcntlArg::F_GET_SEALS) {
            Ok(bits) => SealFlag::from_bits_truncate(bits).contains(SealFlag::F_SEAL_SHRINK),
            Err(Errno::EINVAL) => false,
            Err(e) => return Err(ShmError::Sys { op: "fcntl(F_GET_SEALS)", source: e }),
        };
        if !sealed {
            if opts.require_seal {
                return Err(ShmError::NotSealed);
            }
            tracing::warn!(
                fd = fd.as_raw_fd(),
                size = announced_size,
                "mapping a region that is not sealed against shrinking: a peer that shrinks it \
                 makes accesses fault with SIGBUS"
            );
        }
        // Prefault a region of ordinary size: a first touch of each page on the data path
        // costs a page fault (microseconds in a virtual machine) per buffer until the ring
        // has wrapped once. A larger one (a peer's choice, up to `max_size`) is mapped
        // lazily, so a peer cannot make us commit a huge region up front.
        let mut o = MmapOptions::new();
        o.len(len);
        if announced_size <= PREFAULT_MAX {
            o.populate();
        }
        let map = o.map_raw(&fd)?;
        tracing::debug!(fd = fd.as_raw_fd(), size = announced_size, sealed, "mapped peer region");
        Ok(Region { map, fd, sealed_against_shrink: sealed })
    }

    /// Mapped length in bytes (never 0).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Always false: a region is never empty. Here for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// Start of the mapping. Valid for `len()` bytes as long as `self` lives; the peer may
    /// write any byte of it at any time.
    pub fn as_ptr(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    /// Whether the file was sealed against shrinking when it was mapped (always true for
    /// a region we created).
    pub fn sealed_against_shrink(&self) -> bool {
        self.sealed_against_shrink
    }
}

impl AsFd for Region {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
