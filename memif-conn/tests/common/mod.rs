//! Helpers for the socket tests: temporary socket paths and driving sockets until a
//! condition holds.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use memif_conn::*;

pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("memif-conn-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn sock(&self) -> SocketPath {
        SocketPath::Path(self.0.join("memif.sock"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn master_cfg(id: u32) -> InterfaceConfig {
    InterfaceConfig::new(id, Role::Master)
}

pub fn slave_cfg(id: u32) -> InterfaceConfig {
    let mut c = InterfaceConfig::new(id, Role::Slave);
    c.reconnect_interval = Duration::from_millis(100);
    c
}

/// Polls every socket in turn, collecting events, until `done` says so or `timeout`.
pub fn drive(
    socks: &mut [&mut Socket],
    timeout: Duration,
    mut done: impl FnMut(&[Vec<Event>]) -> bool,
) -> Vec<Vec<Event>> {
    let mut all: Vec<Vec<Event>> = socks.iter().map(|_| Vec::new()).collect();
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        for (i, s) in socks.iter_mut().enumerate() {
            s.poll(Some(Duration::from_millis(2)), &mut all[i]).unwrap();
        }
        if done(&all) {
            return all;
        }
    }
    panic!("timed out; events so far: {all:?}");
}

/// Polls a master's and a slave's socket until each has one interface connected;
/// returns the master's and the slave's (interface, queues).
pub fn connect_pair(m: &mut Socket, s: &mut Socket) -> ((InterfaceId, Queues), (InterfaceId, Queues)) {
    let mut ev =
        drive(&mut [m, s], Duration::from_secs(5), |e| connected(&e[0]) == 1 && connected(&e[1]) == 1);
    let mq = take_queues(&mut ev[0]).pop().expect("the master's queues");
    let sq = take_queues(&mut ev[1]).pop().expect("the slave's queues");
    (mq, sq)
}

pub fn connected(evs: &[Event]) -> usize {
    evs.iter().filter(|e| matches!(e, Event::Connected { .. })).count()
}

pub fn take_queues(evs: &mut Vec<Event>) -> Vec<(InterfaceId, Queues)> {
    let mut out = Vec::new();
    let mut rest = Vec::new();
    for e in evs.drain(..) {
        match e {
            Event::Connected { iface, queues, .. } => out.push((iface, queues)),
            e => rest.push(e),
        }
    }
    *evs = rest;
    out
}

/// Open fds of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Mappings of this process.
pub fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps").unwrap().lines().count()
}

/// Sends `frames` on `tx` and receives them on `rx`, polling; returns what arrived.
pub fn exchange(tx: &mut TxQueue, rx: &mut RxQueue, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    while got.len() < frames.len() && Instant::now() < end {
        if sent < refs.len() {
            sent += tx.send(&refs[sent..]).unwrap();
        }
        let burst = rx.rx_burst(64).unwrap();
        for p in burst.iter() {
            let mut v = Vec::new();
            for s in p.segments() {
                v.extend_from_slice(s);
            }
            got.push(v);
        }
        burst.release();
    }
    got
}
