//! A master fills descriptors the slave posted: it writes flags, region and length and
//! leaves the slave's offset word (offset and metadata) as posted, as libmemif and DPDK
//! do; a slave writes its descriptors whole.

mod common;

use common::Conn;
use memif_proto::Direction;

/// The 16 bytes of descriptor `slot` of `dir`'s ring.
fn desc_bytes(c: &Conn, dir: Direction, slot: usize) -> [u8; 16] {
    let at = c.layout.ring_offset(dir, 0) + 128 + 16 * slot;
    c.snapshot(0)[at..at + 16].try_into().unwrap()
}

/// Writes the metadata word of descriptor `slot` of `dir`'s ring as the peer could.
fn set_metadata(c: &Conn, dir: Direction, slot: usize, v: u32) {
    let at = c.layout.ring_offset(dir, 0) + 128 + 16 * slot + 12;
    let (p, len) = c.region_raw(0);
    assert!(at + 4 <= len);
    // SAFETY: inside region 0's mapping (checked above); single-threaded test.
    unsafe { std::ptr::copy_nonoverlapping(v.to_le_bytes().as_ptr(), p.add(at), 4) };
}

#[test]
fn a_master_leaves_the_posted_offset_word() {
    let c = Conn::new(2, 256);
    let mut rx = c.slave_rx();
    rx.refill();
    set_metadata(&c, Direction::M2S, 0, 0xfeed_beef);
    let posted = desc_bytes(&c, Direction::M2S, 0);
    let mut tx = c.master_tx();
    assert_eq!(tx.send(&[&[7u8; 100]]).unwrap(), 1);
    let written = desc_bytes(&c, Direction::M2S, 0);
    // flags 0, region 1, length 100 ...
    assert_eq!(written[..8], [0, 0, 1, 0, 100, 0, 0, 0]);
    // ... and the offset and metadata the slave posted
    assert_eq!(written[8..], posted[8..]);
    assert_eq!(u32::from_le_bytes(written[12..].try_into().unwrap()), 0xfeed_beef);
    let got = rx.rx_burst(8).unwrap();
    assert_eq!(got.get(0).unwrap().to_vec(), vec![7u8; 100]);
}

#[test]
fn a_slave_writes_its_descriptors_whole() {
    let c = Conn::new(2, 256);
    set_metadata(&c, Direction::S2M, 1, 0xfeed_beef);
    let mut tx = c.slave_tx();
    assert_eq!(tx.send(&[b"a", b"bc"]).unwrap(), 2);
    let d = desc_bytes(&c, Direction::S2M, 1);
    assert_eq!(d[..8], [0, 0, 1, 0, 2, 0, 0, 0]);
    assert_eq!(d[12..], [0, 0, 0, 0], "metadata written as 0");
}
