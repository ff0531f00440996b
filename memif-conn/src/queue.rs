//! Queue handles given to the user when an interface connects. Each is `Send`, so each
//! queue can live on its own thread; one queue is used by one thread at a time.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use memif_ring::{
    Interrupt, MasterRx, MasterTx, QueueCounters, RingError, RxBurst, RxMode, SlaveRx, SlaveTx, TxBurst,
};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The interface is disconnected: drop this queue; new ones come with the next
    /// [`crate::Event::Connected`].
    #[error("link is down")]
    Down,
    /// The peer wrote something invalid into the ring; the connection is being torn
    /// down with this reason.
    #[error(transparent)]
    Ring(#[from] RingError),
    /// The operation needs the slave role (zero-copy forwarding).
    #[error("{0}")]
    Unsupported(&'static str),
}

/// Link state shared between the control side and the queues of one connection.
#[derive(Debug)]
pub(crate) struct Link {
    up: AtomicBool,
    fault: Mutex<Option<String>>,
    /// Signalled when a queue reports a fault, so the control side tears down.
    pub(crate) wake: Interrupt,
}

impl Link {
    pub(crate) fn new() -> Result<Arc<Link>, crate::Error> {
        let wake = Interrupt::new().map_err(|e| crate::Error::Io("create an eventfd".into(), e))?;
        Ok(Arc::new(Link { up: AtomicBool::new(true), fault: Mutex::new(None), wake }))
    }
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }
    pub(crate) fn set_down(&self) {
        self.up.store(false, Ordering::Release);
    }
    fn report(&self, what: String) {
        if let Ok(mut f) = self.fault.lock() {
            if f.is_none() {
                *f = Some(what);
            }
        }
        self.wake.notify();
    }
    /// Passes `r` on; a ring error is first reported as the fault of `queue` (which
    /// tears the connection down), e.g. `TX queue 0: <error>`.
    fn checked<T>(&self, queue: std::fmt::Arguments<'_>, r: Result<T, RingError>) -> Result<T, QueueError> {
        r.map_err(|e| {
            self.report(format!("{queue}: {e}"));
            e.into()
        })
    }
    pub(crate) fn take_fault(&self) -> Option<String> {
        self.fault.lock().ok().and_then(|mut f| f.take())
    }
}

#[derive(Debug)]
enum RxInner {
    Master(MasterRx),
    Slave(SlaveRx),
}

#[derive(Debug)]
enum TxInner {
    Master(MasterTx),
    Slave(SlaveTx),
}

/// A receive queue: master RX on an S2M ring, or slave RX on an M2S ring.
#[derive(Debug)]
pub struct RxQueue {
    inner: RxInner,
    link: Arc<Link>,
    index: u16,
}

/// A transmit queue: slave TX on an S2M ring, or master TX on an M2S ring.
#[derive(Debug)]
pub struct TxQueue {
    inner: TxInner,
    link: Arc<Link>,
    index: u16,
}

impl RxQueue {
    pub(crate) fn master(q: MasterRx, link: Arc<Link>, index: u16) -> Self {
        RxQueue { inner: RxInner::Master(q), link, index }
    }
    pub(crate) fn slave(q: SlaveRx, link: Arc<Link>, index: u16) -> Self {
        RxQueue { inner: RxInner::Slave(q), link, index }
    }

    /// Queue index.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Whether the link this queue belongs to is still up.
    pub fn is_up(&self) -> bool {
        self.link.is_up()
    }

    /// Receives up to `max` packets. Each descriptor is validated before any of its bytes
    /// is handed out; release the burst (or drop it) to give the slots back. A ring
    /// error also tears the connection down, with the error as the reason.
    pub fn rx_burst(&mut self, max: usize) -> Result<RxBurst<'_>, QueueError> {
        let RxQueue { inner, link, index } = self;
        if !link.is_up() {
            return Err(QueueError::Down);
        }
        let r = match inner {
            RxInner::Master(q) => q.rx_burst(max),
            RxInner::Slave(q) => q.rx_burst(max),
        };
        link.checked(format_args!("RX queue {index}"), r)
    }

    /// Receives up to `max` packets the peer put on the ring, also after the link went
    /// down. A peer publishes its frames before it sends DISCONNECT or closes its socket,
    /// so after [`crate::Event::Disconnected`] this queue may still hold frames the peer
    /// sent (and counted as sent); call this until it returns an empty burst to receive
    /// them all before dropping the queue. The queue keeps the shared memory mapped. While
    /// the link is up this is [`RxQueue::rx_burst`]; after, ring errors are returned but
    /// tear nothing down.
    pub fn drain(&mut self, max: usize) -> Result<RxBurst<'_>, QueueError> {
        if self.link.is_up() {
            return self.rx_burst(max);
        }
        let r = match &mut self.inner {
            RxInner::Master(q) => q.rx_burst(max),
            RxInner::Slave(q) => q.rx_burst(max),
        };
        r.map_err(QueueError::from)
    }

    /// Zero-copy forwarding (slave only): what arrived on this queue is sent on `tx` by
    /// swapping descriptors, without copying. Returns the packets forwarded.
    pub fn forward_to(&mut self, tx: &mut TxQueue, max: usize) -> Result<usize, QueueError> {
        if !self.link.is_up() || !tx.link.is_up() {
            return Err(QueueError::Down);
        }
        match (&mut self.inner, &mut tx.inner) {
            (RxInner::Slave(rx), TxInner::Slave(t)) => {
                self.link.checked(format_args!("forwarding RX queue {}", self.index), rx.forward_to(t, max))
            }
            _ => Err(QueueError::Unsupported("zero-copy forwarding needs two slave queues")),
        }
    }

    /// Switches between interrupt mode (the peer signals after each burst) and polling
    /// (MASK_INT set: the peer does not signal).
    pub fn set_rx_mode(&mut self, mode: RxMode) {
        match &mut self.inner {
            RxInner::Master(q) => q.set_rx_mode(mode),
            RxInner::Slave(q) => q.set_rx_mode(mode),
        }
    }

    /// Counters.
    pub fn counters(&self) -> &QueueCounters {
        match &self.inner {
            RxInner::Master(q) => q.counters(),
            RxInner::Slave(q) => q.counters(),
        }
    }

    /// The interrupt eventfd the peer signals after a burst.
    pub fn interrupt(&self) -> &Interrupt {
        match &self.inner {
            RxInner::Master(q) => q.interrupt(),
            RxInner::Slave(q) => q.interrupt(),
        }
    }

    /// Blocks until the peer signals this queue (interrupt mode), the link goes down,
    /// or `timeout` passes. Returns whether an interrupt arrived; clears it.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool, QueueError> {
        if !self.link.is_up() {
            return Err(QueueError::Down);
        }
        let irq = self.interrupt();
        let link = self.link.wake.as_fd();
        let mut fds = [PollFd::new(irq.as_fd(), PollFlags::POLLIN), PollFd::new(link, PollFlags::POLLIN)];
        let t = match timeout {
            None => PollTimeout::NONE,
            Some(d) => {
                PollTimeout::try_from(d.as_millis().min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        match poll(&mut fds, t) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => Ok(false),
            Ok(_) => Ok(irq.clear() > 0),
            Err(_) => Ok(false),
        }
    }
}

