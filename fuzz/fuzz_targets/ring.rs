//! Fuzz target: see memif-conn/tests/fuzz_bodies/ring.rs.
#![no_main]

#[path = "../../memif-conn/tests/fuzz_bodies/ring.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
