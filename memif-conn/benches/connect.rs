//! Connection set-up, both sides in one process: from the slave's first connect to
//! link up on both sides, for one interface and for 1000 interfaces on one socket.
//! Targets (issue 8): under 1 ms median for one; under 2 s for 1000.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use memif_conn::{Event, InterfaceConfig, Role, Socket, SocketOptions, SocketPath};

fn path(tag: &str) -> (std::path::PathBuf, SocketPath) {
    let dir = std::env::temp_dir().join(format!("memif-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = SocketPath::Path(dir.join("memif.sock"));
    (dir, p)
}

/// Sets up `n` interfaces (log2 ring size 6 to keep 1000 of them small) and returns the
/// time from the first connect attempt to the last link up on both sides.
fn connect_n(n: u32) -> Duration {
    let (dir, p) = path(&format!("n{n}"));
    let mut m = Socket::new(p.clone(), SocketOptions::default()).expect("master socket");
    let mut s = Socket::new(p, SocketOptions::default()).expect("slave socket");
    for id in 0..n {
        let mut c = InterfaceConfig::new(id, Role::Master);
        c.log2_ring_size = 6;
        m.add_interface(c).expect("master interface");
    }
    let start = Instant::now();
    for id in 0..n {
        let mut c = InterfaceConfig::new(id, Role::Slave);
        c.log2_ring_size = 6;
        s.add_interface(c).expect("slave interface");
    }
    let (mut up_m, mut up_s) = (0, 0);
    let mut ev = Vec::new();
    let mut queues = Vec::new();
    while up_m < n || up_s < n {
        s.poll(Some(Duration::ZERO), &mut ev).expect("poll");
        up_s += count(&mut ev, &mut queues);
        m.poll(Some(Duration::ZERO), &mut ev).expect("poll");
        up_m += count(&mut ev, &mut queues);
        assert!(start.elapsed() < Duration::from_secs(60), "did not connect");
    }
    let t = start.elapsed();
    drop((queues, m, s));
    let _ = std::fs::remove_dir_all(dir);
    t
}

fn count(ev: &mut Vec<Event>, keep: &mut Vec<memif_conn::Queues>) -> u32 {
    let mut n = 0;
    for e in ev.drain(..) {
        if let Event::Connected { queues, .. } = e {
            keep.push(queues);
            n += 1;
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("connect");
    g.bench_function("one interface, connect to link up", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| connect_n(1)).sum())
    });
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("1000 interfaces on one socket", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| connect_n(1000)).sum())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