impl AsFd for RxQueue {
    /// The queue's interrupt eventfd, for your own event loop.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.interrupt().as_fd()
    }
}

impl TxQueue {
    pub(crate) fn master(q: MasterTx, link: Arc<Link>, index: u16) -> Self {
        TxQueue { inner: TxInner::Master(q), link, index }
    }
    pub(crate) fn slave(q: SlaveTx, link: Arc<Link>, index: u16) -> Self {
        TxQueue { inner: TxInner::Slave(q), link, index }
    }

    /// Queue index.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Whether the link this queue belongs to is still up.
    pub fn is_up(&self) -> bool {
        self.link.is_up()
    }

    /// Descriptors in this queue's ring: a burst never has more buffers, so a packet
    /// chained over more buffers than this can never be sent.
    pub fn ring_size(&self) -> usize {
        usize::from(match &self.inner {
            TxInner::Master(q) => q.ring().size(),
            TxInner::Slave(q) => q.ring().size(),
        })
    }

    /// Up to `n` buffers to fill; commit the burst to publish them in one store.
    pub fn alloc(&mut self, n: usize) -> Result<TxBurst<'_>, QueueError> {
        let TxQueue { inner, link, index } = self;
        if !link.is_up() {
            return Err(QueueError::Down);
        }
        let r = match inner {
            TxInner::Master(q) => q.alloc(n),
            TxInner::Slave(q) => q.alloc(n),
        };
        link.checked(format_args!("TX queue {index}"), r)
    }

    /// Readies the next free buffer for writing, sending nothing: its first `bytes`
    /// bytes come into this core's cache, owned, so that the next packet written there
    /// does not wait for the peer's core. For loops that answer one packet at a time
    /// (request and reply): call it while idle. Returns whether a buffer was free.
    pub fn warm(&mut self, bytes: usize) -> Result<bool, QueueError> {
        let TxQueue { inner, link, index } = self;
        if !link.is_up() {
            return Err(QueueError::Down);
        }
        let r = match inner {
            TxInner::Master(q) => q.warm(bytes),
            TxInner::Slave(q) => q.warm(bytes),
        };
        link.checked(format_args!("TX queue {index}"), r)
    }

    /// Copies and sends `frames` (chaining frames larger than one buffer); returns how
    /// many went out. Frames that found no room are counted as drops.
    pub fn send(&mut self, frames: &[&[u8]]) -> Result<usize, QueueError> {
        let TxQueue { inner, link, index } = self;
        if !link.is_up() {
            return Err(QueueError::Down);
        }
        let r = match inner {
            TxInner::Master(q) => q.send(frames),
            TxInner::Slave(q) => q.send(frames),
        };
        link.checked(format_args!("TX queue {index}"), r)
    }

    /// Packets published to the peer that it has not given back yet (0: the peer has
    /// consumed everything; wait for this before disconnecting to lose nothing).
    pub fn in_flight(&mut self) -> Result<usize, QueueError> {
        if !self.link.is_up() {
            return Err(QueueError::Down);
        }
        Ok(match &mut self.inner {
            TxInner::Master(q) => usize::from(q.ring().size()) - q.available()?,
            TxInner::Slave(q) => usize::from(q.ring().size()) - q.free_slots()?,
        })
    }

    /// Counters.
    pub fn counters(&self) -> &QueueCounters {
        match &self.inner {
            TxInner::Master(q) => q.counters(),
            TxInner::Slave(q) => q.counters(),
        }
    }
}

/// The queues of a connected interface, by index.
#[derive(Debug)]
pub struct Queues {
    /// Receive queues.
    pub rx: Vec<RxQueue>,
    /// Transmit queues.
    pub tx: Vec<TxQueue>,
}
