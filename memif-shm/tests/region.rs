//! `Region::create` and the refusals of `Region::from_fd`.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};

use memif_shm::{MapOptions, Region, ShmError};
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use std::os::fd::AsRawFd;

fn memfd(size: i64, flags: MemFdCreateFlag) -> OwnedFd {
    let fd = memfd_create(&CString::new("test").unwrap(), flags).unwrap();
    nix::unistd::ftruncate(&fd, size).unwrap();
    fd
}

fn sealed_memfd(size: i64) -> OwnedFd {
    let fd = memfd(size, MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING);
    fcntl(fd.as_raw_fd(), FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SHRINK)).unwrap();
    fd
}

#[test]
fn create_is_sealed_against_shrink_only_and_shared() {
    let r = Region::create("memif-shm test", 8192).unwrap();
    assert_eq!(r.len(), 8192);
    assert!(r.sealed_against_shrink());
    let seals = fcntl(r.as_fd().as_raw_fd(), FcntlArg::F_GET_SEALS).unwrap();
    let seals = SealFlag::from_bits_truncate(seals);
    assert!(seals.contains(SealFlag::F_SEAL_SHRINK));
    assert!(!seals.contains(SealFlag::F_SEAL_GROW));
    assert!(!seals.contains(SealFlag::F_SEAL_WRITE));
    // A second mapping of the same fd sees the same bytes.
    let fd = r.as_fd().try_clone_to_owned().unwrap();
    let peer =
        Region::from_fd(fd, 8192, &MapOptions { require_seal: true, ..MapOptions::default() }).unwrap();
    // SAFETY: both mappings are 8192 bytes long and alive; single-threaded test.
    unsafe {
        r.as_ptr().add(8191).write_volatile(0xa5);
        assert_eq!(peer.as_ptr().add(8191).read_volatile(), 0xa5);
    }
}

#[test]
fn create_refuses_zero_and_nul_names() {
    assert!(matches!(Region::create("x", 0), Err(ShmError::ZeroSize)));
    assert!(matches!(Region::create("a\0b", 4096), Err(ShmError::BadName(_))));
    // Over-long names are truncated, not refused.
    let long = "é".repeat(300);
    assert_eq!(Region::create(&long, 4096).unwrap().len(), 4096);
}

#[test]
fn refuses_smaller_fd_than_announced() {
    let err = Region::from_fd(sealed_memfd(4096), 8192, &MapOptions::default()).unwrap_err();
    assert!(matches!(err, ShmError::TooSmall { actual: 4096, announced: 8192 }), "{err:?}");
    assert_eq!(err.to_string(), "region fd is 4096 bytes, smaller than the announced 8192");
}

#[test]
fn maps_only_the_announced_part_of_a_larger_fd() {
    let r = Region::from_fd(sealed_memfd(16384), 4096, &MapOptions::default()).unwrap();
    assert_eq!(r.len(), 4096);
}

#[test]
fn refuses_size_zero_and_above_cap() {
    let err = Region::from_fd(sealed_memfd(4096), 0, &MapOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), "region size 0");
    let opts = MapOptions { max_size: 4096, require_seal: false };
    let err = Region::from_fd(sealed_memfd(8192), 8192, &opts).unwrap_err();
    assert_eq!(err.to_string(), "region size 8192 above the cap 4096");
    // The default cap is 4 GiB.
    let err = Region::from_fd(sealed_memfd(4096), (1 << 32) + 1, &MapOptions::default()).unwrap_err();
    assert!(matches!(err, ShmError::AboveCap { .. }));
}

#[test]
fn refuses_pipe_and_socket_before_mmap() {
    let (rd, _wr) = nix::unistd::pipe().unwrap();
    let err = Region::from_fd(rd, 4096, &MapOptions::default()).unwrap_err();
    assert!(matches!(err, ShmError::NotRegularFile { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("cannot map region: not a regular memfd/file (fstat mode 0o10"),
        "{err}"
    );
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let err = Region::from_fd(OwnedFd::from(a), 4096, &MapOptions::default()).unwrap_err();
    assert!(matches!(err, ShmError::NotRegularFile { .. }), "{err:?}");
}

#[test]
fn unsealed_memfd_warns_or_is_refused() {
    // No MFD_ALLOW_SEALING: the memfd carries F_SEAL_SEAL and nothing else.
    let fd = memfd(4096, MemFdCreateFlag::MFD_CLOEXEC);
    let r = Region::from_fd(fd, 4096, &MapOptions::default()).unwrap();
    assert!(!r.sealed_against_shrink());
    let fd = memfd(4096, MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING);
    let err =
        Region::from_fd(fd, 4096, &MapOptions { require_seal: true, ..MapOptions::default() }).unwrap_err();
    assert!(matches!(err, ShmError::NotSealed));
    assert_eq!(err.to_string(), "region is not sealed against shrinking");
}

#[test]
fn plain_regular_file_counts_as_unsealed() {
    let path = std::env::temp_dir().join(format!("memif-shm-test-{}", std::process::id()));
    let f =
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    f.set_len(4096).unwrap();
    let fd = OwnedFd::from(f.try_clone().unwrap());
    let r = Region::from_fd(fd, 4096, &MapOptions::default()).unwrap();
    assert!(!r.sealed_against_shrink());
    let err =
        Region::from_fd(OwnedFd::from(f), 4096, &MapOptions { require_seal: true, ..MapOptions::default() })
            .unwrap_err();
    assert!(matches!(err, ShmError::NotSealed));
}

#[test]
fn read_only_fd_fails_to_map_with_an_error() {
    let r = Region::create("ro", 4096).unwrap();
    let path = format!("/proc/self/fd/{}", r.as_fd().as_raw_fd());
    let ro = std::fs::File::open(path).unwrap();
    let err = Region::from_fd(OwnedFd::from(ro), 4096, &MapOptions::default()).unwrap_err();
    assert!(matches!(err, ShmError::Io(_)), "{err:?}");
}
