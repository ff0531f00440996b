//! Frames a peer put on the ring just before it left are still delivered: the peer
//! counted them as sent (DPDK's testpmd does), so `RxQueue::drain` reads them after
//! `Event::Disconnected`, where `rx_burst` says the link is down.

mod common;

use std::time::Duration;

use common::*;
use memif_conn::*;

fn frames(n: usize, tag: u8) -> Vec<Vec<u8>> {
    (0..n).map(|i| (0..60 + i % 1500).map(|b| (b as u8) ^ tag ^ i as u8).collect()).collect()
}

fn drain_all(rx: &mut RxQueue) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    loop {
        let burst = rx.drain(64).unwrap();
        if burst.is_empty() {
            return got;
        }
        for p in burst.iter() {
            got.push(p.to_vec());
        }
        burst.release();
    }
}

fn link_down(e: &[Event]) -> bool {
    e.iter().any(|e| matches!(e, Event::Disconnected { .. }))
}

#[test]
fn a_slave_drains_what_the_master_sent_before_it_disconnected() {
    let dir = TempDir::new("drain-m2s");
    let mut m = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut s = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mid = m.add_interface(master_cfg(0)).unwrap();
    s.add_interface(slave_cfg(0)).unwrap();
    let ((_, mut mq), (_, mut sq)) = connect_pair(&mut m, &mut s);
    // 300 frames of 60 to 359 bytes on the M2S ring, none read yet
    let f = frames(300, 7);
    let refs: Vec<&[u8]> = f.iter().map(|x| x.as_slice()).collect();
    assert_eq!(mq.tx[0].send(&refs).unwrap(), 300);
    m.disconnect(mid, "bye").unwrap();
    drop(mq);
    drive(&mut [&mut m, &mut s], Duration::from_secs(5), |e| link_down(&e[1]));
    assert!(matches!(sq.rx[0].rx_burst(64), Err(QueueError::Down)));
    assert_eq!(drain_all(&mut sq.rx[0]), f, "every frame sent before the disconnect");
    assert!(drain_all(&mut sq.rx[0]).is_empty());
}

#[test]
fn a_master_drains_what_a_closed_slave_sent_chained() {
    let dir = TempDir::new("drain-s2m");
    let mut m = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut s = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    m.add_interface(master_cfg(0)).unwrap();
    let mut sc = slave_cfg(0);
    sc.buffer_size = 1024;
    s.add_interface(sc).unwrap();
    let ((_, mut mq), (_, mut sq)) = connect_pair(&mut m, &mut s);
    // frames of 60 to 1559 bytes in 1024-byte buffers: many are chained
    let f = frames(200, 9);
    let refs: Vec<&[u8]> = f.iter().map(|x| x.as_slice()).collect();
    assert_eq!(sq.tx[0].send(&refs).unwrap(), 200);
    // the slave goes away entirely: its socket closes, its mapping is gone
    drop(sq);
    drop(s);
    let mut ev = Vec::new();
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while !link_down(&ev) {
        assert!(std::time::Instant::now() < end, "no disconnect: {ev:?}");
        m.poll(Some(Duration::from_millis(10)), &mut ev).unwrap();
    }
    assert!(matches!(mq.rx[0].rx_burst(64), Err(QueueError::Down)));
    assert_eq!(drain_all(&mut mq.rx[0]), f, "every frame sent before the slave left");
}
