//! What the four queue roles share: counters, receive bursts, transmit bursts.

use std::sync::atomic::Ordering;

use memif_proto::DESC_FLAG_NEXT;

use crate::memory::BufPtr;
use crate::ring::RawDesc;
use crate::{Interrupt, Ring, RingError};

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
/// A scan writes `segs[..ndesc]` and `pkts[..=npk]` by index: no push, no capacity check.
#[derive(Debug)]
pub(crate) struct RxScratch {
    pub(crate) segs: Box<[Seg]>,
    /// Start of each packet in `segs`, then the number of descriptors (ring size + 1).
    pub(crate) pkts: Box<[u32]>,
}

impl RxScratch {
    pub(crate) fn new(size: u16) -> RxScratch {
        let empty = Seg { ptr: BufPtr(std::ptr::null_mut()), len: 0, flags: 0 };
        RxScratch {
            segs: vec![empty; usize::from(size)].into_boxed_slice(),
            pkts: vec![0; usize::from(size) + 1].into_boxed_slice(),
        }
    }
}

/// Where a receive scan stands: packets, descriptors looked at, bytes of complete
/// packets, bytes of every descriptor looked at. The descriptors of complete packets
/// are `pkts[npk]` (`pkts[0]` is always 0).
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct ScanPos {
    pub(crate) npk: usize,
    pub(crate) i: u16,
    pub(crate) bytes: u64,
    pub(crate) total: u64,
}

/// Scans descriptors `base + p.i .. base + avail` (read once each into a local, checked
/// on the copy) into `scratch` until `max` packets are complete. `locate` turns a
/// descriptor whose length was checked against `buffer_size` into its buffer (or an
/// error). Both receive roles use it; it is inlined into each, with `locate` specialised.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan_descs(
    ring: &Ring,
    base: u16,
    avail: u16,
    max: usize,
    buffer_size: u32,
    scratch: &mut RxScratch,
    p: &mut ScanPos,
    mut locate: impl FnMut(u16, &RawDesc) -> Result<BufPtr, RingError>,
) -> Result<(), RingError> {
    let mask = ring.mask();
    // `avail` is at most the ring size (the index checks); `min` makes the bound local.
    let end = usize::from(avail).min(scratch.segs.len());
    let segs = &mut scratch.segs[..end];
    let pkts = &mut scratch.pkts[..=end];
    let ScanPos { mut npk, mut i, mut bytes, mut total } = *p;
    while usize::from(i) < end && npk < max {
        let slot = base.wrapping_add(i);
        let d = ring.read_raw(slot);
        if d.length > buffer_size {
            return Err(RingError::LengthAboveBufferSize {
                slot: slot & mask,
                length: d.length,
                buffer_size,
            });
        }
        let ptr = locate(slot, &d)?;
        segs[usize::from(i)] = Seg { ptr, len: d.length, flags: d.flags };
        total += u64::from(d.length);
        i += 1;
        if d.flags & DESC_FLAG_NEXT == 0 {
            npk += 1;
            // packet npk starts after this descriptor
            debug_assert!(npk <= usize::from(i) && usize::from(i) <= end);
            // SAFETY: every counted packet has at least one of the `i` descriptors looked
            // at (`npk` and `i` only grow together here and start from a consistent
            // `ScanPos`), and `i <= end`: so `npk <= end < pkts.len()` (`pkts` is
            // `end + 1` entries, a checked slice).
            unsafe { *pkts.get_unchecked_mut(npk) = u32::from(i) };
            bytes = total;
        }
    }
    *p = ScanPos { npk, i, bytes, total };
    Ok(())
}

/// Ends a scan: an incomplete chain at the end is left for later unless it already
/// spans the ring (an error). Returns (packets, descriptors, bytes).
#[inline]
pub(crate) fn finish_scan(
    ring: &Ring,
    scratch: &mut RxScratch,
    p: &ScanPos,
) -> Result<(usize, u16, u64), RingError> {
    // pkts[0] is never written: 0 from construction
    let complete = scratch.pkts[p.npk] as u16;
    if complete < p.i {
        let length = usize::from(p.i - complete);
        if length >= usize::from(ring.size()) {
            return Err(RingError::ChainTooLong { length, ring_size: ring.size() });
        }
    }
    Ok((p.npk, complete, p.bytes))
}

/// A receive role's view of its ring, for the scan both roles share.
pub(crate) trait RxScan {
    /// The ring.
    fn ring(&self) -> &Ring;
    /// Descriptors waiting by the cached peer index (no load).
    fn cached_avail(&self) -> u16;
    /// Reloads and checks the peer's index; descriptors waiting.
    fn reload(&mut self) -> Result<u16, RingError>;
    /// Scans the waiting descriptors up to `avail` into `scratch` (see [`scan_descs`]).
    fn scan_range(
        &self,
        scratch: &mut RxScratch,
        p: &mut ScanPos,
        avail: u16,
        max: usize,
    ) -> Result<(), RingError>;

