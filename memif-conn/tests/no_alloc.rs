//! No heap allocation on the data path in polling mode: a counting global allocator
//! sees zero allocations across a loop of TX bursts (alloc, fill, commit) and RX bursts
//! (receive, read, release), in both directions. Alone in its binary, so no other test
//! allocates meanwhile.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use memif_conn::*;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours, passed through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours, passed through.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours, passed through.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One round: a burst of 64-byte frames from `tx` to `rx`; returns packets received.
fn round(tx: &mut TxQueue, rx: &mut RxQueue) -> usize {
    let mut b = tx.alloc(32).unwrap();
    let n = b.len();
    for i in 0..n {
        b.buffer_mut(i)[..8].copy_from_slice(&(i as u64).to_le_bytes());
        b.set_len(i, 64);
    }
    b.commit(n);
    let burst = rx.rx_burst(64).unwrap();
    let mut got = 0;
    for p in burst.iter() {
        got += p.segments().map(|s| s.len()).sum::<usize>() / 64;
    }
    burst.release();
    got
}

#[test]
fn burst_loop_allocates_nothing() {
    let dir = TempDir::new("noalloc");
    let mut m = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut s = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut mc = master_cfg(0);
    mc.rx_mode = RxMode::Polling;
    let mut sc = slave_cfg(0);
    sc.rx_mode = RxMode::Polling;
    m.add_interface(mc).unwrap();
    s.add_interface(sc).unwrap();
    let ((_, mut mq), (_, mut sq)) = connect_pair(&mut m, &mut s);
    // warm up: first touches of every slot, lazily built state
    for _ in 0..100 {
        round(&mut sq.tx[0], &mut mq.rx[0]);
        round(&mut mq.tx[0], &mut sq.rx[0]);
    }
    let before = ALLOCS.load(Ordering::Relaxed);
    let mut packets = 0;
    for _ in 0..10_000 {
        packets += round(&mut sq.tx[0], &mut mq.rx[0]);
        packets += round(&mut mq.tx[0], &mut sq.rx[0]);
    }
    let after = ALLOCS.load(Ordering::Relaxed);
    assert!(packets >= 2 * 10_000 * 32 - 64, "only {packets} packets moved");
    assert_eq!(after - before, 0, "{} allocations in {packets} packets", after - before);
    // and the counter does count: a Vec allocates
    let v = vec![1u8; 10];
    assert!(ALLOCS.load(Ordering::Relaxed) > after);
    drop(v);
}
