//! Soak: two interfaces on one master socket push traffic through slave reflectors in
//! child processes, which are killed with SIGKILL and restarted at random moments, while
//! the master socket itself is dropped and recreated at random moments. About 45 s
//! (MEMIF_SOAK_SECS to change it; MEMIF_SOAK_SEED to replay a run).
//!
//! Accounting, per interface: every frame carries (generation, sequence); a generation
//! is one connection. Within a generation, what comes back must be exactly the frames
//! sent, in order, with no gap and no duplicate, except for a tail cut off when the
//! connection died; that tail is counted as dropped, and it can be no larger than what
//! the two rings can hold in flight. So for every queue: sent = received + dropped.
//! Afterwards the process's fds, mappings and memory are back where they started.
//! Alone in its binary: it counts process-wide resources.

mod common;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;
use memif_conn::*;

const LOG2: u8 = 8;
const FRAME: usize = 64;

/// Child: a zero-copy reflector slave for interface MEMIF_SOAK_ID, until killed.
#[test]
fn child_entry() {
    let Ok(id) = std::env::var("MEMIF_SOAK_ID") else { return };
    let path = SocketPath::parse(&std::env::var("MEMIF_SOCK").unwrap()).unwrap();
    let mut sock = Socket::new(path, SocketOptions::default()).unwrap();
    let mut c = slave_cfg(id.parse().unwrap());
    c.rx_mode = RxMode::Polling;
    c.log2_ring_size = LOG2;
    c.reconnect_interval = Duration::from_millis(50);
    sock.add_interface(c).unwrap();
    let mut q: Option<Queues> = None;
    let mut ev = Vec::new();
    loop {
        sock.poll(Some(if q.is_some() { Duration::ZERO } else { Duration::from_millis(10) }), &mut ev)
            .unwrap();
        for e in ev.drain(..) {
            match e {
                Event::Connected { queues, .. } => q = Some(queues),
                Event::Disconnected { .. } => q = None,
                _ => {}
            }
        }
        if let Some(q) = &mut q {
            let (rx, tx) = (&mut q.rx[0], &mut q.tx[0]);
            let _ = rx.forward_to(tx, 64);
        }
    }
}

struct Kid(Child);

