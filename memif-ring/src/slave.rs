//! The slave's queues: [`SlaveTx`] (S2M ring) and [`SlaveRx`] (M2S ring), and
//! zero-copy forwarding between them.
//!
//! The slave owns every buffer. Each queue keeps a private table of which buffer sits in
//! which slot, and never takes a buffer's region or offset from shared memory: a master
//! that rewrites descriptors cannot redirect the slave's reads or writes. Only the
//! length and flags the master writes on M2S are read back, and checked.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use memif_proto::Direction;
use memif_shm::Layout;

use crate::memory::BufPtr;
use crate::queue::{
    descriptors_needed, scan_descs, ReleaseRx, RxScan, RxScratch, ScanPos, TxBuf as Buf, TxCore,
};
use crate::ring::RawDesc;
use crate::{Interrupt, QueueCounters, Ring, RingError, RxBurst, RxMode, TxBurst};

/// The initial buffer of every slot of ring (`dir`, `index`), each checked to lie in the
/// ring's memory. On a mismatch the queue keeps the error and refuses to work.
fn build_table(ring: &Ring, layout: &Layout, dir: Direction, index: u16) -> (Box<[Buf]>, Option<RingError>) {
    let size = ring.size();
    let mut table = Vec::with_capacity(usize::from(size));
    let mut err = None;
    if ring.log2_ring_size() != layout.log2_ring_size {
        err = Some(RingError::LayoutMismatch {
            ring_log2: ring.log2_ring_size(),
            layout_log2: layout.log2_ring_size,
        });
    }
    for slot in 0..size {
        let (region, offset) = layout.buffer_location(dir, index, slot);
        match ring.memory().locate(region, offset, layout.buffer_size) {
            Ok(ptr) => table.push(Buf { region, offset, ptr, cap: layout.buffer_size }),
            Err(e) => {
                if err.is_none() {
                    err = Some(e.at(slot, region, offset, layout.buffer_size));
                }
                table.push(Buf { region, offset, ptr: BufPtr(std::ptr::null_mut()), cap: 0 });
            }
        }
    }
    if let Some(e) = &err {
        tracing::error!(error = %e, ?dir, index, "slave queue layout does not match its memory");
    }
    (table.into_boxed_slice(), err)
}

/// Posts the empty buffers of slots `head .. head + n` from our table (length
/// `buffer_size`, flags 0). A function of its own so that the inputs are locals the
/// descriptor stores cannot alias.
#[inline]
fn post_empty(ring: &Ring, table: &[Buf], head: u16, n: u16, buffer_size: u32) {
    let mask = ring.mask();
    // ring-size entries: checked once here, not per slot
    let table = &table[..=usize::from(mask)];
    for i in 0..n {
        let slot = head.wrapping_add(i);
        let b = table[usize::from(slot & mask)];
        ring.write_raw(slot, &RawDesc { flags: 0, region: b.region, length: buffer_size, offset: b.offset });
    }
}

/// The slave's transmit queue: fills its own buffers and publishes them on the S2M ring.
/// Writes `head`, reads `tail`.
#[derive(Debug)]
pub struct SlaveTx {
    /// `core.bufs` is our private table of which buffer sits in which slot.
    core: TxCore,
    setup: Option<RingError>,
}

impl SlaveTx {
    /// A transmit queue over S2M ring `index` of `layout`, whose slot `j` starts with
    /// buffer `layout.buffer_location(S2M, index, j)`. If the layout does not fit the
    /// ring's memory, every operation returns that error. Starts at index 0.
    pub fn new(ring: Ring, layout: &Layout, index: u16, interrupt: Interrupt) -> SlaveTx {
        let (table, setup) = build_table(&ring, layout, Direction::S2M, index);
        let mut core = TxCore::new(ring, interrupt, layout.buffer_size, true);
        core.bufs = table;
        SlaveTx { core, setup }
    }