    /// Validates the descriptors of up to `max` packets into `scratch`, reading the
    /// peer's index (once) only when the cached view runs out first: an empty ring, the
    /// common case of a polling loop, costs one load. Returns (packets, descriptors,
    /// bytes).
    #[inline]
    fn scan_burst(&mut self, scratch: &mut RxScratch, max: usize) -> Result<(usize, u16, u64), RingError> {
        let mut avail = self.cached_avail();
        let cached = avail > 0;
        if !cached {
            avail = self.reload()?;
            if avail == 0 {
                return Ok((0, 0, 0));
            }
        }
        let mut p = ScanPos::default();
        self.scan_range(scratch, &mut p, avail, max)?;
        if p.npk < max && cached {
            let avail = self.reload()?;
            self.scan_range(scratch, &mut p, avail, max)?;
        }
        finish_scan(self.ring(), scratch, &p)
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
    #[inline]
    pub fn iter<'s>(&'s self) -> impl ExactSizeIterator<Item = Packet<'s>> + 's {
        let segs: &'s [Seg] = self.segs;
        // no chain in the burst (the usual case): packet i is segment i
        let single = segs.len() == self.len();
        self.pkts.windows(2).enumerate().map(move |(i, w)| {
            let range = if single { i..i + 1 } else { w[0] as usize..w[1] as usize };
            Packet { segs: segs.get(range).unwrap_or(&[]) }
        })
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

/// A buffer a ring slot points at: where it is (for descriptors), its address and how
/// many bytes may be written (for data). The slave's are its private table; the
/// master's are copied from a validated descriptor at alloc.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TxBuf {
    pub(crate) ptr: BufPtr,
    pub(crate) cap: u32,
    pub(crate) region: u16,
    pub(crate) offset: u32,
}

impl TxBuf {
    /// A buffer with no address (never handed out: the queue refuses to work).
    pub(crate) const NONE: TxBuf = TxBuf { ptr: BufPtr(std::ptr::null_mut()), cap: 0, region: 0, offset: 0 };
}

/// What both transmit roles share. `own` is our index (head for the slave, tail for the
/// master). Burst buffer `i < n` is `bufs[(own + i) & mask]`, its length `lens[i]` and
/// flags `flags[i]` (all sized to the ring at construction: no allocation per burst).
/// The scalar state is in `head` (reached through `Deref`), apart from the tables, so
/// that a [`TxBurst`] can borrow the tables and the state separately.
#[derive(Debug)]
pub(crate) struct TxCore {
    pub(crate) head: TxHead,
    /// The buffer of each slot, by `slot & mask` (ring size entries).
    pub(crate) bufs: Box<[TxBuf]>,
    pub(crate) lens: Box<[u32]>,
    pub(crate) flags: Box<[u16]>,
}

/// The state of a transmit queue besides its tables.
#[derive(Debug)]
pub(crate) struct TxHead {
    pub(crate) ring: Ring,
    pub(crate) interrupt: Interrupt,
    pub(crate) counters: QueueCounters,
    pub(crate) buffer_size: u32,
    pub(crate) own: u16,
    pub(crate) peer: u16,
    pub(crate) is_slave: bool,
    /// Buffers in the current burst.
    pub(crate) n: usize,
}

impl std::ops::Deref for TxCore {
    type Target = TxHead;
    #[inline]
    fn deref(&self) -> &TxHead {
        &self.head
    }
}

impl std::ops::DerefMut for TxCore {
    #[inline]
    fn deref_mut(&mut self) -> &mut TxHead {
        &mut self.head
    }
}

impl TxCore {
    pub(crate) fn new(ring: Ring, interrupt: Interrupt, buffer_size: u32, is_slave: bool) -> TxCore {
        let size = usize::from(ring.size());
        TxCore {
            head: TxHead {
                ring,
                interrupt,
                counters: QueueCounters::default(),
                buffer_size,
                own: 0,
                peer: 0,
                is_slave,
                n: 0,
            },
            bufs: vec![TxBuf::NONE; size].into_boxed_slice(),
            lens: vec![0; size].into_boxed_slice(),
            flags: vec![0; size].into_boxed_slice(),
        }
    }

    /// Starts a burst of `k` buffers (`k` at most the ring size), lengths and flags 0.
    #[inline]
    pub(crate) fn start_burst(&mut self, k: usize) {
        let k = k.min(self.lens.len());
        self.lens[..k].fill(0);
        self.flags[..k].fill(0);
        self.head.n = k;
    }

