//! # memif-proto: the memif 2.0 wire format
//!
//! This crate owns everything that is *bytes on the wire or in shared memory* in memif,
//! the shared-memory packet interface of FD.io VPP, as VPP, libmemif and DPDK's
//! `net_memif` lay it out:
//!
//! - the eight 128-byte control messages ([`Message`]) with a parser that never panics
//!   ([`Message::parse`]) and an encoder that zeroes every unused byte
//!   ([`Message::encode`]);
//! - checked name types ([`InterfaceName`], [`InstanceName`], [`Secret`],
//!   [`DisconnectReason`]) that refuse to be longer than their wire field;
//! - the descriptor ([`Descriptor`]) and ring header ([`RingHeader`]) layouts, their
//!   flags, the ring cookie, the protocol version and the protocol's defaults and limits.
//!
//! It must not do I/O, allocate shared memory, or hold protocol state: the handshake
//! lives in `memif-conn`, the rings in `memif-ring`. It has no `unsafe` code.
//!
//! ```
//! use memif_proto::{Message, Hello, InstanceName};
//! let hello = Message::Hello(Hello {
//!     name: InstanceName::new("vpp").unwrap(),
//!     ..Hello::default()
//! });
//! let bytes = hello.encode();
//! assert_eq!(bytes.len(), 128);
//! assert_eq!(Message::parse(&bytes).unwrap(), hello);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod consts;
mod msg;
mod name;
mod shm;

pub use consts::*;
pub use msg::*;
pub use name::*;
pub use shm::*;
