//! `TxBurst::fill_each` fills a burst as `buffer_mut` and `set_len` for every buffer do,
//! including a burst that wraps around the end of the ring, in both roles.

mod common;

use common::{frame, Conn};
use memif_ring::{RxBurst, TxBurst};

/// Fills a burst with `frame(first + i, 100 + 10 * i)` (a 0 for the last buffer:
/// left empty, not committed) and commits all but the last. Returns frames committed.
fn fill(mut b: TxBurst<'_>, first: u64) -> usize {
    let n = b.len();
    let mut seen = Vec::new();
    b.fill_each(|i, buf| {
        seen.push(i);
        if i + 1 == n {
            return 0;
        }
        let f = frame(first + i as u64, 100 + 10 * i);
        buf[..f.len()].copy_from_slice(&f);
        f.len()
    });
    assert_eq!(seen, (0..n).collect::<Vec<_>>(), "every buffer once, in order");
    b.commit(n - 1)
}

fn check(b: RxBurst<'_>, first: u64, n: usize) {
    assert_eq!(b.len(), n);
    for (i, p) in b.iter().enumerate() {
        assert_eq!(p.to_vec(), frame(first + i as u64, 100 + 10 * i));
    }
    b.release();
}

#[test]
fn master_fill_each_across_the_wrap() {
    let c = Conn::new(3, 512);
    let (mut tx, mut rx) = (c.master_tx(), c.slave_rx());
    rx.refill();
    // 5 frames: the next burst starts at slot 5 of 8 and wraps
    assert_eq!(fill(tx.alloc(6).unwrap(), 0), 5);
    check(rx.rx_burst(8).unwrap(), 0, 5);
    assert_eq!(fill(tx.alloc(8).unwrap(), 100), 7);
    check(rx.rx_burst(8).unwrap(), 100, 7);
}

#[test]
fn slave_fill_each_across_the_wrap() {
    let c = Conn::new(3, 512);
    let (mut tx, mut rx) = (c.slave_tx(), c.master_rx());
    assert_eq!(fill(tx.alloc(6).unwrap(), 0), 5);
    check(rx.rx_burst(8).unwrap(), 0, 5);
    assert_eq!(fill(tx.alloc(8).unwrap(), 100), 7);
    check(rx.rx_burst(8).unwrap(), 100, 7);
}
