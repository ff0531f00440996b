//! memif-ring (being built).
#![warn(missing_docs)]
