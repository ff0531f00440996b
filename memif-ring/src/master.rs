//! The master's queues: [`MasterRx`] (S2M ring) and [`MasterTx`] (M2S ring).
//!
//! The master maps what the slave gave it and trusts nothing in it: every descriptor is
//! checked against the regions of the connection before a byte is read or written.

use std::sync::atomic::Ordering;

use crate::queue::{descriptors_needed, scan_descs, ReleaseRx, RxScan, RxScratch, ScanPos, TxBuf, TxCore};
use crate::{Interrupt, QueueCounters, Ring, RingError, RxBurst, RxMode, TxBurst};

#[derive(Debug)]
struct MasterRxState {
    ring: Ring,
    interrupt: Interrupt,
    counters: QueueCounters,
    buffer_size: u32,
    /// Our index: every slot before it is released.
    tail: u16,
    /// Cached `head` (memif `last_head` view): the slave published up to here.
    head: u16,
}

impl ReleaseRx for MasterRxState {
    #[inline]
    fn release_rx(&mut self, ndesc: u16) {
        if ndesc > 0 {
            self.tail = self.tail.wrapping_add(ndesc);
            self.ring.tail_atomic().store(self.tail, Ordering::Release);
        }
    }
}

impl MasterRxState {
    /// Reloads `head`; checks it is at most a ring ahead of `tail` and did not go back.
    fn load_head(&mut self) -> Result<u16, RingError> {
        let head = self.ring.head_atomic().load(Ordering::Acquire);
        let distance = head.wrapping_sub(self.tail);
        if distance > self.ring.size() {
            return Err(RingError::IndexJump { distance, ring_size: self.ring.size() });
        }
        if distance < self.head.wrapping_sub(self.tail) {
            return Err(RingError::IndexBackwards { from: self.head, to: head });
        }
        self.head = head;
        Ok(distance)
    }
}

impl RxScan for MasterRxState {
    #[inline]
    fn ring(&self) -> &Ring {
        &self.ring
    }

    #[inline]
    fn cached_avail(&self) -> u16 {
        self.head.wrapping_sub(self.tail)
    }

    #[inline]
    fn reload(&mut self) -> Result<u16, RingError> {
        self.load_head()
    }

    #[inline]
    fn scan_range(
        &self,
        scratch: &mut RxScratch,
        p: &mut ScanPos,
        avail: u16,
        max: usize,
    ) -> Result<(), RingError> {
        let spans = self.ring.memory().spans();
        let mask = self.ring.mask();
        scan_descs(&self.ring, self.tail, avail, max, self.buffer_size, scratch, p, |slot, d| {
            spans
                .locate(d.region, d.offset, d.length)
                .map_err(|e| e.at(slot & mask, d.region, d.offset, d.length))
        })
    }
}

/// The master's receive queue: reads the S2M ring the slave fills. Reads `head`,
/// writes `tail`.
#[derive(Debug)]
pub struct MasterRx {
    st: MasterRxState,
    scratch: RxScratch,
}

impl MasterRx {
    /// A receive queue over an S2M ring. `buffer_size` is the largest descriptor length
    /// accepted: the protocol does not tell the master the slave's buffer size, so pass
    /// the size agreed by configuration (or `u32::MAX` to check region bounds only).
    /// Starts at index 0: create it once both sides reset the ring's indices.
    pub fn new(ring: Ring, buffer_size: u32, interrupt: Interrupt) -> MasterRx {
        let scratch = RxScratch::new(ring.size());
        MasterRx {
            st: MasterRxState {
                ring,
                interrupt,
                counters: QueueCounters::default(),
                buffer_size,
                tail: 0,
                head: 0,
            },
            scratch,
        }
    }

