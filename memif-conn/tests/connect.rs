//! Master and slave over real UNIX sockets in a temporary folder.

mod common;

use std::time::{Duration, Instant};

use common::*;
use memif_conn::*;

fn frames(n: usize, tag: u8) -> Vec<Vec<u8>> {
    (0..n).map(|i| (0..60 + i % 100).map(|b| (b as u8) ^ tag ^ i as u8).collect()).collect()
}

#[test]
fn handshake_and_traffic_on_every_queue() {
    let dir = TempDir::new("basic");
    let mut m = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut s = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    m.add_interface(master_cfg(3).queue_pairs(2)).unwrap();
    let sid = s.add_interface(slave_cfg(3).queue_pairs(2)).unwrap();
    let mut ev = drive(&mut [&mut m, &mut s], Duration::from_secs(5), |e| {
        connected(&e[0]) == 1 && connected(&e[1]) == 1
    });
    assert!(s.is_connected(sid));
    let (_, mut mq) = take_queues(&mut ev[0]).pop().unwrap();
    let (_, mut sq) = take_queues(&mut ev[1]).pop().unwrap();
    assert_eq!((mq.rx.len(), mq.tx.len(), sq.rx.len(), sq.tx.len()), (2, 2, 2, 2));
    for q in 0..2 {
        let f = frames(300, q as u8);
        assert_eq!(exchange(&mut sq.tx[q], &mut mq.rx[q], &f), f, "S2M queue {q}");
        let f = frames(300, 0x80 | q as u8);
        assert_eq!(exchange(&mut mq.tx[q], &mut sq.rx[q], &f), f, "M2S queue {q}");
    }
    // a frame larger than one buffer goes out chained and comes back whole
    let big = vec![(0..5000).map(|i| i as u8).collect::<Vec<u8>>()];
    assert_eq!(exchange(&mut sq.tx[0], &mut mq.rx[0], &big), big);
    assert_eq!(exchange(&mut mq.tx[1], &mut sq.rx[1], &big), big);
}

#[test]
fn sixty_four_interfaces_on_one_socket() {
    let dir = TempDir::new("many");
    let mut m = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut s = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    for id in 0..64 {
        let mut c = master_cfg(id);
        c.log2_ring_size = 6;
        m.add_interface(c).unwrap();
        let mut c = slave_cfg(id);
        c.log2_ring_size = 6;
        s.add_interface(c).unwrap();
    }
    let mut ev = drive(&mut [&mut m, &mut s], Duration::from_secs(20), |e| {
        connected(&e[0]) == 64 && connected(&e[1]) == 64
    });
    let mut mq = take_queues(&mut ev[0]);
    let mut sq = take_queues(&mut ev[1]);
    mq.sort_by_key(|(i, _)| *i);
    sq.sort_by_key(|(i, _)| *i);
    for (i, ((_, mq), (_, sq))) in mq.iter_mut().zip(sq.iter_mut()).enumerate() {
        let f = frames(3, i as u8);
        assert_eq!(exchange(&mut sq.tx[0], &mut mq.rx[0], &f), f);
        assert_eq!(exchange(&mut mq.tx[0], &mut sq.rx[0], &f), f);
    }
}

