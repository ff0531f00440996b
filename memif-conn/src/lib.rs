//! memif-conn (being built).
#![warn(missing_docs)]
pub mod handshake;
