//! # memif-shm: the shared memory regions of a memif connection
//!
//! This crate owns the memfd regions memif rings and packet buffers live in:
//!
//! - [`Region`] creates a region the way libmemif does (`memfd_create` with
//!   `MFD_CLOEXEC | MFD_ALLOW_SEALING`, `ftruncate`, `F_SEAL_SHRINK`, shared read-write
//!   mapping), or maps a region a peer sent ([`Region::from_fd`]) after checking what a
//!   safe receiver must check (protocol reference, section 6): the size is not 0 and below
//!   a cap, the fd is a regular file (memfd) whose real size is at least the announced
//!   size, and it is sealed against shrinking (or the risk is accepted, with a warning).
//! - [`Layout`] computes libmemif's layout of rings and buffers over those regions and
//!   refuses a layout whose 32-bit offsets would wrap or alias.
//!
//! It must not know the rings' dynamics (indices, descriptors in flight, interrupts):
//! that is `memif-ring`'s job. Every fd is held in an [`std::os::fd::OwnedFd`] from the
//! moment it exists, so nothing leaks on any error path, and a [`Region`] unmaps and
//! closes on drop.
//!
//! ```
//! use memif_shm::{Layout, Region, MapOptions};
//! use std::os::fd::AsFd;
//!
//! let layout = Layout::default();
//! let regions = layout.create_regions("example").unwrap();
//! assert_eq!(regions.len(), 2);
//! assert_eq!(regions[0].len(), layout.ring_region_size());
//!
//! // What a master does with an fd it received:
//! let fd = regions[1].as_fd().try_clone_to_owned().unwrap();
//! let mapped = Region::from_fd(fd, regions[1].len() as u64, &MapOptions::default()).unwrap();
//! assert!(mapped.sealed_against_shrink());
//! ```
#![warn(missing_docs)]

mod error;
mod layout;
mod region;

pub use error::ShmError;
pub use layout::Layout;
pub use region::{MapOptions, Region, DEFAULT_MAX_REGION_SIZE, PREFAULT_MAX};
