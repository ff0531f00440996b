//! memif-shm (being built).
#![warn(missing_docs)]
