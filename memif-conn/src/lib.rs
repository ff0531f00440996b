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
//!
//! # Example: a master and a slave in one process
//!
//! ```
//! use std::time::Duration;
//! use memif_conn::{Event, InterfaceConfig, Role, Socket, SocketOptions, SocketPath};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("memif-doc-{}", std::process::id()));
//! let path = SocketPath::Path(dir.join("memif.sock"));
//! let mut master = Socket::new(path.clone(), SocketOptions::default())?;
//! let mut slave = Socket::new(path, SocketOptions::default())?;
//! master.add_interface(InterfaceConfig::new(0, Role::Master))?;
//! slave.add_interface(InterfaceConfig::new(0, Role::Slave))?;
//!
//! // drive both until each side reports its link up and hands over its queues
//! let (mut mq, mut sq) = (None, None);
//! let mut events = Vec::new();
//! while mq.is_none() || sq.is_none() {
//!     for (sock, q) in [(&mut master, &mut mq), (&mut slave, &mut sq)] {
//!         sock.poll(Some(Duration::from_millis(10)), &mut events)?;
//!         for e in events.drain(..) {
//!             if let Event::Connected { queues, .. } = e {
//!                 *q = Some(queues);
//!             }
//!         }
//!     }
//! }
//! let (mut mq, mut sq) = (mq.unwrap(), sq.unwrap());
//!
//! // slave transmits: fill buffers in place, then publish them in one store
//! let mut burst = sq.tx[0].alloc(2)?;
//! for i in 0..burst.len() {
//!     burst.buffer_mut(i)[..5].copy_from_slice(b"hello");
//!     burst.set_len(i, 5);
//! }
//! let n = burst.len();
//! burst.commit(n);
//!
//! // master receives: borrowed views into shared memory, validated first
//! let rx = mq.rx[0].rx_burst(32)?;
//! assert_eq!(rx.len(), 2);
//! for packet in rx.iter() {
//!     assert_eq!(packet.to_vec(), b"hello");
//! }
//! rx.release(); // give the slots back
//!
//! // master transmits by copying into buffers the slave posted
//! assert_eq!(mq.tx[0].send(&[b"world"])?, 1);
//! let rx = sq.rx[0].rx_burst(32)?;
//! assert_eq!(rx.get(0).unwrap().to_vec(), b"world");
//! rx.release(); // the slave refills these slots
//! # drop((master, slave));
//! # let _ = std::fs::remove_dir_all(&dir);
//! # Ok(())
//! # }
//! ```
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
