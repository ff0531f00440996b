//! Errors of region creation, mapping and layout checks.

/// Why a region cannot be created or mapped, or a layout is refused.
#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    /// A region of 0 bytes was announced or requested.
    #[error("region size 0")]
    ZeroSize,
    /// The announced size is above the cap of [`crate::MapOptions::max_size`].
    #[error("region size {size} above the cap {cap}")]
    AboveCap {
        /// Announced size in bytes.
        size: u64,
        /// The cap in bytes.
        cap: u64,
    },
    /// The announced size does not fit in this process's address space.
    #[error("region size {size} does not fit in this address space")]
    TooLargeForAddressSpace {
        /// Announced size in bytes.
        size: u64,
    },
    /// The fd's real size is smaller than announced: touching the missing part would
    /// raise SIGBUS.
    #[error("region fd is {actual} bytes, smaller than the announced {announced}")]
    TooSmall {
        /// Real size of the file (`fstat`).
        actual: u64,
        /// Size the peer announced.
        announced: u64,
    },
    /// The file could shrink under the mapping, and [`crate::MapOptions::require_seal`]
    /// is set.
    #[error("region is not sealed against shrinking")]
    NotSealed,
    /// The fd is not a regular file (a pipe, socket, directory, device ...).
    #[error("cannot map region: not a regular memfd/file (fstat mode {mode:#o})")]
    NotRegularFile {
        /// `st_mode` as `fstat` reported it.
        mode: u32,
    },
    /// The memfd name contains a NUL byte.
    #[error("region name {0:?} contains a NUL byte")]
    BadName(String),
    /// A layout that cannot be laid out in shared memory.
    #[error("invalid layout: {0}")]
    InvalidLayout(String),
    /// A system call failed.
    #[error("{op} failed: {source}")]
    Sys {
        /// What was attempted.
        op: &'static str,
        /// The error number.
        #[source]
        source: nix::Error,
    },
    /// An I/O error (mapping).
    #[error("cannot map region: {0}")]
    Io(#[from] std::io::Error),
}

impl ShmError {
    pub(crate) fn sys(op: &'static str) -> impl FnOnce(nix::Error) -> ShmError {
        move |source| ShmError::Sys { op, source }
    }
}
