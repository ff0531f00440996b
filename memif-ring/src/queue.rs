//! What the four queue roles share: counters, receive bursts, transmit bursts.

use std::sync::atomic::Ordering;

use memif_proto::DESC_FLAG_NEXT;

use crate::memory::BufPtr;
use crate::ring::RawDesc;
use crate::{Interrupt, Ring};

/// How a receive queue learns about new packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxMode {
    /// The transmitter signals the ring's eventfd after each burst (MASK_INT clear).
    Interrupt,
    /// The receiver polls; the transmitter must not signal (MASK_INT set).
    Polling,
}

/// Counters of one queue. Plain integers: a queue is used by one thread at a time.
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct QueueCounters {
    /// Packets received (RX: when a burst is formed) or published (TX).
    pub packets: u64,
    /// Bytes of those packets.
    pub bytes: u64,
    /// Ring errors seen (each also returned as an `Err`).
    pub errors: u64,
    /// Frames not sent: no room in the ring, or too big for it.
    pub drops: u64,
    /// Eventfd signals sent.
    pub interrupts_sent: u64,
}

/// One validated buffer of a received burst.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seg {
    pub(crate) ptr: BufPtr,
    pub(crate) len: u32,
    pub(crate) flags: u16,
}

/// Per-queue storage of a receive burst, allocated once at construction (ring size).
#[derive(Debug)]
pub(crate) struct RxScratch {
    pub(crate) segs: Vec<Seg>,
    /// Start of each packet in `segs`, then `segs.len()`.
    pub(crate) pkts: Vec<u32>,
}

impl RxScratch {
    pub(crate) fn new(size: u16) -> RxScratch {
        RxScratch {
            segs: Vec::with_capacity(usize::from(size)),
            pkts: Vec::with_capacity(usize::from(size) + 1),
        }
    }
}

/// Returns the slots of a burst to the peer.
pub(crate) trait ReleaseRx {
    fn release_rx(&mut self, ndesc: u16);
}

/// A burst of received packets, validated as a whole before it was handed out.
///
/// The buffers stay ours until [`RxBurst::release`]; dropping the burst releases too
/// (MasterRx: advances `tail`; SlaveRx: refills the slots and advances `head`). Holding a
/// burst blocks the queue (it borrows it mutably).
///
/// Packet bytes live in shared memory: a misbehaving peer can change them while we read
/// them (never the bounds: those were checked on a private copy of the descriptors).
/// Treat them as untrusted input.
pub struct RxBurst<'a> {
    pub(crate) segs: &'a [Seg],
    pub(crate) pkts: &'a [u32],
    pub(crate) owner: &'a mut dyn ReleaseRx,
    pub(crate) ndesc: u16,
}

impl std::fmt::Debug for RxBurst<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RxBurst").field("packets", &self.len()).field("descriptors", &self.ndesc).finish()
    }
}

impl<'a> RxBurst<'a> {
    /// Number of packets.
    #[inline]
    pub fn len(&self) -> usize {
        self.pkts.len().saturating_sub(1)
    }

    /// Whether the burst has no packet.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of descriptors (a chained packet has several).
    pub fn descriptors(&self) -> usize {
        usize::from(self.ndesc)
    }

    /// Packet `i`, `None` if `i >= len()`.
    #[inline]
    pub fn get(&self, i: usize) -> Option<Packet<'_>> {
        let start = *self.pkts.get(i)? as usize;
        let end = *self.pkts.get(i + 1)? as usize;
        Some(Packet { segs: self.segs.get(start..end)? })
    }

    /// The packets, in ring order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Packet<'_>> + '_ {
        self.pkts
            .windows(2)
            .map(|w| Packet { segs: self.segs.get(w[0] as usize..w[1] as usize).unwrap_or(&[]) })
    }

    /// Gives the slots back to the peer (same as dropping the burst).
    pub fn release(self) {
        drop(self)
    }
}

impl Drop for RxBurst<'_> {
    fn drop(&mut self) {
        self.owner.release_rx(self.ndesc);
    }
}

/// One received packet: one buffer, or several chained with NEXT.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'b> {
    segs: &'b [Seg],
}

#[inline]
fn seg_bytes<'b>(s: &Seg) -> &'b [u8] {
    // SAFETY: `s` was built by a queue from a descriptor validated on a private copy: the
    // `len` bytes at `ptr` lie inside a region of the queue's `Memory`. A `Seg` is only
    // reachable through an `RxBurst` that mutably borrows the queue (whose ring holds the
    // `Arc<Memory>`), and `'b` is at most a borrow of that burst, so the mapping is
    // alive and the slot not yet released for `'b`.
    unsafe { std::slice::from_raw_parts(s.ptr.0, s.len as usize) }
}