    /// Receives up to `max` packets (chains count as one). Reads `head` (once) only when
    /// the cached view runs out before `max` packets; validates every descriptor of the
    /// burst (region, bounds in 64 bits, length, chain) before handing anything out. An
    /// incomplete chain at the end is left for later. On error nothing is handed out,
    /// shared memory is untouched and `errors` is counted.
    pub fn rx_burst(&mut self, max: usize) -> Result<RxBurst<'_>, RingError> {
        let st = &mut self.st;
        let (npk, ndesc, bytes) = match st.scan_burst(&mut self.scratch, max) {
            Ok(v) => v,
            Err(e) => {
                st.counters.errors += 1;
                return Err(e);
            }
        };
        st.counters.packets += npk as u64;
        st.counters.bytes += bytes;
        let (segs, pkts) = (&self.scratch.segs[..usize::from(ndesc)], &self.scratch.pkts[..=npk]);
        Ok(RxBurst { segs, pkts, owner: st, ndesc })
    }

    /// Descriptors the slave has published and we have not received (reloads `head`).
    pub fn pending(&mut self) -> Result<usize, RingError> {
        self.st.load_head().map(usize::from).inspect_err(|_| self.st.counters.errors += 1)
    }

    /// Polling sets MASK_INT on the ring (the slave stops signalling), interrupt mode
    /// clears it. After switching to interrupt mode, poll once more before waiting.
    pub fn set_rx_mode(&mut self, mode: RxMode) {
        self.st.ring.set_mask_int(mode == RxMode::Polling);
    }

    /// The counters.
    pub fn counters(&self) -> &QueueCounters {
        &self.st.counters
    }

    /// The ring's interrupt.
    pub fn interrupt(&self) -> &Interrupt {
        &self.st.interrupt
    }

    /// The ring.
    pub fn ring(&self) -> &Ring {
        &self.st.ring
    }

    /// Starts this queue at index `index` instead of 0 and stores it as the ring's tail.
    /// For tests near the u16 wrap; the slave's queue must start at the same index.
    #[doc(hidden)]
    pub fn start_indices_at(&mut self, index: u16) {
        self.st.tail = index;
        self.st.head = index;
        self.st.ring.set_tail(index);
    }
}

/// Validates the `k` descriptors the slave posted from slot `own` on (each read once
/// into a local, checked, used only as that copy) into `bufs[slot & mask]`, capacity
/// `min(length, buffer_size)`. A function of its own so that the inputs are locals the
/// stores into `bufs` cannot alias.
#[inline]
fn take_posted(
    ring: &Ring,
    bufs: &mut [TxBuf],
    own: u16,
    k: usize,
    buffer_size: u32,
) -> Result<(), RingError> {
    let spans = ring.memory().spans();
    let mask = ring.mask();
    // ring-size entries: checked once here, not per slot
    let bufs = &mut bufs[..=usize::from(mask)];
    // we write these descriptors back (length, flags) once filled: ask for them owned
    ring.prefetch_for_write(own, k);
    for i in 0..k {
        let slot = own.wrapping_add(i as u16);
        let d = ring.read_raw(slot);
        let cap = d.length.min(buffer_size);
        match spans.locate(d.region, d.offset, cap) {
            Ok(ptr) => {
                bufs[usize::from(slot & mask)] = TxBuf { ptr, cap, region: d.region, offset: d.offset }
            }
            Err(e) => return Err(e.at(slot & mask, d.region, d.offset, cap)),
        }
    }
    Ok(())
}

/// The master's transmit queue: copies packets into the buffers the slave posted on the
/// M2S ring. Reads `head`, writes `tail`. A hostile slave cannot make it write outside
/// the slave's regions: each posted descriptor is validated before its buffer is
/// handed out, with capacity `min(descriptor length, buffer_size)`.
#[derive(Debug)]
pub struct MasterTx {
    core: TxCore,
}

impl MasterTx {
    /// A transmit queue over an M2S ring; `buffer_size` caps how much is written into
    /// one posted buffer. Starts at index 0.
    pub fn new(ring: Ring, buffer_size: u32, interrupt: Interrupt) -> MasterTx {
        MasterTx { core: TxCore::new(ring, interrupt, buffer_size, false) }
    }

    fn load_head(&mut self) -> Result<u16, RingError> {
        let c = &mut self.core;
        let head = c.ring.head_atomic().load(Ordering::Acquire);
        let distance = head.wrapping_sub(c.own);
        if distance > c.ring.size() {
            c.counters.errors += 1;
            return Err(RingError::IndexJump { distance, ring_size: c.ring.size() });
        }
        if distance < c.peer.wrapping_sub(c.own) {
            c.counters.errors += 1;
            return Err(RingError::IndexBackwards { from: c.peer, to: head });
        }
        c.peer = head;
        Ok(distance)
    }

