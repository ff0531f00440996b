//! Two-thread throughput, bursts of 256 packets, 64 and 1500 bytes, both directions.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};

fn burst_256(c: &mut Criterion) {
    common::bench(c, 256);
}

criterion_group!(benches, burst_256);
criterion_main!(benches);
