//! Master and slave in two processes: traffic, a slave killed with SIGKILL in the middle
//! of traffic, and a master restarted under a slave. The child is this test binary run
//! again with MEMIF_CHILD set, so it runs `child_entry` only.

mod common;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;
use memif_conn::*;

/// The child side: a reflector that sends back everything it receives, as slave (with
/// zero-copy forwarding) or as master (copying), until killed.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var("MEMIF_CHILD") else { return };
    let path = SocketPath::parse(&std::env::var("MEMIF_SOCK").unwrap()).unwrap();
    let mut sock = Socket::new(path, SocketOptions::default()).unwrap();
    let mut cfg = if role == "slave" { slave_cfg(9) } else { master_cfg(9) };
    cfg.rx_mode = RxMode::Polling;
    sock.add_interface(cfg).unwrap();
    let mut queues: Option<Queues> = None;
    let mut ev = Vec::new();
    loop {
        sock.poll(Some(if queues.is_some() { Duration::ZERO } else { Duration::from_millis(10) }), &mut ev)
            .unwrap();
        for e in ev.drain(..) {
            match e {
                Event::Connected { queues: q, .. } => queues = Some(q),
                Event::Disconnected { .. } => queues = None,
                _ => {}
            }
        }
        if let Some(q) = &mut queues {
            let (rx, tx) = (&mut q.rx[0], &mut q.tx[0]);
            if role == "slave" {
                let _ = rx.forward_to(tx, 64);
            } else if let Ok(b) = rx.rx_burst(64) {
                let frames: Vec<Vec<u8>> =
                    b.iter().map(|p| p.segments().flatten().copied().collect()).collect();
                b.release();
                let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
                let mut sent = 0;
                while sent < refs.len() && tx.is_up() {
                    sent += tx.send(&refs[sent..]).unwrap_or(refs.len());
                }
            }
        }
    }
}

struct Kid(Child);

impl Kid {
    fn spawn(role: &str, sock: &SocketPath) -> Kid {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
            .env("MEMIF_CHILD", role)
            .env("MEMIF_SOCK", sock.to_string())
            .spawn()
            .unwrap();
        Kid(child)
    }
    fn kill(&mut self) {
        let _ = self.0.kill(); // SIGKILL
        let _ = self.0.wait();
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_connected(s: &mut Socket, timeout: Duration) -> Queues {
    let mut ev = drive(&mut [s], timeout, |e| connected(&e[0]) == 1);
    take_queues(&mut ev[0]).pop().unwrap().1
}

/// Sends numbered frames and checks they come back in order.
fn echo(q: &mut Queues, n: u32) {
    let mut next_rx = 0u32;
    let mut next_tx = 0u32;
    let end = Instant::now() + Duration::from_secs(20);
    while next_rx < n {
        assert!(Instant::now() < end, "echo stalled at {next_rx}/{n}");
        if next_tx < n && next_tx - next_rx < 200 {
            let f: Vec<u8> =
                next_tx.to_le_bytes().iter().copied().chain(std::iter::repeat_n(0xab, 60)).collect();
            next_tx += q.tx[0].send(&[&f]).unwrap() as u32;
        }
        let b = q.rx[0].rx_burst(64).unwrap();
        for p in b.iter() {
            let data: Vec<u8> = p.segments().flatten().copied().collect();
            assert_eq!(u32::from_le_bytes(data[..4].try_into().unwrap()), next_rx);
            next_rx += 1;
        }
        b.release();
    }
}

#[test]
fn two_processes_traffic_both_ways() {
    let dir = TempDir::new("proc");
    let mut m = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    m.add_interface(master_cfg(9)).unwrap();
    let _kid = Kid::spawn("slave", &dir.sock());
    let mut q = wait_connected(&mut m, Duration::from_secs(10));
    echo(&mut q, 20_000);
}

#[test]
fn slave_killed_mid_traffic_then_restarted() {
    let dir = TempDir::new("kill");
    let mut m = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mid = m.add_interface(master_cfg(9)).unwrap();
    let mut kid = Kid::spawn("slave", &dir.sock());
    let mut q = wait_connected(&mut m, Duration::from_secs(10));
    echo(&mut q, 1000);
    // keep traffic going while the slave dies
    let f = [0u8; 64];
    for _ in 0..100 {
        let _ = q.tx[0].send(&[&f]);
    }
    kid.kill();
    let ev = drive(&mut [&mut m], Duration::from_secs(5), |e| !e[0].is_empty());
    assert!(
        matches!(&ev[0][0], Event::Disconnected { iface, origin: Origin::Remote, .. } if *iface == mid),
        "{ev:?}"
    );
    assert!(matches!(q.tx[0].send(&[&f]), Err(QueueError::Down)));
    drop(q);
    let _kid2 = Kid::spawn("slave", &dir.sock());
    let mut q = wait_connected(&mut m, Duration::from_secs(10));
    echo(&mut q, 1000);
}

#[test]
fn master_restarted_under_slave_reconnects_within_interval() {
    let dir = TempDir::new("mrestart");
    let mut s = Socket::new(dir.sock(), SocketOptions::default()).unwrap();
    let mut sc = slave_cfg(9);
    sc.reconnect_interval = Duration::from_millis(500);
    s.add_interface(sc).unwrap();
    let mut kid = Kid::spawn("master", &dir.sock());
    let mut q = wait_connected(&mut s, Duration::from_secs(10));
    echo(&mut q, 1000);
    kid.kill();
    let ev = drive(&mut [&mut s], Duration::from_secs(5), |e| !e[0].is_empty());
    assert!(matches!(&ev[0][0], Event::Disconnected { origin: Origin::Remote, .. }), "{ev:?}");
    drop(q);
    let _kid2 = Kid::spawn("master", &dir.sock());
    let started = Instant::now();
    let mut q = wait_connected(&mut s, Duration::from_secs(10));
    // one reconnect interval, plus the new master's start-up
    assert!(
        started.elapsed() < Duration::from_millis(500) + Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    echo(&mut q, 1000);
}
