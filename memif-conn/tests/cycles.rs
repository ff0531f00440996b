//! 1000 connect/disconnect cycles leave fds and mappings where they started. Alone in
//! its own test binary, because it counts the whole process's fds and mappings.

mod common;

use std::time::{Duration, Instant};

use common::*;
use memif_conn::*;

fn frames(n: usize, tag: u8) -> Vec<Vec<u8>> {
    (0..n).map(|i| (0..60 + i % 100).map(|b| (b as u8) ^ tag ^ i as u8).collect()).collect()
}

#[test]
fn reconnect_after_master_restart_and_cycles_do_not_leak() {
    let dir = TempDir::new("cycles");
    let mut s = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut sc = slave_cfg(0);
    sc.reconnect_interval = Duration::from_millis(1);
    let sid = s.add_interface(sc).unwrap();
    let run = |s: &mut Socket| {
        let mut m = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
        m.add_interface(master_cfg(0)).unwrap();
        let mut ev = drive(&mut [&mut m, s], Duration::from_secs(5), |e| {
            connected(&e[0]) == 1 && connected(&e[1]) == 1
        });
        let (_, mut mq) = take_queues(&mut ev[0]).pop().unwrap();
        let (_, mut sq) = take_queues(&mut ev[1]).pop().unwrap();
        let f = frames(4, 1);
        assert_eq!(exchange(&mut sq.tx[0], &mut mq.rx[0], &f), f);
        drop((mq, sq));
        drop(m); // master goes away: the slave sees the hang-up and retries
        let ev = drive(&mut [s], Duration::from_secs(5), |e| !e[0].is_empty());
        assert!(matches!(ev[0][0], Event::Disconnected { origin: Origin::Remote, .. }), "{ev:?}");
        assert!(!s.is_connected(sid));
    };
    run(&mut s); // warm up (lazy allocations, thread-locals)
    let (fds, maps) = (fd_count(), map_count());
    let start = Instant::now();
    for _ in 0..1000 {
        run(&mut s);
    }
    assert_eq!(fd_count(), fds, "fds leaked");
    assert_eq!(map_count(), maps, "mappings leaked");
    eprintln!("1000 cycles in {:?}", start.elapsed());
}
