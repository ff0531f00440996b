//! Two-thread throughput, bursts of 32 packets, 64 and 1500 bytes, both directions.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};

fn burst_32(c: &mut Criterion) {
    common::bench(c, 32);
}

criterion_group!(benches, burst_32);
criterion_main!(benches);
