//! The interrupt eventfd of a ring.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::eventfd::{EfdFlags, EventFd};

/// A ring's interrupt: an eventfd the transmitter writes 1 to after a burst (unless the
/// receiver set MASK_INT) and the receiver reads to clear. Clones share the fd (for a
/// poller); it is closed when the last clone goes.
#[derive(Clone, Debug)]
pub struct Interrupt {
    fd: Arc<OwnedFd>,
    errors: Arc<AtomicU64>,
}

impl Interrupt {
    /// A new eventfd, `EFD_CLOEXEC | EFD_NONBLOCK`, counter 0 (the slave creates one per
    /// ring).
    pub fn new() -> std::io::Result<Interrupt> {
        let efd = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
        Ok(Interrupt::wrap(OwnedFd::from(efd)))
    }

    fn wrap(fd: OwnedFd) -> Interrupt {
        Interrupt { fd: Arc::new(fd), errors: Arc::new(AtomicU64::new(0)) }
    }

    /// Wraps an eventfd received from the peer (ADD_RING). The fd is made non-blocking
    /// if it is not already (libmemif, VPP and DPDK all create it so), so that a peer
    /// cannot stall our data path with a full counter; failures to do so are logged.
    pub fn from_fd(fd: OwnedFd) -> Interrupt {
        match fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL) {
            Ok(bits) => {
                let fl = OFlag::from_bits_truncate(bits);
                if !fl.contains(OFlag::O_NONBLOCK) {
                    if let Err(e) = fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(fl | OFlag::O_NONBLOCK)) {
                        tracing::warn!(fd = fd.as_raw_fd(), error = %e, "cannot make interrupt fd non-blocking");
                    }
                }
            }
            Err(e) => tracing::warn!(fd = fd.as_raw_fd(), error = %e, "cannot read interrupt fd flags"),
        }
        Interrupt::wrap(fd)
    }

    /// Signals the peer: writes the u64 1. A full counter (EAGAIN) means a signal is
    /// already pending and counts as success. Other errors are counted ([`Self::errors`])
    /// and logged, never raised: returns whether the signal is pending.
    pub fn notify(&self) -> bool {
        match nix::unistd::write(&*self.fd, &1u64.to_ne_bytes()) {
            Ok(_) | Err(Errno::EAGAIN) => true,
            Err(e) => {
                let n = self.errors.fetch_add(1, Ordering::Relaxed);
                if n == 0 {
                    tracing::warn!(fd = self.fd.as_raw_fd(), error = %e, "interrupt write failed");
                }
                false
            }
        }
    }

    /// Clears the interrupt: reads and returns the counter (the number of signals since
    /// the last clear), 0 if none is pending or the read failed (counted in errors).
    pub fn clear(&self) -> u64 {
        let mut buf = [0u8; 8];
        match nix::unistd::read(self.fd.as_raw_fd(), &mut buf) {
            Ok(8) => u64::from_ne_bytes(buf),
            Ok(_) | Err(Errno::EAGAIN) => 0,
            Err(e) => {
                let n = self.errors.fetch_add(1, Ordering::Relaxed);
                if n == 0 {
                    tracing::warn!(fd = self.fd.as_raw_fd(), error = %e, "interrupt read failed");
                }
                0
            }
        }
    }

    /// Number of failed writes and reads so far (shared by clones).
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

impl AsFd for Interrupt {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