    fn alloc_inner(&mut self, n: usize) -> Result<usize, RingError> {
        let mut avail = self.core.peer.wrapping_sub(self.core.own);
        if usize::from(avail) < n {
            avail = self.load_head()?;
        }
        let k = n.min(usize::from(avail));
        let c = &mut self.core;
        c.n = 0;
        if let Err(e) = take_posted(&c.head.ring, &mut c.bufs, c.head.own, k, c.head.buffer_size) {
            c.counters.errors += 1;
            return Err(e);
        }
        c.start_burst(k);
        Ok(k)
    }

    /// Readies the next free buffer for writing without sending anything: brings the
    /// first `bytes` bytes of it into this core's cache, owned. For a loop that answers
    /// one packet at a time (a responder, a ping): call it while idle, and the answer's
    /// writes do not wait for the peer's core, which read that buffer last. Returns
    /// whether there was a free buffer.
    pub fn warm(&mut self, bytes: usize) -> Result<bool, RingError> {
        if self.alloc_inner(1)? == 0 {
            return Ok(false);
        }
        self.core.touch_first(bytes);
        Ok(true)
    }

    /// Up to `n` of the buffers the slave posted, validated. Fewer (maybe none) when the
    /// slave posted fewer.
    pub fn alloc(&mut self, n: usize) -> Result<TxBurst<'_>, RingError> {
        self.alloc_inner(n)?;
        Ok(TxBurst::new(&mut self.core))
    }

    /// Copies `frames` into posted buffers and publishes them in one burst. A frame
    /// larger than a buffer goes out chained with NEXT. Frames that do not fit (no room,
    /// or more descriptors than the ring has) are dropped and counted in `drops`.
    /// Returns frames sent.
    pub fn send(&mut self, frames: &[&[u8]]) -> Result<usize, RingError> {
        if frames.is_empty() {
            return Ok(0);
        }
        let ring_size = usize::from(self.core.ring.size());
        let bs = self.core.buffer_size;
        self.alloc_inner(descriptors_needed(frames, bs, ring_size))?;
        // The slave chose the buffer sizes: it may have posted smaller buffers than
        // ours (DPDK's bsize=1024, say); then the frames need more descriptors.
        let c = &self.core;
        if let Some(small) = (0..c.n).map(|i| c.buf(i).cap).filter(|&c| c > 0 && c < bs).min() {
            self.alloc_inner(descriptors_needed(frames, small, ring_size))?;
        }
        Ok(self.core.send_frames(frames))
    }

    /// Allocates up to `n` buffers, lets `fill(i, buffer)` write packet `i` and return
    /// its length (clamped to the buffer), and publishes them all. Returns packets sent.
    pub fn send_with(
        &mut self,
        n: usize,
        fill: impl FnMut(usize, &mut [u8]) -> usize,
    ) -> Result<usize, RingError> {
        let mut burst = self.alloc(n)?;
        burst.fill_each(fill);
        Ok(burst.commit_all())
    }

    /// Buffers the slave has posted that we have not filled (reloads `head`).
    pub fn available(&mut self) -> Result<usize, RingError> {
        self.load_head().map(usize::from)
    }

    /// The counters.
    pub fn counters(&self) -> &QueueCounters {
        &self.core.counters
    }

    /// The ring's interrupt.
    pub fn interrupt(&self) -> &Interrupt {
        &self.core.interrupt
    }

    /// The ring.
    pub fn ring(&self) -> &Ring {
        &self.core.ring
    }

    /// Starts this queue at index `index` instead of 0 and stores it as the ring's tail.
    /// For tests near the u16 wrap; the slave's queue must start at the same index.
    #[doc(hidden)]
    pub fn start_indices_at(&mut self, index: u16) {
        self.core.own = index;
        self.core.peer = index;
        self.core.ring.set_tail(index);
    }
}