impl Kid {
    fn spawn(id: u32, sock: &SocketPath) -> Kid {
        Kid(Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_entry", "--test-threads=1", "-q"])
            .env("MEMIF_SOAK_ID", id.to_string())
            .env("MEMIF_SOCK", sock.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap())
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// xorshift64: the test's own seeded randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo))
    }
}

#[derive(Default, Debug)]
struct Books {
    generation: u32,
    sent: u64,
    received: u64,
    dropped: u64,
    /// In the current generation.
    gen_sent: u64,
    gen_received: u64,
    connects: u64,
}

impl Books {
    fn close_generation(&mut self) {
        let tail = self.gen_sent - self.gen_received;
        // what died with the connection: at most both rings' worth
        assert!(
            tail <= 2 << LOG2,
            "generation {} lost {tail} frames, more than the rings hold",
            self.generation
        );
        self.dropped += tail;
        self.gen_sent = 0;
        self.gen_received = 0;
    }
}

fn vm_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let l = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    l.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn master(path: &SocketPath) -> Socket {
    let mut m = Socket::new(path.clone(), SocketOptions::default()).unwrap();
    for id in 0..2 {
        let mut c = master_cfg(id);
        c.rx_mode = RxMode::Polling;
        c.log2_ring_size = LOG2;
        m.add_interface(c).unwrap();
    }
    m
}

#[test]
fn soak_kill_and_restart_peers_under_traffic() {
    if std::env::var("MEMIF_SOAK_ID").is_ok() {
        return;
    }
    let secs: u64 = std::env::var("MEMIF_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(45);
    let seed: u64 = std::env::var("MEMIF_SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("soak: {secs} s, seed {seed} (MEMIF_SOAK_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let dir = TempDir::new("soak");
    let path = dir.sock();
    // warm-up, then the baseline
    let (fds0, maps0, rss0);
    {
        let _m = master(&path);
    }
    fds0 = fd_count();
    maps0 = map_count();
    rss0 = vm_rss_kib();

    let mut m = Some(master(&path));
    let mut kids: Vec<Option<Kid>> = vec![Some(Kid::spawn(0, &path)), Some(Kid::spawn(1, &path))];
    let mut queues: Vec<Option<Queues>> = vec![None, None];
    let mut books: Vec<Books> = vec![Books::default(), Books::default()];
    let mut ev = Vec::new();
    let end = Instant::now() + Duration::from_secs(secs);
    let mut next_kill = Instant::now() + rng.ms(500, 3000);
    let mut next_master = Instant::now() + rng.ms(3000, 10000);
    let (mut kills, mut master_restarts) = (0, 0);
    let mut frame = [0u8; FRAME];
    while Instant::now() < end {
        let now = Instant::now();
        if now >= next_kill {
            let k = (rng.next() % 2) as usize;
            kids[k] = None; // SIGKILL, reaped
            kids[k] = Some(Kid::spawn(k as u32, &path));
            kills += 1;
            next_kill = now + rng.ms(300, 3000);
        }
        if now >= next_master {
            // the master goes away under traffic: everything in flight is dropped
            for (q, b) in queues.iter_mut().zip(books.iter_mut()) {
                if q.take().is_some() {
                    b.close_generation();
                }
            }
            drop(m.take()); // the old listener must go before a new one binds the path
            m = Some(master(&path));
            master_restarts += 1;
            next_master = now + rng.ms(3000, 12000);
        }
        let sock = m.as_mut().unwrap();
        sock.poll(Some(Duration::ZERO), &mut ev).unwrap();
        for e in ev.drain(..) {
            match e {
                Event::Connected { iface, queues: q, .. } => {
                    let i = iface.0;
                    books[i].generation += 1;
                    books[i].connects += 1;
                    queues[i] = Some(q);
                }
                Event::Disconnected { iface, .. } => {
                    let was_up = queues[iface.0].take().is_some();
                    if was_up {
                        books[iface.0].close_generation();
                    }
                }
                _ => {}
            }
        }
        for i in 0..2 {
            let Some(q) = &mut queues[i] else { continue };
            let b = &mut books[i];
            // send a burst of numbered frames
            if let Ok(mut burst) = q.tx[0].alloc(32) {
                let n = burst.len();
                for k in 0..n {
                    frame[..4].copy_from_slice(&b.generation.to_le_bytes());
                    frame[4..12].copy_from_slice(&(b.gen_sent + k as u64).to_le_bytes());
                    burst.buffer_mut(k)[..FRAME].copy_from_slice(&frame);
                    burst.set_len(k, FRAME);
                }
                let sent = burst.commit(n) as u64;
                b.gen_sent += sent;
                b.sent += sent;
            }
            // and check what came back
            if let Ok(burst) = q.rx[0].rx_burst(64) {
                for p in burst.iter() {
                    let d = p.to_vec();
                    let generation = u32::from_le_bytes(d[..4].try_into().unwrap());
                    let seq = u64::from_le_bytes(d[4..12].try_into().unwrap());
                    assert_eq!(d.len(), FRAME);
                    assert_eq!(generation, b.generation, "a frame from another connection");
                    assert_eq!(seq, b.gen_received, "interface {i}: gap, duplicate or reorder");
                    b.gen_received += 1;
                    b.received += 1;
                }
                burst.release();
            }
        }
    }
    for (q, b) in queues.iter_mut().zip(books.iter_mut()) {
        if q.take().is_some() {
            b.close_generation();
        }
    }
    drop(kids);
    drop(m);
    for (i, b) in books.iter().enumerate() {
        eprintln!("interface {i}: {b:?}");
        assert_eq!(b.sent, b.received + b.dropped, "interface {i}");
        assert!(b.received > 10_000, "interface {i} moved only {} frames", b.received);
        assert!(b.connects >= 2, "interface {i} never reconnected");
    }
    eprintln!("soak: {kills} slave kills, {master_restarts} master restarts");
    assert!(kills >= 3 && master_restarts >= 1);
    assert_eq!(fd_count(), fds0, "fds leaked");
    assert_eq!(map_count(), maps0, "mappings leaked");
    let rss = vm_rss_kib();
    assert!(rss <= rss0 + 16 * 1024, "memory grew from {rss0} KiB to {rss} KiB");
}
