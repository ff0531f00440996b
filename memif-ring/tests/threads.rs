//! Two threads, one ring: 10 million sequence-numbered packets through an S2M ring
//! (SlaveTx -> MasterRx) and through an M2S ring (MasterTx -> SlaveRx), all received
//! in order, nothing lost. Bursts of 256, receiver polling (MASK_INT set).

mod common;

use std::time::Instant;

use common::Conn;
use memif_ring::{RingError, RxBurst, RxMode};

const PACKETS: u64 = 10_000_000;
const BURST: usize = 256;

/// Writes packet `i` of a burst into a buffer, returns its length.
type Fill<'a> = dyn FnMut(usize, &mut [u8]) -> usize + 'a;

/// Fills up to BURST buffers with the next sequence numbers, through `send` (a queue's
/// `send_with`).
fn produce(next: &mut u64, send: &mut dyn FnMut(usize, &mut Fill<'_>) -> usize) {
    let want = (PACKETS - *next).min(BURST as u64) as usize;
    let base = *next;
    let n = send(want, &mut |i, buf| {
        let seq = base + i as u64;
        buf[..8].copy_from_slice(&seq.to_le_bytes());
        // Length varies with the sequence number (8..=64 bytes) so lengths are checked too.
        8 + (seq % 57) as usize
    });
    *next += n as u64;
    if n == 0 {
        std::thread::yield_now();
    }
}

/// Checks a burst against the expected sequence numbers.
fn consume(expected: &mut u64, burst: Result<RxBurst<'_>, RingError>) {
    let burst = burst.expect("no ring error between two honest queues");
    if burst.is_empty() {
        drop(burst);
        std::thread::yield_now();
        return;
    }
    for p in burst.iter() {
        let seg = p.first_segment();
        assert_eq!(p.num_segments(), 1);
        let seq = u64::from_le_bytes(seg[..8].try_into().unwrap());
        assert_eq!(seq, *expected, "lost, duplicated or reordered");
        assert_eq!(seg.len(), 8 + (seq % 57) as usize);
        *expected += 1;
    }
    burst.release();
}

#[test]
fn ten_million_packets_each_way() {
    let c = Conn::new(10, 64);

    // S2M: slave transmits, master receives.
    let t0 = Instant::now();
    let mut tx = c.slave_tx();
    let mut rx = c.master_rx();
    rx.set_rx_mode(RxMode::Polling);
    let producer = std::thread::spawn(move || {
        let mut next = 0u64;
        while next < PACKETS {
            produce(&mut next, &mut |n, f| tx.send_with(n, f).unwrap());
        }
        tx
    });
    let mut expected = 0u64;
    while expected < PACKETS {
        consume(&mut expected, rx.rx_burst(BURST));
    }
    let tx = producer.join().unwrap();
    let s2m = t0.elapsed();
    assert_eq!(tx.counters().packets, PACKETS);
    assert_eq!(rx.counters().packets, PACKETS);
    assert_eq!(tx.counters().interrupts_sent, 0, "the receiver polls");
    assert_eq!(rx.pending().unwrap(), 0);

    // M2S: the slave posts buffers, the master fills them, the slave receives and refills.
    let t1 = Instant::now();
    let mut tx = c.master_tx();
    let mut rx = c.slave_rx();
    rx.set_rx_mode(RxMode::Polling);
    assert_eq!(rx.refill(), 1024);
    let producer = std::thread::spawn(move || {
        let mut next = 0u64;
        while next < PACKETS {
            produce(&mut next, &mut |n, f| tx.send_with(n, f).unwrap());
        }
        tx
    });
    let mut expected = 0u64;
    while expected < PACKETS {
        consume(&mut expected, rx.rx_burst(BURST));
    }
    let tx = producer.join().unwrap();
    let m2s = t1.elapsed();
    assert_eq!(tx.counters().packets, PACKETS);
    assert_eq!(rx.counters().packets, PACKETS);
    assert_eq!(rx.posted(), 1024, "every slot posted again");
    eprintln!(
        "10M packets: S2M {:.2?} ({:.1} Mpps), M2S {:.2?} ({:.1} Mpps)",
        s2m,
        PACKETS as f64 / s2m.as_secs_f64() / 1e6,
        m2s,
        PACKETS as f64 / m2s.as_secs_f64() / 1e6
    );
}

/// Interrupt mode: the receiver sleeps in poll(2) on the eventfd and is woken per burst.
#[test]
fn interrupt_mode_wakes_the_receiver() {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;

    const N: u64 = 200_000;
    let c = Conn::new(8, 64);
    let mut tx = c.slave_tx();
    let mut rx = c.master_rx();
    rx.set_rx_mode(RxMode::Interrupt);
    let producer = std::thread::spawn(move || {
        let mut next = 0u64;
        while next < N {
            let want = (N - next).min(32) as usize;
            let base = next;
            let n = tx
                .send_with(want, |i, buf| {
                    buf[..8].copy_from_slice(&(base + i as u64).to_le_bytes());
                    8
                })
                .unwrap();
            next += n as u64;
            if n == 0 {
                std::thread::yield_now();
            }
        }
        tx
    });
    let irq = rx.interrupt().clone();
    let mut expected = 0u64;
    let mut wakeups = 0u64;
    while expected < N {
        let b = rx.rx_burst(BURST).unwrap();
        if b.is_empty() {
            drop(b);
            let mut fds = [PollFd::new(irq.as_fd(), PollFlags::POLLIN)];
            // Bounded wait: a lost wakeup would show as a timeout here.
            let ready = poll(&mut fds, PollTimeout::from(5000u16)).unwrap();
            assert_eq!(ready, 1, "receiver not woken: lost interrupt");
            wakeups += irq.clear().min(1);
            continue;
        }
        for p in b.iter() {
            assert_eq!(u64::from_le_bytes(p.first_segment()[..8].try_into().unwrap()), expected);
            expected += 1;
        }
    }
    let tx = producer.join().unwrap();
    assert!(tx.counters().interrupts_sent > 0);
    assert!(wakeups > 0);
}
