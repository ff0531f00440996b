//! # memif-conn: control channel and connections
//!
//! This crate owns the memif control channel and the connection state machine of both
//! roles: a master listens on a UNIX `SOCK_SEQPACKET` socket and serves many interfaces,
//! told apart by interface id; a slave connects, creates all shared memory, describes it
//! with ADD_REGION / ADD_RING (fds passed with SCM_RIGHTS), and reconnects on a timer
//! when the link is lost.
//!
//! - [`handshake`]: the handshake as pure state machines (no I/O, no clock), so every
//!   hostile case is a unit test.
//! - [`socket`]: the thin I/O layer: paths and abstract names, 128-byte messages, fds.
//! - [`Socket`]: interfaces, connections and an epoll-based [`Socket::poll`] that
//!   dispatches control messages, reconnect timers and queue interrupts as [`Event`]s.
//! - [`RxQueue`] / [`TxQueue`]: `Send` queue handles given out on [`Event::Connected`].
//!
//! It must not lay out shared memory or touch ring internals (memif-shm, memif-ring
//! do); its only `unsafe` is taking ownership of fds the kernel passed to us.
#![warn(missing_docs)]

mod config;
mod endpoint;
mod error;
pub mod handshake;
mod queue;
pub mod socket;

pub use config::InterfaceConfig;
pub use endpoint::{Event, InterfaceId, Socket, SocketOptions};
pub use error::Error;
pub use handshake::{Limits, Origin};
pub use memif_proto::{InstanceName, InterfaceName, Mode, Role, Secret};
pub use memif_ring::{QueueCounters, RingError, RxBurst, RxMode, TxBurst};
pub use queue::{QueueError, Queues, RxQueue, TxQueue};
pub use socket::{SocketFileOptions, SocketPath};