    fn check_setup(&mut self) -> Result<(), RingError> {
        match &self.setup {
            None => Ok(()),
            Some(e) => {
                self.core.counters.errors += 1;
                Err(e.clone())
            }
        }
    }

    /// Reloads `tail`: it may only have moved over slots we published.
    fn load_tail(&mut self) -> Result<(), RingError> {
        let c = &mut self.core;
        let tail = c.ring.tail_atomic().load(Ordering::Acquire);
        let distance = tail.wrapping_sub(c.peer);
        let published = c.own.wrapping_sub(c.peer);
        if distance > published {
            c.counters.errors += 1;
            return Err(RingError::IndexBeyondPublished { distance, published });
        }
        c.peer = tail;
        Ok(())
    }

    #[inline]
    fn free(&self) -> u16 {
        self.core.ring.size() - self.core.own.wrapping_sub(self.core.peer)
    }

    fn alloc_inner(&mut self, n: usize) -> Result<usize, RingError> {
        self.check_setup()?;
        if usize::from(self.free()) < n {
            self.load_tail()?;
        }
        let k = n.min(usize::from(self.free()));
        self.core.start_burst(k);
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

    /// Up to `n` free buffers (fewer, maybe none, when the master has not returned
    /// enough). Reads `tail` only when the cached view has fewer than `n` free.
    pub fn alloc(&mut self, n: usize) -> Result<TxBurst<'_>, RingError> {
        self.alloc_inner(n)?;
        Ok(TxBurst::new(&mut self.core))
    }

