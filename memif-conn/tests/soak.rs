//! Soak: two interfaces on one master socket in this process, each with a slave in a
//! child process (this test binary run again), traffic flowing both ways on both. The
//! children are killed with SIGKILL and restarted at random moments, and the master
//! socket itself is dropped and recreated at random moments. About 45 s
//! (MEMIF_SOAK_SECS to change it; MEMIF_SOAK_SEED to replay a run's schedule).
//!
//! Accounting, for every queue (two interfaces, M2S and S2M each): every frame carries
//! (generation, sequence), a generation being one connection as seen by its sender.
//! - M2S: the master numbers what it sends; the child checks that each generation
//!   arrives from sequence 0 in order with no gap and no duplicate (else it exits with
//!   an error, which fails the test), and reports on its stdout how many frames of each
//!   generation it has received, before giving their slots back.
//! - S2M: the child numbers what it sends and reports each burst's count on its stdout
//!   before publishing it; the master checks the sequence in the same way.
//!
//! A child is SIGKILLed at any instruction, so "received" is what the receiver saw and
//! recorded (reported, for the child) and "sent" what the sender handed to its queue
//! (reported, for the child). Per generation, received <= sent, and the difference is
//! counted as dropped: frames that died in the rings or in the hands of a process when
//! its connection ended. It can be no more than a ring plus one burst. So for every
//! queue, sent = received + dropped, with every frame received exactly once and in
//! order. Afterwards the process's fds, mappings and memory are back where they
//! started. Alone in its binary: it counts process-wide resources.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use memif_conn::*;

const LOG2: u8 = 8;
const RING: u64 = 1 << LOG2;
const FRAME: usize = 64;
/// Frames the master allocates per TX burst, and the child.
const TX_BURST: usize = 32;
/// Frames taken per RX burst, both sides.
const RX_BURST: usize = 64;

fn put(frame: &mut [u8], generation: u32, seq: u64) {
    frame[..4].copy_from_slice(&generation.to_le_bytes());
    frame[4..12].copy_from_slice(&seq.to_le_bytes());
    frame[12..FRAME].fill(seq as u8);
}

fn get(frame: &[u8]) -> (u32, u64) {
    assert_eq!(frame.len(), FRAME, "frame length");
    let seq = u64::from_le_bytes(frame[4..12].try_into().unwrap());
    assert!(frame[12..].iter().all(|&b| b == seq as u8), "frame payload corrupted");
    (u32::from_le_bytes(frame[..4].try_into().unwrap()), seq)
}

/// A receiver's view of one stream: generations start at sequence 0 and continue
/// without gap, duplicate or reorder; a generation once left never comes back.
#[derive(Default)]
struct Stream {
    current: Option<u32>,
    next: u64,
    seen: std::collections::BTreeSet<u32>,
}

impl Stream {
    /// Checks one frame; returns its generation and the count received in it so far.
    fn accept(&mut self, (generation, seq): (u32, u64), what: &str) -> (u32, u64) {
        if self.current != Some(generation) {
            assert!(self.seen.insert(generation), "{what}: generation {generation} came back");
            assert_eq!(seq, 0, "{what}: generation {generation} starts at sequence {seq}");
            self.current = Some(generation);
            self.next = 0;
        }
        assert_eq!(seq, self.next, "{what}: generation {generation}: gap, duplicate or reorder");
        self.next += 1;
        (generation, self.next)
    }

    /// The connection is gone: the next frame starts a new generation.
    fn end(&mut self) {
        self.current = None;
    }
}

/// Child: the slave of interface MEMIF_SOAK_ID, sending and receiving, until killed.
/// Writes `@R <generation> <received>` and `@S <generation> <sent>` lines on stdout.
#[test]
fn child_entry() {
    let Ok(id) = std::env::var("MEMIF_SOAK_ID") else { return };
    // if the test dies without killing us, so do we
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).unwrap();
    let incarnation: u32 = std::env::var("MEMIF_SOAK_INC").unwrap().parse().unwrap();
    let path = SocketPath::parse(&std::env::var("MEMIF_SOCK").unwrap()).unwrap();
    let mut sock = Socket::new(path, SocketOptions::default()).unwrap();
    let mut c = slave_cfg(id.parse().unwrap());
    c.rx_mode = RxMode::Polling;
    c.log2_ring_size = LOG2;
    c.reconnect_interval = Duration::from_millis(50);
    sock.add_interface(c).unwrap();
    let mut out = std::io::stdout().lock();
    let mut q: Option<Queues> = None;
    let mut ev = Vec::new();
    let mut m2s = Stream::default();
    let (mut connections, mut tx_gen, mut tx_seq) = (0u32, 0u32, 0u64);
    loop {
        sock.poll(Some(if q.is_some() { Duration::ZERO } else { Duration::from_millis(10) }), &mut ev)
            .unwrap();
        for e in ev.drain(..) {
            match e {
                Event::Connected { queues, .. } => {
                    q = Some(queues);
                    connections += 1;
                    tx_gen = (incarnation << 16) | connections;
                    tx_seq = 0;
                }
                Event::Disconnected { .. } => {
                    q = None;
                    m2s.end();
                }
                _ => {}
            }
        }
        let Some(q) = &mut q else { continue };
        if let Ok(mut b) = q.tx[0].alloc(TX_BURST) {
            let n = b.len();
            for k in 0..n {
                put(&mut b.buffer_mut(k)[..FRAME], tx_gen, tx_seq + k as u64);
                b.set_len(k, FRAME);
            }
            if n > 0 {
                // reported before it is published: if we die in between, the master
                // never sees them and they count as dropped, never as received unsent
                writeln!(out, "@S {tx_gen} {}", tx_seq + n as u64).unwrap();
                let sent = b.commit(n);
                tx_seq += sent as u64;
                if sent < n {
                    writeln!(out, "@S {tx_gen} {tx_seq}").unwrap();
                }
            }
        }
        if let Ok(b) = q.rx[0].rx_burst(RX_BURST) {
            let mut last = None;
            for p in b.iter() {
                last = Some(m2s.accept(get(&p.to_vec()), "M2S"));
            }
            if let Some((generation, received)) = last {
                // reported before the slots go back: what we report we have seen
                writeln!(out, "@R {generation} {received}").unwrap();
            }
            b.release();
        }
    }
}

