//! Four queue pairs, each queue on its own thread, one million sequence-numbered packets
//! per queue in each direction: nothing lost, nothing reordered.

mod common;

use std::time::Duration;

use common::*;
use memif_conn::*;

const PER_QUEUE: u64 = 1_000_000;
const QUEUES: u16 = 4;

fn sender(mut tx: TxQueue) -> QueueCounters {
    let mut seq = 0u64;
    while seq < PER_QUEUE {
        let want = (PER_QUEUE - seq).min(64) as usize;
        let mut burst = tx.alloc(want).unwrap();
        let n = burst.len();
        for i in 0..n {
            let buf = burst.buffer_mut(i);
            buf[..8].copy_from_slice(&(seq + i as u64).to_le_bytes());
            buf[8..64].fill(tx_pattern(seq + i as u64));
            burst.set_len(i, 64);
        }
        burst.commit(n);
        seq += n as u64;
        if n == 0 {
            std::thread::yield_now();
        }
    }
    tx.counters().clone()
}

fn tx_pattern(seq: u64) -> u8 {
    (seq % 251) as u8
}

fn receiver(mut rx: RxQueue) -> u64 {
    let mut next = 0u64;
    let index = rx.index();
    while next < PER_QUEUE {
        let burst = rx.rx_burst(64).unwrap();
        if burst.is_empty() {
            drop(burst);
            std::thread::yield_now();
            continue;
        }
        for p in burst.iter() {
            let seg = p.segments().next().unwrap();
            let seq = u64::from_le_bytes(seg[..8].try_into().unwrap());
            assert_eq!(seq, next, "queue {index} out of order");
            assert!(seg[8..64].iter().all(|&b| b == tx_pattern(seq)));
            next += 1;
        }
        burst.release();
    }
    next
}

#[test]
fn four_queue_pairs_each_on_its_own_thread() {
    let dir = TempDir::new("threads");
    let mut m = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut s = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut mc = master_cfg(0).queue_pairs(QUEUES);
    mc.rx_mode = RxMode::Polling;
    let mut sc = slave_cfg(0).queue_pairs(QUEUES);
    sc.rx_mode = RxMode::Polling;
    m.add_interface(mc).unwrap();
    s.add_interface(sc).unwrap();
    let ((_, mq), (_, sq)) = connect_pair(&mut m, &mut s);
    let mut handles = Vec::new();
    let mut senders = Vec::new();
    for q in sq.tx {
        senders.push(std::thread::spawn(move || sender(q)));
    }
    for q in mq.tx {
        senders.push(std::thread::spawn(move || sender(q)));
    }
    for q in mq.rx.into_iter().chain(sq.rx) {
        handles.push(std::thread::spawn(move || receiver(q)));
    }
    for h in handles {
        assert_eq!(h.join().unwrap(), PER_QUEUE);
    }
    for h in senders {
        let c = h.join().unwrap();
        assert_eq!(c.packets, PER_QUEUE);
        assert_eq!(c.drops, 0);
    }
    // the control sockets are still connected afterwards
    let mut evs = Vec::new();
    m.poll(Some(Duration::ZERO), &mut evs).unwrap();
    s.poll(Some(Duration::ZERO), &mut evs).unwrap();
    assert!(evs.iter().all(|e| !matches!(e, Event::Disconnected { .. })), "{evs:?}");
}
