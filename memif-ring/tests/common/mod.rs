//! One connection's shared memory and queues, built in-process.
#![allow(dead_code)]

use std::sync::Arc;

use memif_proto::Direction;
use memif_ring::{Interrupt, MasterRx, MasterTx, Memory, Ring, SlaveRx, SlaveTx};
use memif_shm::Layout;

/// A connection with one queue each way: the slave's rings initialised, queues built.
pub struct Conn {
    pub layout: Layout,
    pub mem: Arc<Memory>,
    pub s2m_irq: Interrupt,
    pub m2s_irq: Interrupt,
}

impl Conn {
    pub fn new(log2: u8, buffer_size: u32) -> Conn {
        let layout = Layout { log2_ring_size: log2, buffer_size, ..Layout::default() };
        let mem = Arc::new(Memory::new(layout.create_regions("test").unwrap()));
        let c = Conn { layout, mem, s2m_irq: Interrupt::new().unwrap(), m2s_irq: Interrupt::new().unwrap() };
        c.ring(Direction::S2M).init(&c.layout, Direction::S2M, 0);
        c.ring(Direction::M2S).init(&c.layout, Direction::M2S, 0);
        c
    }

    pub fn ring(&self, dir: Direction) -> Ring {
        Ring::new(self.mem.clone(), 0, self.layout.ring_offset(dir, 0), self.layout.log2_ring_size).unwrap()
    }

    pub fn slave_tx(&self) -> SlaveTx {
        SlaveTx::new(self.ring(Direction::S2M), &self.layout, 0, self.s2m_irq.clone())
    }

    pub fn master_rx(&self) -> MasterRx {
        MasterRx::new(self.ring(Direction::S2M), self.layout.buffer_size, self.s2m_irq.clone())
    }

    pub fn master_tx(&self) -> MasterTx {
        MasterTx::new(self.ring(Direction::M2S), self.layout.buffer_size, self.m2s_irq.clone())
    }

    pub fn slave_rx(&self) -> SlaveRx {
        SlaveRx::new(self.ring(Direction::M2S), &self.layout, 0, self.m2s_irq.clone())
    }

    /// Raw pointer and length of region `i` (tests write hostile bytes through it).
    pub fn region_raw(&self, i: usize) -> (*mut u8, usize) {
        let r = self.mem.region(i).unwrap();
        (r.as_ptr(), r.len())
    }

    /// Whether `s` lies entirely inside one of the regions.
    pub fn inside_regions(&self, s: &[u8]) -> bool {
        let (start, end) = (s.as_ptr() as usize, s.as_ptr() as usize + s.len());
        (0..self.mem.region_count()).any(|i| {
            let (p, len) = self.region_raw(i);
            start >= p as usize && end <= p as usize + len
        })
    }

    /// A copy of region `i`.
    pub fn snapshot(&self, i: usize) -> Vec<u8> {
        let (p, len) = self.region_raw(i);
        // SAFETY: the region is mapped for `len` bytes while `self.mem` lives; tests are
        // single-threaded when they snapshot.
        unsafe { std::slice::from_raw_parts(p, len).to_vec() }
    }
}

/// Frame `id` of `len` bytes: recognisable content.
pub fn frame(id: u64, len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len).map(|i| (id.wrapping_mul(131).wrapping_add(i as u64 * 7)) as u8).collect();
    if len >= 8 {
        v[..8].copy_from_slice(&id.to_le_bytes());
    }
    v
}