/// A child slave and the unread part of its stdout.
struct Kid {
    child: Child,
    stdout: ChildStdout,
    partial: Vec<u8>,
}

impl Kid {
    fn spawn(id: usize, incarnation: u32, sock: &SocketPath) -> Kid {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_entry", "--test-threads=1", "--nocapture", "-q"])
            .env("MEMIF_SOAK_ID", id.to_string())
            .env("MEMIF_SOAK_INC", incarnation.to_string())
            .env("MEMIF_SOCK", sock.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let fd = stdout.as_raw_fd();
        nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK)).unwrap();
        Kid { child, stdout, partial: Vec::new() }
    }

    /// Reads what the child wrote so far into `books`; fails if it exited by itself.
    fn read(&mut self, books: &mut Books) {
        if let Some(status) = self.child.try_wait().unwrap() {
            self.drain(books);
            panic!("a slave child exited by itself ({status}): see its output above");
        }
        self.drain(books);
    }

    fn drain(&mut self, books: &mut Books) {
        let mut buf = [0u8; 4096];
        loop {
            match self.stdout.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.partial.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("reading a child's stdout: {e}"),
            }
        }
        while let Some(nl) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line);
            let mut w = line.split_whitespace();
            let (Some(kind @ ("@R" | "@S")), Some(g), Some(n)) = (w.next(), w.next(), w.next()) else {
                continue; // the test harness's own lines
            };
            let (g, n): (u32, u64) = (g.parse().unwrap(), n.parse().unwrap());
            let map = if kind == "@R" { &mut books.m2s.received } else { &mut books.s2m.sent };
            // the latest report of a generation holds
            map.insert(g, n);
        }
    }

    /// SIGKILL, reap, and read everything it wrote before it died.
    fn kill(mut self, books: &mut Books) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.drain(books);
    }
}

impl Drop for Kid {
    /// Also when the test fails: no child outlives it.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One queue: per generation, what was sent and what was received.
#[derive(Default, Debug)]
struct Queue {
    sent: BTreeMap<u32, u64>,
    received: BTreeMap<u32, u64>,
}

impl Queue {
    /// (sent, received, dropped, generations); checks every generation.
    fn settle(&self, what: &str, max_lost: u64) -> (u64, u64, u64, usize) {
        let (mut sent, mut received, mut dropped) = (0, 0, 0);
        for (g, &r) in &self.received {
            assert!(self.sent.contains_key(g), "{what}: generation {g} received but never sent");
            assert!(r > 0);
        }
        for (g, &s) in &self.sent {
            let r = self.received.get(g).copied().unwrap_or(0);
            assert!(r <= s, "{what}: generation {g}: received {r} of {s} sent");
            assert!(s - r <= max_lost, "{what}: generation {g} lost {} frames, more than in flight", s - r);
            sent += s;
            received += r;
            dropped += s - r;
        }
        (sent, received, dropped, self.sent.len())
    }
}

/// Both queues of one interface.
#[derive(Default, Debug)]
struct Books {
    m2s: Queue,
    s2m: Queue,
}

/// The master's side of one live connection.
struct Live {
    queues: Queues,
    generation: u32,
    sent: u64,
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
    eprintln!("soak: {secs} s, seed {seed} (MEMIF_SOAK_SEED={seed} replays the schedule)");
    let mut rng = Rng(seed);
    let dir = TempDir::new("soak");
    let path = dir.sock();
    // warm-up (a master, a child, a connection), then the baseline
    {
        let mut books = Books::default();
        let mut m = master(&path);
        let kid = Kid::spawn(0, 0, &path);
        drive(&mut [&mut m], Duration::from_secs(10), |e| connected(&e[0]) == 1);
        kid.kill(&mut books);
    }
    let (fds0, maps0, rss0) = (fd_count(), map_count(), vm_rss_kib());

