//! The `memif` command (being built).
fn main() {
    eprintln!("memif: not built yet");
    std::process::exit(2);
}
