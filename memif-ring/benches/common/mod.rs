//! Two-thread throughput harness shared by the bench files: a producer thread sends
//! `iters` packets of `size` bytes in bursts of `burst` (copying each frame in, as a
//! memif transmitter must), the bench thread receives them (reading each packet's
//! sequence number) with the receiver polling. Criterion reports packets per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use memif_proto::Direction;
use memif_ring::{Interrupt, MasterRx, MasterTx, Memory, Ring, RxMode, SlaveRx, SlaveTx};
use memif_shm::Layout;

/// Which ring the packets cross.
#[derive(Clone, Copy, Debug)]
pub enum Dir {
    /// SlaveTx -> MasterRx.
    S2M,
    /// MasterTx -> SlaveRx.
    M2S,
}

struct Setup {
    layout: Layout,
    mem: Arc<Memory>,
}

impl Setup {
    fn new() -> Setup {
        // libmemif's defaults: 1024 slots, 2048-byte buffers.
        let layout = Layout::default();
        let mem = Arc::new(Memory::new(layout.create_regions("bench").unwrap()));
        let s = Setup { layout, mem };
        s.ring(Direction::S2M).init(&s.layout, Direction::S2M, 0);
        s.ring(Direction::M2S).init(&s.layout, Direction::M2S, 0);
        s
    }
    fn ring(&self, dir: Direction) -> Ring {
        Ring::new(self.mem.clone(), 0, self.layout.ring_offset(dir, 0), self.layout.log2_ring_size).unwrap()
    }
}

/// Writes packet `i` of a burst into a buffer, returns its length.
type Fill<'a> = dyn FnMut(usize, &mut [u8]) -> usize + 'a;

/// Sends `iters` packets: each is `frame` copied into a ring buffer, with its sequence
/// number in the first 8 bytes. `send` is a queue's `send_with`.
fn produce(iters: u64, burst: usize, frame: &[u8], mut send: impl FnMut(usize, &mut Fill<'_>) -> usize) {
    let mut next = 0u64;
    while next < iters {
        let n = (iters - next).min(burst as u64) as usize;
        let base = next;
        let sent = send(n, &mut |i, buf: &mut [u8]| {
            buf[..frame.len()].copy_from_slice(frame);
            buf[..8].copy_from_slice(&(base + i as u64).to_le_bytes());
            frame.len()
        });
        next += sent as u64;
        if sent == 0 {
            std::thread::yield_now();
        }
    }
}

/// Receives `iters` packets through `rx_burst`, checking order; returns when all came.
macro_rules! consume {
    ($rx:expr, $iters:expr, $burst:expr) => {{
        let mut expected = 0u64;
        while expected < $iters {
            let b = $rx.rx_burst($burst).unwrap();
            for p in b.iter() {
                let seq = u64::from_le_bytes(p.first_segment()[..8].try_into().unwrap());
                assert_eq!(seq, expected);
                expected += 1;
            }
            if b.is_empty() {
                std::thread::yield_now();
            }
        }
    }};
}

enum Pair {
    S2M(Option<SlaveTx>, MasterRx),
    M2S(Option<MasterTx>, SlaveRx),
}

/// Time to move `iters` packets across one ring between two threads.
fn run(pair: &mut Pair, iters: u64, burst: usize, size: usize) -> Duration {
    let frame = vec![0xabu8; size];
    let start = Instant::now();
    match pair {
        Pair::S2M(tx, rx) => {
            let mut t = tx.take().unwrap();
            let f = frame.clone();
            let h = std::thread::spawn(move || {
                produce(iters, burst, &f, |n, fill| t.send_with(n, fill).unwrap());
                t
            });
            consume!(rx, iters, burst);
            *tx = Some(h.join().unwrap());
        }
        Pair::M2S(tx, rx) => {
            let mut t = tx.take().unwrap();
            let f = frame.clone();
            let h = std::thread::spawn(move || {
                produce(iters, burst, &f, |n, fill| t.send_with(n, fill).unwrap());
                t
            });
            consume!(rx, iters, burst);
            *tx = Some(h.join().unwrap());
        }
    }
    start.elapsed()
}

/// Benches `dir` at burst `burst` for 64- and 1500-byte packets.
pub fn bench(c: &mut Criterion, burst: usize) {
    for dir in [Dir::S2M, Dir::M2S] {
        let mut g = c.benchmark_group(format!("{dir:?}/burst{burst}"));
        g.throughput(Throughput::Elements(1));
        for size in [64usize, 1500] {
            let s = Setup::new();
            let irq = Interrupt::new().unwrap();
            let mut pair = match dir {
                Dir::S2M => {
                    let tx = SlaveTx::new(s.ring(Direction::S2M), &s.layout, 0, irq.clone());
                    let mut rx = MasterRx::new(s.ring(Direction::S2M), s.layout.buffer_size, irq);
                    rx.set_rx_mode(RxMode::Polling);
                    Pair::S2M(Some(tx), rx)
                }
                Dir::M2S => {
                    let tx = MasterTx::new(s.ring(Direction::M2S), s.layout.buffer_size, irq.clone());
                    let mut rx = SlaveRx::new(s.ring(Direction::M2S), &s.layout, 0, irq);
                    rx.set_rx_mode(RxMode::Polling);
                    rx.refill();
                    Pair::M2S(Some(tx), rx)
                }
            };
            g.bench_function(BenchmarkId::new("bytes", size), |b| {
                b.iter_custom(|iters| run(&mut pair, iters, burst, size))
            });
        }
        g.finish();
    }
}