    /// Buffer `i` of the burst.
    ///
    /// # Panics
    /// If `i >= n`.
    #[inline]
    pub(crate) fn buf(&self, i: usize) -> TxBuf {
        assert!(i < self.n, "buffer {i} of a burst of {}", self.n);
        self.bufs[usize::from(self.own.wrapping_add(i as u16) & self.ring.mask())]
    }

    /// Writes into the first `bytes` bytes (at most its capacity) of buffer 0 of the
    /// burst, a zero at the start of each 64-byte line and in its last byte, then ends
    /// the burst: the lines come to this core's cache as its own, and a packet written
    /// there later does not wait for the core that last read them (the peer's).
    pub(crate) fn touch_first(&mut self, bytes: usize) {
        if self.n == 0 {
            return;
        }
        let b = self.buf(0);
        let end = bytes.min(b.cap as usize);
        for off in (0..end).step_by(64).chain(end.checked_sub(1)) {
            // SAFETY: `b.ptr` addresses `b.cap` bytes validated inside a region of the
            // ring's memory (slave: at construction; master: at alloc), which the queue
            // keeps mapped; the slot is not published, so the buffer is ours to write;
            // `off < end <= b.cap`.
            unsafe { b.ptr.0.add(off).write_volatile(0) };
        }
        self.head.n = 0;
    }

    /// Publishes the first `k` buffers of the burst (see [`TxHead::publish`]).
    pub(crate) fn publish(&mut self, k: usize) -> usize {
        let n = self.head.n;
        self.head.publish(&self.bufs, &self.lens[..n], &self.flags[..n], k)
    }

    /// Copies `frames` into the current burst (chaining frames larger than a buffer)
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
                if used >= self.n {
                    break false;
                }
                let s = self.buf(used);
                let take = (s.cap as usize).min(frame.len() - off);
                // SAFETY: `s.ptr` addresses `s.cap` bytes validated inside a region of
                // `self.ring`'s memory (slave: at construction; master: at alloc); the
                // slot is not published yet, and `take <= s.cap`.
                let dst = unsafe { std::slice::from_raw_parts_mut(s.ptr.0, take) };
                dst.copy_from_slice(&frame[off..off + take]);
                off += take;
                self.lens[used] = take as u32;
                used += 1;
                if off == frame.len() {
                    self.flags[used - 1] = 0;
                    break true;
                }
                self.flags[used - 1] = DESC_FLAG_NEXT;
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

impl TxHead {
    /// Publishes the first `k` buffers of the burst (`lens`, `flags`: the burst's):
    /// descriptors, one release store of our index, one signal unless MASK_INT. A
    /// trailing incomplete chain is not published.
    pub(crate) fn publish(&mut self, bufs: &[TxBuf], lens: &[u32], flags: &[u16], k: usize) -> usize {
        let mut k = k.min(lens.len()).min(flags.len());
        while k > 0 && flags[k - 1] & DESC_FLAG_NEXT != 0 {
            k -= 1;
        }
        if k == 0 {
            return 0;
        }
        let (packets, bytes) =
            write_descs(&self.ring, bufs, &lens[..k], &flags[..k], self.own, self.is_slave);
        self.own = self.own.wrapping_add(k as u16);
        if self.is_slave {
            self.ring.head_atomic().store(self.own, Ordering::Release);
        } else {
            self.ring.tail_atomic().store(self.own, Ordering::Release);
        }
        self.counters.packets += packets;
        self.counters.bytes += bytes;
        self.signal();
        self.n = 0;
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
}

/// Writes the descriptors of burst buffers `0..lens.len()` from slot `own` on: region
/// and offset from our copy in `bufs`, length clamped to the buffer's capacity. Returns
/// (packets, bytes). A slave writes whole descriptors (the buffers are its own); a
/// master (`whole` false) writes flags, region and length only, as libmemif and DPDK
/// do, and leaves the slave's offset word. A function of its own so that every input is
/// a local the descriptor stores cannot alias.
#[inline]
fn write_descs(
    ring: &Ring,
    bufs: &[TxBuf],
    lens: &[u32],
    flags: &[u16],
    own: u16,
    whole: bool,
) -> (u64, u64) {
    let mask = ring.mask();
    // bufs has ring-size entries: the bound is checked once here, not per slot
    let bufs = &bufs[..=usize::from(mask)];
    let mut packets = 0u64;
    let mut bytes = 0u64;
    for (i, (&len, &fl)) in lens.iter().zip(flags).enumerate() {
        let slot = own.wrapping_add(i as u16);
        let b = bufs[usize::from(slot & mask)];
        let len = len.min(b.cap);
        let d = RawDesc { flags: fl, region: b.region, length: len, offset: b.offset };
        if whole {
            ring.write_raw(slot, &d);
        } else {
            ring.write_lo(slot, &d);
        }
        packets += u64::from(fl & DESC_FLAG_NEXT == 0);
        bytes += u64::from(len);
    }
    (packets, bytes)
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
    head: &'a mut TxHead,
    /// The queue's buffer table (ring size entries), lengths and flags of the burst.
    bufs: &'a [TxBuf],
    lens: &'a mut [u32],
    flags: &'a mut [u16],
    /// `own` and the ring mask when the burst was formed.
    own: u16,
    mask: u16,
}

impl<'a> TxBurst<'a> {
    #[inline]
    pub(crate) fn new(core: &'a mut TxCore) -> TxBurst<'a> {
        let TxCore { head, bufs, lens, flags } = core;
        let (own, mask, n) = (head.own, head.ring.mask(), head.n);
        // ring-size entries: checked here, once per burst (`buf` relies on it)
        let bufs = &bufs[..=usize::from(mask)];
        TxBurst { own, mask, bufs, lens: &mut lens[..n], flags: &mut flags[..n], head }
    }

    /// Buffer `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    #[inline]
    fn buf(&self, i: usize) -> TxBuf {
        assert!(i < self.lens.len(), "buffer {i} of a burst of {}", self.lens.len());
        let idx = usize::from(self.own.wrapping_add(i as u16) & self.mask);
        debug_assert!(idx < self.bufs.len());
        // SAFETY: `new` sliced `bufs` to `mask + 1` entries (a checked slice: it panics
        // rather than be shorter), and `idx <= mask`.
        unsafe { *self.bufs.get_unchecked(idx) }
    }
}

impl TxBurst<'_> {
    /// Number of buffers.
    #[inline]
    pub fn len(&self) -> usize {
        self.lens.len()
    }

