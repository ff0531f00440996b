//! Regions of ordinary size are prefaulted when mapped, so the data path does not take a
//! page fault on the first touch of every buffer (microseconds each in a virtual machine,
//! which made a polling round trip 19 us instead of 2). Larger ones are mapped lazily.

use std::os::fd::AsFd;

use memif_shm::{MapOptions, Region, PREFAULT_MAX};

/// Minor page faults of this thread so far (`/proc/thread-self/stat`, field 10).
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    // the fields after the command name, which is in parentheses and may hold spaces
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split_whitespace().nth(7).unwrap().parse().unwrap()
}

/// Faults taken while writing one byte in each of the first `pages` pages of `r`.
fn faults_touching(r: &Region, pages: usize) -> u64 {
    let before = minor_faults();
    assert!(pages * 4096 <= r.len());
    for p in 0..pages {
        // SAFETY: `p * 4096 < r.len()` (asserted above), inside the mapping `r` keeps
        // alive; nothing else uses the region while the test writes.
        unsafe { r.as_ptr().add(p * 4096).write_volatile(1) };
    }
    minor_faults() - before
}

#[test]
fn our_regions_and_peer_regions_are_prefaulted() {
    let size = 4 << 20;
    let pages = size / 4096;
    let ours = Region::create("prefault", size).unwrap();
    let took = faults_touching(&ours, pages);
    assert!(took < pages as u64 / 16, "{took} faults touching {pages} pages of our region");

    let fd = ours.as_fd().try_clone_to_owned().unwrap();
    let peer = Region::from_fd(fd, size as u64, &MapOptions::default()).unwrap();
    let took = faults_touching(&peer, pages);
    assert!(took < pages as u64 / 16, "{took} faults touching {pages} pages of a peer region");
}

#[test]
fn a_region_above_the_limit_is_mapped_lazily() {
    let size = PREFAULT_MAX as usize + 4096;
    let big = Region::create("lazy", size).unwrap();
    // the first 256 pages, each touched for the first time now
    let took = faults_touching(&big, 256);
    assert!(took >= 200, "only {took} faults touching 256 fresh pages: prefaulted?");
}
