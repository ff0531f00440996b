//! # memif-ring: memif descriptor rings in shared memory
//!
//! This crate owns the single-producer single-consumer descriptor rings of memif
//! (protocol reference, section 5): checked views of rings ([`Ring`]), validated
//! descriptors, burst APIs for the four queue roles, and interrupts ([`Interrupt`]). It
//! does no socket I/O and no handshake: `memif-conn` builds the queues once the link is
//! up and hands them to the data path.
//!
//! | role | ring | reads | writes |
//! |---|---|---|---|
//! | [`SlaveTx`] | S2M | `tail` | descriptors, `head` |
//! | [`MasterRx`] | S2M | descriptors, `head` | `tail` |
//! | [`MasterTx`] | M2S | descriptors, `head` | buffers, descriptors, `tail` |
//! | [`SlaveRx`] | M2S | descriptors, `tail` | descriptors, `head` |
//!
//! ## Batching
//! Everything works in bursts, as rtrb's chunks: each side caches the peer's index and
//! reads the shared one only when its cached view runs out; a burst is validated once
//! when it is formed; it is published with one release store of the index and at most
//! one eventfd write; no allocation happens per burst or per packet (each queue
//! preallocates its burst storage to the ring size).
//!
//! ## What is checked (protocol reference, section 6)
//! The peer can write any byte of shared memory at any time. Descriptors are copied out
//! with two 8-byte loads and validated on the copy: region index exists, `offset + length`
//! (in 64 bits) lies in the region, length at most the buffer size, the peer's index at
//! most a ring ahead (or only over slots handed to it), chains end within what was
//! published. A violation is a [`RingError`] (counted in the queue's `errors`), returned
//! before anything is handed out or published; it never panics and never touches memory
//! outside the regions. The slave never takes a buffer's region or offset from shared
//! memory: it keeps its own table of which buffer is in which slot.
//!
//! Packet bytes are shared memory too: a misbehaving peer can change them while they are
//! borrowed as `&[u8]` (never their bounds). Treat them as untrusted input.
//!
//! ## Example: one S2M ring within one process
//! ```
//! use std::sync::Arc;
//! use memif_proto::Direction;
//! use memif_shm::Layout;
//! use memif_ring::{Interrupt, MasterRx, Memory, Ring, SlaveTx};
//!
//! let layout = Layout { log2_ring_size: 4, ..Layout::default() };
//! let mem = Arc::new(Memory::new(layout.create_regions("doc").unwrap()));
//! let ring = |mem: &Arc<Memory>| {
//!     Ring::new(mem.clone(), 0, layout.ring_offset(Direction::S2M, 0), layout.log2_ring_size).unwrap()
//! };
//! ring(&mem).init(&layout, Direction::S2M, 0);
//! let irq = Interrupt::new().unwrap();
//! let mut tx = SlaveTx::new(ring(&mem), &layout, 0, irq.clone());
//! let mut rx = MasterRx::new(ring(&mem), layout.buffer_size, irq.clone());
//!
//! assert_eq!(tx.send(&[b"hello", &[7u8; 3000]]).unwrap(), 2); // the second is chained
//! assert_eq!(irq.clear(), 1); // one signal per burst
//! let burst = rx.rx_burst(32).unwrap();
//! assert_eq!(burst.len(), 2);
//! assert_eq!(burst.get(0).unwrap().to_vec(), b"hello");
//! assert_eq!(burst.get(1).unwrap().num_segments(), 2);
//! burst.release(); // tail += 3
//! ```
//!
//! ## API notes (relative to the contract agreed with memif-conn)
//! No name or signature of the contract changed. Where it left a type open:
//! [`Memory::region_len`] returns `Option<usize>`; [`RxBurst::get`] returns
//! `Option<Packet>`; [`TxBurst::commit`] returns the number of buffers published;
//! [`Interrupt::new`] returns `std::io::Result`; [`Interrupt::notify`] returns whether a
//! signal is pending; [`Ring::size`] is `u16`. Additions: [`RingError`] variants
//! `MisalignedRing`, `BadRingSize`, `IndexBeyondPublished`, `IndexBackwards`, `LayoutMismatch`,
//! `ForeignMemory`; `pending`/`available`/`free_slots`/`posted` on the queues,
//! `TxBurst::{capacity, set_next, commit_all}`, `Packet::{first_segment, to_vec, ...}`.
//! Queues start at index 0: build them after the ring indices were reset at link up.
#![warn(missing_docs)]

mod error;
mod interrupt;
mod master;
mod memory;
mod queue;
mod ring;
mod slave;

pub use error::RingError;
pub use interrupt::Interrupt;
pub use master::{MasterRx, MasterTx};
pub use memory::Memory;
pub use queue::{Packet, QueueCounters, RxBurst, RxMode, TxBurst};
pub use ring::Ring;
pub use slave::{SlaveRx, SlaveTx};