    /// Whether no buffer was available.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// Capacity of buffer `i` in bytes (the buffer size; for a master, at most the
    /// length the slave posted).
    ///
    /// # Panics
    /// If `i >= len()`.
    #[inline]
    pub fn capacity(&self, i: usize) -> usize {
        self.buf(i).cap as usize
    }

    /// Buffer `i`, its whole capacity.
    ///
    /// # Panics
    /// If `i >= len()`.
    #[inline]
    pub fn buffer_mut(&mut self, i: usize) -> &mut [u8] {
        let s = self.buf(i);
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
        // clamped to the capacity when published
        self.lens[i] = len.min(u32::MAX as usize) as u32;
    }

    /// Lets `fill(i, buffer)` write each buffer of the burst in turn (`buffer` is buffer
    /// `i`, its whole capacity) and return its data length (clamped to the capacity when
    /// published): [`TxBurst::buffer_mut`] and [`TxBurst::set_len`] for every `i`, in one
    /// pass without an index check per buffer. A length of 0 leaves the buffer empty;
    /// commit only the ones to send.
    #[inline]
    pub fn fill_each(&mut self, mut fill: impl FnMut(usize, &mut [u8]) -> usize) {
        let n = self.lens.len();
        // the burst's slots, from `own` to the ring's end, then from its start
        let start = usize::from(self.own & self.mask);
        let first = n.min(self.bufs.len().saturating_sub(start));
        let (to_end, wrapped) = (&self.bufs[start..start + first], &self.bufs[..n - first]);
        let (lens_to_end, lens_wrapped) = self.lens.split_at_mut(first);
        for (base, bufs, lens) in [(0, to_end, lens_to_end), (first, wrapped, lens_wrapped)] {
            for (j, (b, len)) in bufs.iter().zip(lens).enumerate() {
                // SAFETY: as in `buffer_mut`: `b` is a buffer of this burst (slot
                // `own + base + j`), its `cap` bytes validated inside the ring's memory,
                // not published; the slice lives only for this call of `fill`.
                let buf = unsafe { std::slice::from_raw_parts_mut(b.ptr.0, b.cap as usize) };
                *len = fill(base + j, buf).min(u32::MAX as usize) as u32;
            }
        }
    }

    /// Marks buffer `i` as continued in buffer `i + 1` (NEXT): a chained packet.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn set_next(&mut self, i: usize, next: bool) {
        let f = &mut self.flags[i];
        *f = if next { *f | DESC_FLAG_NEXT } else { *f & !DESC_FLAG_NEXT };
    }

    /// Publishes the first `k` buffers (clamped to `len()`) with one release store of the
    /// index and one eventfd write unless the peer set MASK_INT. If buffer `k - 1` has
    /// NEXT, the incomplete chain at the end is not published. Returns buffers published.
    #[inline]
    pub fn commit(self, k: usize) -> usize {
        self.head.publish(self.bufs, self.lens, self.flags, k)
    }

    /// Publishes every buffer (see [`TxBurst::commit`]).
    #[inline]
    pub fn commit_all(self) -> usize {
        let k = self.lens.len();
        self.head.publish(self.bufs, self.lens, self.flags, k)
    }
}