fn refused_both_sides(mcfg: InterfaceConfig, scfg: InterfaceConfig, reason: &str) {
    let dir = TempDir::new("refuse");
    let mut m = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut s = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    m.add_interface(mcfg).unwrap();
    s.add_interface(scfg).unwrap();
    let ev = drive(&mut [&mut m, &mut s], Duration::from_secs(5), |e| {
        e[1].iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    let slave_reason = ev[1].iter().find_map(|e| match e {
        Event::Disconnected { reason, origin: Origin::Remote, .. } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(slave_reason.as_deref(), Some(reason), "{ev:?}");
    let master_reason = ev[0].iter().find_map(|e| match e {
        Event::Refused { reason, .. } => Some(reason.clone()),
        Event::Disconnected { reason, origin: Origin::Local, .. } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(master_reason.as_deref(), Some(reason), "{ev:?}");
    assert_eq!(connected(&ev[0]) + connected(&ev[1]), 0);
}

#[test]
fn wrong_secret_refused() {
    let mut mc = master_cfg(0);
    mc.secret = Some(Secret::new("sesame").unwrap());
    let mut sc = slave_cfg(0);
    sc.secret = Some(Secret::new("simsim").unwrap());
    refused_both_sides(mc, sc, "Incorrect secret");
}

#[test]
fn matching_secret_connects() {
    let dir = TempDir::new("secret");
    let mut m = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut s = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut mc = master_cfg(0);
    mc.secret = Some(Secret::new("sesame").unwrap());
    let mut sc = slave_cfg(0);
    sc.secret = mc.secret;
    m.add_interface(mc).unwrap();
    s.add_interface(sc).unwrap();
    drive(&mut [&mut m, &mut s], Duration::from_secs(5), |e| connected(&e[0]) == 1 && connected(&e[1]) == 1);
}

#[test]
fn unknown_id_refused() {
    refused_both_sides(master_cfg(1), slave_cfg(2), "unmatched interface id 2");
}

#[test]
fn already_connected_id_refused() {
    let dir = TempDir::new("busy");
    let mut m = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut s1 = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut s2 = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    m.add_interface(master_cfg(5)).unwrap();
    s1.add_interface(slave_cfg(5)).unwrap();
    drive(&mut [&mut m, &mut s1], Duration::from_secs(5), |e| connected(&e[1]) == 1);
    s2.add_interface(slave_cfg(5)).unwrap();
    let ev = drive(&mut [&mut m, &mut s1, &mut s2], Duration::from_secs(5), |e| {
        e[2].iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    assert!(
        ev[2].iter().any(|e| matches!(e, Event::Disconnected { reason, origin: Origin::Remote, .. } if reason == "Already connected")),
        "{ev:?}"
    );
    assert!(ev[0]
        .iter()
        .any(|e| matches!(e, Event::Refused { id: Some(5), reason } if reason == "Already connected")));
    // the first one is untouched
    assert!(!ev[1].iter().any(|e| matches!(e, Event::Disconnected { .. })));
}

#[test]
fn version_out_of_range_refused() {
    use memif_proto::*;
    use std::os::fd::AsFd;
    let dir = TempDir::new("version");
    let mut m = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    m.add_interface(master_cfg(0)).unwrap();
    let raw = memif_conn::socket::connect(&dir.sock()).unwrap();
    let mut ev = Vec::new();
    let recv = |ev: &mut Vec<Event>, m: &mut Socket| loop {
        m.poll(Some(Duration::from_millis(5)), ev).unwrap();
        if let memif_conn::socket::Received::Message(msg, _) = memif_conn::socket::recv(raw.as_fd()).unwrap()
        {
            return msg.unwrap();
        }
    };
    assert!(
        matches!(recv(&mut ev, &mut m), Message::Hello(h) if h.min_version == VERSION && h.max_version == VERSION)
    );
    let init = Init {
        version: 0x0300,
        id: 0,
        mode: Mode::Ethernet,
        secret: Secret::default(),
        name: InstanceName::default(),
    };
    memif_conn::socket::send(raw.as_fd(), &Message::Init(init), None).unwrap();
    let Message::Disconnect(d) = recv(&mut ev, &mut m) else { panic!() };
    assert_eq!(d.reason.to_string_lossy(), "incompatible memif version 3.0 (this master speaks 2.0)");
    m.poll(Some(Duration::from_millis(5)), &mut ev).unwrap();
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::Refused { id: Some(0), reason } if reason.contains("incompatible"))));
}

#[test]
fn interrupt_mode_wakes_poll_and_polling_mode_is_not_signalled() {
    let dir = TempDir::new("irq");
    let mut m = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut s = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut mc = master_cfg(0).queue_pairs(2);
    mc.rx_mode = RxMode::Interrupt;
    m.add_interface(mc).unwrap();
    s.add_interface(slave_cfg(0).queue_pairs(2)).unwrap();
    let ((mid, mut mq), (_, mut sq)) = connect_pair(&mut m, &mut s);
    // queue 1 polls: MASK_INT set, the slave must not signal it
    mq.rx[1].set_rx_mode(RxMode::Polling);
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(sq.tx[1].send(&[&[1u8; 64]]).unwrap(), 1);
        assert_eq!(sq.tx[1].counters().interrupts_sent, 0);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(sq.tx[0].send(&[&[2u8; 64]]).unwrap(), 1);
        assert_eq!(sq.tx[0].counters().interrupts_sent, 1);
        sq
    });
    // blocked in poll until the interrupt for queue 0 arrives (and none for queue 1)
    let start = Instant::now();
    let mut got = Vec::new();
    while !got.iter().any(|e| matches!(e, Event::Interrupt { .. })) {
        m.poll(Some(Duration::from_secs(5)), &mut got).unwrap();
        assert!(start.elapsed() < Duration::from_secs(5), "no interrupt");
    }
    assert!(start.elapsed() >= Duration::from_millis(250), "woke before the peer sent");
    assert!(matches!(got[..], [Event::Interrupt { iface, queue: 0 }] if iface == mid), "{got:?}");
    let _sq = t.join().unwrap();
    assert_eq!(mq.rx[0].rx_burst(8).unwrap().len(), 1);
    assert_eq!(mq.rx[1].rx_burst(8).unwrap().len(), 1);
}

#[test]
fn queue_wait_wakes_on_interrupt() {
    let dir = TempDir::new("wait");
    let mut m = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut s = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut mc = master_cfg(0);
    mc.interrupts_in_poll = false;
    m.add_interface(mc).unwrap();
    s.add_interface(slave_cfg(0)).unwrap();
    let ((_, mut mq), (_, mut sq)) = connect_pair(&mut m, &mut s);
    let rx = mq.rx.pop().unwrap();
    let t = std::thread::spawn(move || {
        let start = Instant::now();
        let woke = rx.wait(Some(Duration::from_secs(5))).unwrap();
        (woke, start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(150));
    sq.tx[0].send(&[&[7u8; 100]]).unwrap();
    let (woke, after) = t.join().unwrap();
    assert!(
        woke && after >= Duration::from_millis(100) && after < Duration::from_secs(4),
        "{woke} {after:?}"
    );
}

#[test]
fn slaves_beyond_the_accept_backlog_retry_soon() {
    // 300 slaves at once overflow the listener's backlog of 128; those refused with
    // EAGAIN must try again soon, not after their (here 60 s) reconnect interval
    let dir = TempDir::new("backlog");
    let mut m = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut s = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    for id in 0..300 {
        let mut c = master_cfg(id);
        c.log2_ring_size = 4;
        m.add_interface(c).unwrap();
        let mut c = slave_cfg(id);
        c.log2_ring_size = 4;
        c.reconnect_interval = Duration::from_secs(60);
        s.add_interface(c).unwrap();
    }
    drive(&mut [&mut s, &mut m], Duration::from_secs(30), |e| {
        connected(&e[0]) == 300 && connected(&e[1]) == 300
    });
}