    let mut m = Some(master(&path));
    let mut books: [Books; 2] = Default::default();
    let mut incarnations = [1u32, 1];
    let mut kids: Vec<Option<Kid>> = (0..2).map(|i| Some(Kid::spawn(i, 1, &path))).collect();
    let mut live: [Option<Live>; 2] = [None, None];
    let mut s2m: [Stream; 2] = Default::default();
    let mut generations = [0u32; 2];
    let mut ev = Vec::new();
    let started = Instant::now();
    let end = started + Duration::from_secs(secs);
    let mut next_kill = started + rng.ms(500, 3000);
    let mut next_master = started + rng.ms(3000, 10000);
    let (mut kills, mut master_restarts) = (0, 0);
    let mut next_read = started;
    while Instant::now() < end {
        let now = Instant::now();
        if now >= next_kill {
            let k = (rng.next() % 2) as usize;
            kids[k].take().unwrap().kill(&mut books[k]);
            incarnations[k] += 1;
            kids[k] = Some(Kid::spawn(k, incarnations[k], &path));
            kills += 1;
            next_kill = now + rng.ms(300, 3000);
        }
        if now >= next_master {
            // the master goes away under traffic: what is in flight is dropped
            for (l, s) in live.iter_mut().zip(s2m.iter_mut()) {
                *l = None;
                s.end();
            }
            drop(m.take()); // the old listener must go before a new one binds the path
            m = Some(master(&path));
            master_restarts += 1;
            next_master = now + rng.ms(3000, 12000);
        }
        if now >= next_read {
            for (k, b) in kids.iter_mut().zip(books.iter_mut()) {
                k.as_mut().unwrap().read(b);
            }
            next_read = now + Duration::from_millis(20);
        }
        m.as_mut().unwrap().poll(Some(Duration::ZERO), &mut ev).unwrap();
        for e in ev.drain(..) {
            match e {
                Event::Connected { iface, queues, .. } => {
                    let i = iface.0;
                    generations[i] += 1;
                    books[i].m2s.sent.insert(generations[i], 0);
                    live[i] = Some(Live { queues, generation: generations[i], sent: 0 });
                    s2m[i].end();
                }
                Event::Disconnected { iface, .. } => {
                    live[iface.0] = None;
                    s2m[iface.0].end();
                }
                _ => {}
            }
        }
        for i in 0..2 {
            let Some(l) = &mut live[i] else { continue };
            let b = &mut books[i];
            if let Ok(mut burst) = l.queues.tx[0].alloc(TX_BURST) {
                let n = burst.len();
                for k in 0..n {
                    put(&mut burst.buffer_mut(k)[..FRAME], l.generation, l.sent + k as u64);
                    burst.set_len(k, FRAME);
                }
                l.sent += burst.commit(n) as u64;
                b.m2s.sent.insert(l.generation, l.sent);
            }
            if let Ok(burst) = l.queues.rx[0].rx_burst(RX_BURST) {
                for p in burst.iter() {
                    let (g, n) = s2m[i].accept(get(&p.to_vec()), &format!("interface {i} S2M"));
                    b.s2m.received.insert(g, n);
                }
                burst.release();
            }
        }
    }
    drop(live);
    for (k, b) in kids.iter_mut().zip(books.iter_mut()) {
        k.take().unwrap().kill(b);
    }
    drop(m);
    eprintln!("soak: {kills} slave kills, {master_restarts} master restarts");
    for (i, b) in books.iter().enumerate() {
        // a generation can lose what its ring holds, plus one burst held by a process
        let (ms, mr, md, mg) = b.m2s.settle(&format!("interface {i} M2S"), RING + RX_BURST as u64);
        let (ss, sr, sd, sg) = b.s2m.settle(&format!("interface {i} S2M"), RING + TX_BURST as u64);
        eprintln!("interface {i} M2S: sent {ms} = received {mr} + dropped {md}, {mg} connections");
        eprintln!("interface {i} S2M: sent {ss} = received {sr} + dropped {sd}, {sg} connections");
        assert_eq!(ms, mr + md);
        assert_eq!(ss, sr + sd);
        for (dir, r, g) in [("M2S", mr, mg), ("S2M", sr, sg)] {
            assert!(r > 1000 * secs, "interface {i} {dir} moved only {r} frames");
            assert!(g >= 2, "interface {i} {dir}: {g} connections, never reconnected");
        }
    }
    assert!(kills >= 3 && master_restarts >= 1, "{kills} kills, {master_restarts} master restarts");
    assert_eq!(fd_count(), fds0, "fds leaked");
    assert_eq!(map_count(), maps0, "mappings leaked");
    let rss = vm_rss_kib();
    assert!(rss <= rss0 + 16 * 1024, "memory grew from {rss0} KiB to {rss} KiB");
}