impl<'b> Packet<'b> {
    /// The buffers of the packet in order (one unless chained).
    pub fn segments(&self) -> impl ExactSizeIterator<Item = &'b [u8]> + 'b {
        self.segs.iter().map(seg_bytes)
    }

    /// The first (often only) buffer.
    #[inline]
    pub fn first_segment(&self) -> &'b [u8] {
        self.segs.first().map(seg_bytes).unwrap_or(&[])
    }

    /// Number of buffers.
    pub fn num_segments(&self) -> usize {
        self.segs.len()
    }

    /// Whether the packet is chained over several buffers.
    pub fn is_chained(&self) -> bool {
        self.segs.len() > 1
    }

    /// Total length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.segs.iter().map(|s| s.len as usize).sum()
    }

    /// Whether the packet has no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the packet into `dst`, at most `dst.len()` bytes; returns bytes copied.
    pub fn copy_to(&self, dst: &mut [u8]) -> usize {
        let mut n = 0;
        for seg in self.segments() {
            let room = dst.len() - n;
            let take = seg.len().min(room);
            dst[n..n + take].copy_from_slice(&seg[..take]);
            n += take;
            if take < seg.len() {
                break;
            }
        }
        n
    }

    /// The packet's bytes in a new `Vec`.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        for seg in self.segments() {
            v.extend_from_slice(seg);
        }
        v
    }
}

/// One writable buffer of a transmit burst.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TxSlot {
    pub(crate) ptr: BufPtr,
    pub(crate) cap: u32,
    pub(crate) region: u16,
    pub(crate) offset: u32,
    pub(crate) len: u32,
    pub(crate) flags: u16,
}

/// What both transmit roles share. `own` is our index (head for the slave, tail for the
/// master), `slots` the buffers of the current burst (capacity: ring size).
#[derive(Debug)]
pub(crate) struct TxCore {
    pub(crate) ring: Ring,
    pub(crate) interrupt: Interrupt,
    pub(crate) counters: QueueCounters,
    pub(crate) buffer_size: u32,
    pub(crate) own: u16,
    pub(crate) peer: u16,
    pub(crate) is_slave: bool,
    pub(crate) slots: Vec<TxSlot>,
}

impl TxCore {
    pub(crate) fn new(ring: Ring, interrupt: Interrupt, buffer_size: u32, is_slave: bool) -> TxCore {
        let size = usize::from(ring.size());
        TxCore {
            ring,
            interrupt,
            counters: QueueCounters::default(),
            buffer_size,
            own: 0,
            peer: 0,
            is_slave,
            slots: Vec::with_capacity(size),
        }
    }

    /// Publishes the first `k` slots of the burst: descriptors, one release store of our
    /// index, one signal unless MASK_INT. A trailing incomplete chain is not published.
    pub(crate) fn publish(&mut self, k: usize) -> usize {
        let mut k = k.min(self.slots.len());
        while k > 0 && self.slots[k - 1].flags & DESC_FLAG_NEXT != 0 {
            k -= 1;
        }
        if k == 0 {
            return 0;
        }
        let mut packets = 0u64;
        let mut bytes = 0u64;
        for (i, s) in self.slots[..k].iter().enumerate() {
            let slot = self.own.wrapping_add(i as u16);
            self.ring.write_raw(
                slot,
                &RawDesc { flags: s.flags, region: s.region, length: s.len, offset: s.offset },
            );
            packets += u64::from(s.flags & DESC_FLAG_NEXT == 0);
            bytes += u64::from(s.len);
        }
        self.own = self.own.wrapping_add(k as u16);
        if self.is_slave {
            self.ring.head_atomic().store(self.own, Ordering::Release);
        } else {
            self.ring.tail_atomic().store(self.own, Ordering::Release);
        }
        self.counters.packets += packets;
        self.counters.bytes += bytes;
        self.signal();
        self.slots.clear();
        k
    }

    /// Signals the peer unless it set MASK_INT.
    #[inline]
    pub(crate) fn signal(&mut self) {
        if !self.ring.mask_int() {
            self.interrupt.notify();
            self.counters.interrupts_sent += 1;
        }
    }

