//! Both ends in one process: a master and a slave connected over a real socket, with
//! `--pairs N` queue pairs and one thread per queue pair. Each thread drives both ends
//! of its pair: it fills a burst of frames on the slave's TX queue, receives them on the
//! master's RX queue (S2M), then the same from the master's TX queue to the slave's RX
//! queue (M2S); `--dir s2m` or `--dir m2s` drives one of the two only. Polling, no
//! system call on the data path. Prints one JSON line with the
//! packets received per second, summed over the threads.
//!
//! `cargo xtask bench` runs it with 1 and 2 pairs (the scaling line) and reports the
//! 1-pair figure as "both ends on one thread".
//!
//! ```text
//! cargo run --release -p memif-conn --example inprocess -- --pairs 2 --size 64 --burst 256 --secs 2
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use memif_conn::{
    Event, InterfaceConfig, Queues, Role, RxMode, RxQueue, Socket, SocketOptions, SocketPath, TxQueue,
};

struct Args {
    /// Which rings each thread drives: "s2m", "m2s" or "both".
    dir: String,
    pairs: u16,
    size: usize,
    burst: usize,
    secs: f64,
}

fn parse() -> Result<Args, String> {
    let mut a = Args { dir: "both".into(), pairs: 1, size: 64, burst: 256, secs: 2.0 };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{k} {v}: {e}");
        match k.as_str() {
            "--pairs" => a.pairs = v.parse().map_err(|e| bad(&e))?,
            "--size" => a.size = v.parse().map_err(|e| bad(&e))?,
            "--burst" => a.burst = v.parse().map_err(|e| bad(&e))?,
            "--secs" => a.secs = v.parse().map_err(|e| bad(&e))?,
            "--dir" if ["s2m", "m2s", "both"].contains(&v.as_str()) => a.dir = v,
            _ => {
                return Err(format!("bad option {k} (--pairs, --size, --burst, --secs, --dir s2m|m2s|both)"))
            }
        }
    }
    if a.pairs == 0 || !(14..=2048).contains(&a.size) || a.burst == 0 || a.secs.is_nan() || a.secs <= 0.0 {
        return Err("want --pairs >= 1, --size 14..=2048, --burst >= 1, --secs > 0".into());
    }
    Ok(a)
}

/// Polls both sockets until each hands over its queues.
fn connect(master: &mut Socket, slave: &mut Socket) -> Result<(Queues, Queues), String> {
    let (mut mq, mut sq) = (None, None);
    let mut events = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    while mq.is_none() || sq.is_none() {
        if Instant::now() > end {
            return Err("no link in 10 s".into());
        }
        for (sock, q) in [(&mut *master, &mut mq), (&mut *slave, &mut sq)] {
            sock.poll(Some(Duration::from_millis(1)), &mut events).map_err(|e| e.to_string())?;
            for e in events.drain(..) {
                if let Event::Connected { queues, .. } = e {
                    *q = Some(queues);
                }
            }
        }
    }
    Ok((mq.expect("connected"), sq.expect("connected")))
}

/// Sends one burst of `size`-byte frames on `tx` and receives on `rx` what arrived;
/// returns the packets received.
fn hop(tx: &mut TxQueue, rx: &mut RxQueue, frame: &[u8], burst: usize) -> Result<u64, String> {
    let mut b = tx.alloc(burst).map_err(|e| e.to_string())?;
    for i in 0..b.len() {
        b.buffer_mut(i)[..frame.len()].copy_from_slice(frame);
        b.set_len(i, frame.len());
    }
    b.commit_all();
    let r = rx.rx_burst(burst).map_err(|e| e.to_string())?;
    let n = r.len() as u64;
    // read a byte of every packet, as a receiver would
    let touched = r.iter().fold(0u8, |acc, p| acc ^ p.first_segment().first().copied().unwrap_or(0));
    std::hint::black_box(touched);
    r.release();
    Ok(n)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = parse()?;
    let dir = std::env::temp_dir().join(format!("memif-inprocess-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = SocketPath::Path(dir.join("memif.sock"));
    let mut master = Socket::new(path.clone(), SocketOptions::default())?;
    let mut slave = Socket::new(path, SocketOptions::default())?;
    for (sock, role) in [(&mut master, Role::Master), (&mut slave, Role::Slave)] {
        let mut c = InterfaceConfig::new(0, role).queue_pairs(a.pairs);
        c.rx_mode = RxMode::Polling;
        sock.add_interface(c)?;
    }
    let (mq, sq) = connect(&mut master, &mut slave)?;
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(usize::from(a.pairs) + 1));
    let mut threads = Vec::new();
    let pairs = mq.rx.into_iter().zip(mq.tx).zip(sq.rx.into_iter().zip(sq.tx));
    for ((mut m_rx, mut m_tx), (mut s_rx, mut s_tx)) in pairs {
        let (stop, start) = (stop.clone(), start.clone());
        let (size, burst) = (a.size, a.burst);
        let (s2m, m2s) = (a.dir != "m2s", a.dir != "s2m");
        threads.push(std::thread::spawn(move || -> Result<(u64, Duration), String> {
            let frame: Vec<u8> = (0..size).map(|i| i as u8).collect();
            start.wait();
            let t0 = Instant::now();
            let mut got = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if s2m {
                    got += hop(&mut s_tx, &mut m_rx, &frame, burst)?;
                }
                if m2s {
                    got += hop(&mut m_tx, &mut s_rx, &frame, burst)?;
                }
            }
            Ok((got, t0.elapsed()))
        }));
    }
    start.wait();
    // keep the control channel serviced meanwhile (the peer is ourselves: nothing comes)
    let end = Instant::now() + Duration::from_secs_f64(a.secs);
    let mut events = Vec::new();
    while Instant::now() < end {
        master.poll(Some(Duration::from_millis(20)), &mut events)?;
        slave.poll(Some(Duration::from_millis(20)), &mut events)?;
        if events.iter().any(|e| matches!(e, Event::Disconnected { .. })) {
            return Err(format!("link went down: {events:?}").into());
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut mpps = 0.0;
    let mut packets = 0;
    for t in threads {
        let (got, took) = t.join().map_err(|_| "a queue thread panicked")??;
        packets += got;
        mpps += got as f64 / took.as_secs_f64() / 1e6;
    }
    drop((master, slave));
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{{\"command\":\"inprocess\",\"dir\":\"{}\",\"pairs\":{},\"size\":{},\"burst\":{},\"packets\":{packets},\"mpps\":{mpps:.3}}}",
        a.dir, a.pairs, a.size, a.burst
    );
    Ok(())
}
