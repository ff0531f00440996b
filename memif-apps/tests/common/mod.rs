//! Test-support code shared by the integration tests of memif-apps.
//!
//! Every file in `memif-apps/tests/` that needs it says `mod common;`. Each test binary
//! uses only part of this module, hence the crate-wide `dead_code` allowance below (the
//! usual idiom for shared integration-test helpers). Std only: memif-apps has no
//! dev-dependencies.
//!
//! - [`testpmd`]: DPDK's `dpdk-testpmd` with the net_memif driver as a memif peer that
//!   this project did not write.
//! - [`TempDir`]: a fresh folder under /tmp for socket files, removed on drop.
//! - [`serial`]: a lock for tests that must not overlap inside one test binary.
//! - [`unix_socket_names`]: the UNIX socket names the kernel shows in /proc/net/unix.
#![allow(dead_code)]

pub mod testpmd;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

static NEXT_UNIQUE: AtomicUsize = AtomicUsize::new(0);

/// A number unique within this process, for names of temporary things.
pub fn unique() -> usize {
    NEXT_UNIQUE.fetch_add(1, Ordering::Relaxed)
}

/// A folder of its own under /tmp, removed with everything in it on drop.
///
/// Paths stay short on purpose: a UNIX socket path must fit in 108 bytes.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `/tmp/memif-rs-<tag>-<pid>-<n>`. Panics if /tmp is not writable.
    pub fn new(tag: &str) -> TempDir {
        loop {
            let path = PathBuf::from(format!("/tmp/memif-rs-{tag}-{}-{}", std::process::id(), unique()));
            match std::fs::create_dir(&path) {
                Ok(()) => return TempDir { path },
                // Left over from an earlier process that had the same pid: take the next number.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create {}: {e}", path.display()),
            }
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the folder.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Holds a process-wide lock for as long as the guard lives.
///
/// Tests that start testpmd instances take it first: each testpmd busy-polls a CPU and
/// this machine has two, so overlapping tests would only slow each other down and
/// blur timings. A test that panicked while holding the lock does not poison it for the
/// others.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The names of all UNIX sockets the kernel lists in /proc/net/unix, as it prints them:
/// an abstract name starts with `@` (the kernel shows every NUL byte of the name as
/// `@`), a filesystem socket shows its path. Sockets without a name are left out.
pub fn unix_socket_names() -> Vec<String> {
    let table = std::fs::read_to_string("/proc/net/unix").expect("read /proc/net/unix");
    // Columns: Num RefCount Protocol Flags Type St Inode [Path]
    table.lines().skip(1).filter_map(|line| line.split_whitespace().nth(7)).map(str::to_owned).collect()
}