    /// Copies `frames` into the burst in `slots` (chaining frames larger than a buffer)
    /// and publishes. Frames that need more descriptors than the ring has, and every
    /// frame from the first that finds no room, are dropped (counted). Returns frames
    /// published.
    pub(crate) fn send_frames(&mut self, frames: &[&[u8]]) -> usize {
        let ring_size = usize::from(self.ring.size());
        let mut used = 0;
        let mut sent = 0;
        let mut fi = 0;
        while fi < frames.len() {
            let frame = frames[fi];
            let start = used;
            let mut off = 0;
            let complete = loop {
                let Some(s) = self.slots.get_mut(used) else { break false };
                let take = (s.cap as usize).min(frame.len() - off);
                // SAFETY: `s.ptr` addresses `s.cap` bytes validated inside a region of
                // `self.ring`'s memory at alloc time; the slot is not published yet, and
                // `take <= s.cap`.
                let dst = unsafe { std::slice::from_raw_parts_mut(s.ptr.0, take) };
                dst.copy_from_slice(&frame[off..off + take]);
                off += take;
                s.len = take as u32;
                used += 1;
                if off == frame.len() {
                    s.flags = 0;
                    break true;
                }
                s.flags = DESC_FLAG_NEXT;
            };
            if !complete {
                used = start;
                let needed = frame.len().div_ceil(self.buffer_size.max(1) as usize).max(1);
                if needed > ring_size {
                    // Can never fit: drop it, and do not let it block the frames after it.
                    self.counters.drops += 1;
                    fi += 1;
                    continue;
                }
                break;
            }
            sent += 1;
            fi += 1;
        }
        self.counters.drops += (frames.len() - fi) as u64;
        self.publish(used);
        sent
    }
}

/// Descriptors `frames` need with buffers of `buffer_size` bytes, at most `cap`.
pub(crate) fn descriptors_needed(frames: &[&[u8]], buffer_size: u32, cap: usize) -> usize {
    let bs = buffer_size.max(1) as usize;
    let mut total = 0usize;
    for f in frames {
        total += f.len().div_ceil(bs).max(1);
        if total >= cap {
            return cap;
        }
    }
    total
}

/// A burst of writable buffers. Fill them ([`TxBurst::buffer_mut`], [`TxBurst::set_len`]),
/// then [`TxBurst::commit`] the first `k`. Dropping it without commit publishes nothing
/// (the buffers are offered again by the next alloc).
#[derive(Debug)]
pub struct TxBurst<'a> {
    pub(crate) core: &'a mut TxCore,
}

impl TxBurst<'_> {
    /// Number of buffers.
    #[inline]
    pub fn len(&self) -> usize {
        self.core.slots.len()
    }

    /// Whether no buffer was available.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.core.slots.is_empty()
    }

    /// Capacity of buffer `i` in bytes (the buffer size; for a master, at most the
    /// length the slave posted).
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn capacity(&self, i: usize) -> usize {
        self.core.slots[i].cap as usize
    }

    /// Buffer `i`, its whole capacity.
    ///
    /// # Panics
    /// If `i >= len()`.
    #[inline]
    pub fn buffer_mut(&mut self, i: usize) -> &mut [u8] {
        let s = self.core.slots[i];
        // SAFETY: the `cap` bytes at `ptr` were checked to lie inside a region of the
        // ring's memory (alive: the queue, borrowed by `self`, holds the `Arc<Memory>`);
        // the slot is not published, and `&mut self` lets only one buffer be borrowed at
        // a time.
        unsafe { std::slice::from_raw_parts_mut(s.ptr.0, s.cap as usize) }
    }

    /// Sets the data length of buffer `i` (clamped to its capacity).
    ///
    /// # Panics
    /// If `i >= len()`.
    #[inline]
    pub fn set_len(&mut self, i: usize, len: usize) {
        let s = &mut self.core.slots[i];
        s.len = len.min(s.cap as usize) as u32;
    }

    /// Marks buffer `i` as continued in buffer `i + 1` (NEXT): a chained packet.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn set_next(&mut self, i: usize, next: bool) {
        let s = &mut self.core.slots[i];
        s.flags = if next { s.flags | DESC_FLAG_NEXT } else { s.flags & !DESC_FLAG_NEXT };
    }

    /// Publishes the first `k` buffers (clamped to `len()`) with one release store of the
    /// index and one eventfd write unless the peer set MASK_INT. If buffer `k - 1` has
    /// NEXT, the incomplete chain at the end is not published. Returns buffers published.
    pub fn commit(self, k: usize) -> usize {
        self.core.publish(k)
    }

    /// Publishes every buffer (see [`TxBurst::commit`]).
    pub fn commit_all(self) -> usize {
        let k = self.core.slots.len();
        self.core.publish(k)
    }
}
