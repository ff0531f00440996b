//! No fd survives an error path or a dropped region. Alone in its test binary so that no
//! other test opens fds concurrently.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};

use memif_shm::{Layout, MapOptions, Region};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn memfd(size: i64, flags: MemFdCreateFlag) -> OwnedFd {
    let fd = memfd_create(&CString::new("leak").unwrap(), flags).unwrap();
    nix::unistd::ftruncate(&fd, size).unwrap();
    fd
}

#[test]
fn every_path_closes_its_fds() {
    let before = open_fds();
    let opts = MapOptions::default();
    let strict = MapOptions { require_seal: true, ..opts };
    for _ in 0..3 {
        // Refusals.
        assert!(Region::from_fd(memfd(4096, MemFdCreateFlag::empty()), 8192, &opts).is_err());
        assert!(Region::from_fd(memfd(4096, MemFdCreateFlag::empty()), 0, &opts).is_err());
        assert!(Region::from_fd(memfd(4096, MemFdCreateFlag::empty()), 1 << 40, &opts).is_err());
        assert!(Region::from_fd(memfd(4096, MemFdCreateFlag::empty()), 4096, &strict).is_err());
        let (rd, wr) = nix::unistd::pipe().unwrap();
        assert!(Region::from_fd(rd, 4096, &opts).is_err());
        drop(wr);
        // Successes, dropped.
        let r = Region::create("leak", 4096).unwrap();
        let peer = Region::from_fd(r.as_fd().try_clone_to_owned().unwrap(), 4096, &opts).unwrap();
        drop((r, peer));
        // Layouts: a bad one creates nothing, a good one is closed on drop.
        assert!(Layout { buffer_size: 0, ..Layout::default() }.create_regions("leak").is_err());
        drop(Layout::default().create_regions("leak").unwrap());
        assert!(Region::create("a\0b", 4096).is_err());
    }
    assert_eq!(open_fds(), before);
}
