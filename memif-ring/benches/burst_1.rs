//! Two-thread throughput, bursts of 1 packets, 64 and 1500 bytes, both directions.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};

fn burst_1(c: &mut Criterion) {
    common::bench(c, 1);
}

criterion_group!(benches, burst_1);
criterion_main!(benches);