    /// Copies `frames` into free buffers and publishes them in one burst. A frame larger
    /// than a buffer goes out chained with NEXT. Frames that do not fit (no room, or more
    /// descriptors than the ring has) are dropped and counted in `drops`. Returns frames
    /// sent.
    pub fn send(&mut self, frames: &[&[u8]]) -> Result<usize, RingError> {
        if frames.is_empty() {
            return Ok(0);
        }
        let need = descriptors_needed(frames, self.core.buffer_size, usize::from(self.core.ring.size()));
        self.alloc_inner(need)?;
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

    /// Free slots now (reloads `tail`).
    pub fn free_slots(&mut self) -> Result<usize, RingError> {
        self.check_setup()?;
        self.load_tail()?;
        Ok(usize::from(self.free()))
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

    /// Starts this queue at index `index` instead of 0 and stores it as the ring's head.
    /// For tests near the u16 wrap; the master's queue must start at the same index.
    #[doc(hidden)]
    pub fn start_indices_at(&mut self, index: u16) {
        self.core.own = index;
        self.core.peer = index;
        self.core.ring.set_head(index);
    }
}

#[derive(Debug)]
struct SlaveRxState {
    ring: Ring,
    interrupt: Interrupt,
    counters: QueueCounters,
    buffer_size: u32,
    table: Box<[Buf]>,
    setup: Option<RingError>,
    /// Our index: slots before it are posted to the master.
    head: u16,
    /// Our receive cursor (memif `last_tail`): slots before it are received and released.
    last_tail: u16,
    /// Cached `tail`: the master filled slots up to here.
    tail: u16,
}

impl ReleaseRx for SlaveRxState {
    #[inline]
    fn release_rx(&mut self, ndesc: u16) {
        if ndesc > 0 {
            self.last_tail = self.last_tail.wrapping_add(ndesc);
            self.refill();
        }
    }
}

impl SlaveRxState {
    fn refill(&mut self) -> usize {
        if self.setup.is_some() {
            return 0;
        }
        let n = self.ring.size() - self.head.wrapping_sub(self.last_tail);
        if n == 0 {
            return 0;
        }
        post_empty(&self.ring, &self.table, self.head, n, self.buffer_size);
        self.head = self.head.wrapping_add(n);
        self.ring.head_atomic().store(self.head, Ordering::Release);
        usize::from(n)
    }

    /// Reloads `tail`: the master may only have filled slots we posted, and may not go
    /// back.
    fn load_tail(&mut self) -> Result<u16, RingError> {
        let tail = self.ring.tail_atomic().load(Ordering::Acquire);
        let distance = tail.wrapping_sub(self.last_tail);
        let published = self.head.wrapping_sub(self.last_tail);
        if distance > published {
            return Err(RingError::IndexBeyondPublished { distance, published });
        }
        if distance < self.tail.wrapping_sub(self.last_tail) {
            return Err(RingError::IndexBackwards { from: self.tail, to: tail });
        }
        self.tail = tail;
        Ok(distance)
    }

    /// Checks the lengths and flags of up to `max` packets into `scratch` (see
    /// [`RxScan::scan_burst`]); buffers come from our table. Returns (packets,
    /// descriptors, bytes).
    fn scan(&mut self, scratch: &mut RxScratch, max: usize) -> Result<(usize, u16, u64), RingError> {
        if let Some(e) = &self.setup {
            return Err(e.clone());
        }
        self.scan_burst(scratch, max)
    }
}

impl RxScan for SlaveRxState {
    #[inline]
    fn ring(&self) -> &Ring {
        &self.ring
    }

    #[inline]
    fn cached_avail(&self) -> u16 {
        self.tail.wrapping_sub(self.last_tail)
    }

    #[inline]
    fn reload(&mut self) -> Result<u16, RingError> {
        self.load_tail()
    }

    #[inline]
    fn scan_range(
        &self,
        scratch: &mut RxScratch,
        p: &mut ScanPos,
        avail: u16,
        max: usize,
    ) -> Result<(), RingError> {
        let mask = self.ring.mask();
        // the table has ring-size entries: checked once here, not per slot
        let table = &self.table[..=usize::from(mask)];
        // refilling writes these descriptors back once received: ask for them owned
        let n = usize::from(avail.saturating_sub(p.i)).min(max.saturating_sub(p.npk));
        self.ring.prefetch_for_write(self.last_tail.wrapping_add(p.i), n);
        scan_descs(&self.ring, self.last_tail, avail, max, self.buffer_size, scratch, p, |slot, _| {
            Ok(table[usize::from(slot & mask)].ptr)
        })
    }
}

/// The slave's receive queue: posts its empty buffers on the M2S ring (at `head`) and
/// receives what the master filled (up to `tail`).
#[derive(Debug)]
pub struct SlaveRx {
    st: SlaveRxState,
    scratch: RxScratch,
}

impl SlaveRx {
    /// A receive queue over M2S ring `index` of `layout`, whose slot `j` starts with
    /// buffer `layout.buffer_location(M2S, index, j)`. If the layout does not fit the
    /// ring's memory, every operation returns that error (and `refill` posts nothing).
    /// Starts at index 0 with nothing posted: call [`SlaveRx::refill`] once the link is
    /// up.
    pub fn new(ring: Ring, layout: &Layout, index: u16, interrupt: Interrupt) -> SlaveRx {
        let (table, setup) = build_table(&ring, layout, Direction::M2S, index);
        let scratch = RxScratch::new(ring.size());
        SlaveRx {
            st: SlaveRxState {
                ring,
                interrupt,
                counters: QueueCounters::default(),
                buffer_size: layout.buffer_size,
                table,
                setup,
                head: 0,
                last_tail: 0,
                tail: 0,
            },
            scratch,
        }
    }

    /// Posts every free slot (empty buffers, length = buffer size) and publishes `head`
    /// once. After link up this posts the whole ring, as libmemif does. Returns slots
    /// posted.
    pub fn refill(&mut self) -> usize {
        self.st.refill()
    }

    /// Receives up to `max` packets (chains count as one). Reads `tail` (once) only when
    /// the cached view runs out before `max` packets; checks every length and chain
    /// before handing anything out (the buffers themselves come from our own table).
    /// Releasing the burst refills its slots. On error nothing is handed out, shared
    /// memory is untouched and `errors` is counted.
    pub fn rx_burst(&mut self, max: usize) -> Result<RxBurst<'_>, RingError> {
        let st = &mut self.st;
        let (npk, ndesc, bytes) = match st.scan(&mut self.scratch, max) {
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

    /// Zero-copy forwarding: moves up to `max` received packets onto `tx`'s S2M ring by
    /// swapping buffers (the free buffer of each TX slot becomes this ring's refill), no
    /// copy. Publishes TX `head` once (and signals unless MASK_INT), then refills the
    /// received slots. Packets that find no room on `tx` stay in this ring for the next
    /// call. Both queues must belong to the same connection. Returns packets forwarded.
    pub fn forward_to(&mut self, tx: &mut SlaveTx, max: usize) -> Result<usize, RingError> {
        let st = &mut self.st;
        if !Arc::ptr_eq(st.ring.memory(), tx.core.ring.memory()) || st.buffer_size != tx.core.buffer_size {
            st.counters.errors += 1;
            return Err(RingError::ForeignMemory);
        }
        tx.check_setup()?;
        let (npk, ndesc, _) = match st.scan(&mut self.scratch, max) {
            Ok(v) => v,
            Err(e) => {
                st.counters.errors += 1;
                return Err(e);
            }
        };
        if npk == 0 {
            return Ok(0);
        }
        if usize::from(tx.free()) < usize::from(ndesc) {
            tx.load_tail()?;
        }
        let free = usize::from(tx.free());
        let rx_mask = st.ring.mask();
        let tx_mask = tx.core.ring.mask();
        let (mut used, mut moved, mut bytes) = (0usize, 0usize, 0u64);
        for w in self.scratch.pkts[..=npk].windows(2) {
            let (start, end) = (w[0] as usize, w[1] as usize);
            if end - start > free - used {
                break;
            }
            for j in start..end {
                let seg = self.scratch.segs[j];
                let rslot = usize::from(st.last_tail.wrapping_add(j as u16) & rx_mask);
                let tslot = tx.core.own.wrapping_add(used as u16);
                let t = usize::from(tslot & tx_mask);
                std::mem::swap(&mut st.table[rslot], &mut tx.core.bufs[t]);
                let x = tx.core.bufs[t];
                tx.core.ring.write_raw(
                    tslot,
                    &RawDesc { flags: seg.flags, region: x.region, length: seg.len, offset: x.offset },
                );
                bytes += u64::from(seg.len);
                used += 1;
            }
            moved += 1;
        }
        if used == 0 {
            return Ok(0);
        }
        let c = &mut tx.core;
        c.own = c.own.wrapping_add(used as u16);
        c.ring.head_atomic().store(c.own, Ordering::Release);
        c.counters.packets += moved as u64;
        c.counters.bytes += bytes;
        c.signal();
        st.counters.packets += moved as u64;
        st.counters.bytes += bytes;
        st.release_rx(used as u16);
        Ok(moved)
    }

    /// Descriptors the master has filled and we have not received (reloads `tail`).
    pub fn pending(&mut self) -> Result<usize, RingError> {
        let st = &mut self.st;
        if let Some(e) = &st.setup {
            st.counters.errors += 1;
            return Err(e.clone());
        }
        st.load_tail().map(usize::from).inspect_err(|_| st.counters.errors += 1)
    }

    /// Empty buffers posted to the master and not yet filled (from our cached view).
    pub fn posted(&self) -> usize {
        usize::from(self.st.head.wrapping_sub(self.st.tail))
    }

    /// Polling sets MASK_INT on the ring (the master stops signalling), interrupt mode
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

    /// Starts this queue at index `index` instead of 0 (nothing posted) and stores it as
    /// the ring's head. For tests near the u16 wrap; the master's queue must start at
    /// the same index. Call before `refill`.
    #[doc(hidden)]
    pub fn start_indices_at(&mut self, index: u16) {
        self.st.head = index;
        self.st.last_tail = index;
        self.st.tail = index;
        self.st.ring.set_head(index);
    }
}
