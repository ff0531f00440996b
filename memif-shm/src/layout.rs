//! libmemif's layout of rings and buffers over the regions of a connection.

use memif_proto::{
    ring_bytes, Direction, DEFAULT_BUFFER_SIZE, DEFAULT_LOG2_RING_SIZE, MAX_LOG2_RING_SIZE,
    MIN_LOG2_RING_SIZE,
};

use crate::{Region, ShmError};

/// Largest region a layout may ask for: every byte of it must be nameable by a u32
/// offset, and `offset + length` of the last buffer must not pass 2^32.
const MAX_LAYOUT_REGION: u64 = 1 << 32;

/// Where the slave puts rings and buffers (protocol reference, section 4).
///
/// Region 0 holds every ring: S2M ring `i` is ring `k = i`, M2S ring `i` is ring
/// `k = num_s2m + i`, ring `k` starts at `k * ring_bytes()`. Regions `1..=buffer_regions`
/// hold the buffers: ring `k` has its `2^log2_ring_size` buffers in buffer region
/// `k % buffer_regions` (region index `1 + k % buffer_regions`), as the
/// `k / buffer_regions`-th ring of that region, so slot `j` of ring `k` is at offset
/// `((k / R) * 2^log2 + j) * buffer_size`. With one buffer region (the default) this is
/// exactly libmemif's layout: `(k * 2^log2 + j) * buffer_size` in region 1.
///
/// The methods other than [`Layout::check`] assume the layout passed `check()` and
/// their index arguments are in range; they never panic, but give meaningless
/// numbers otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Number of S2M rings (slave transmit queues), at least 1.
    pub num_s2m: u16,
    /// Number of M2S rings (slave receive queues), at least 1.
    pub num_m2s: u16,
    /// log2 of the number of descriptors per ring, 1..=14.
    pub log2_ring_size: u8,
    /// Size of one packet buffer in bytes, at least 1.
    pub buffer_size: u32,
    /// Number of buffer regions, 1..=number of rings.
    pub buffer_regions: u16,
}

impl Default for Layout {
    /// libmemif's defaults: one queue each way, 1024 slots, 2048-byte buffers, one
    /// buffer region.
    fn default() -> Self {
        Layout {
            num_s2m: 1,
            num_m2s: 1,
            log2_ring_size: DEFAULT_LOG2_RING_SIZE,
            buffer_size: DEFAULT_BUFFER_SIZE,
            buffer_regions: 1,
        }
    }
}

impl Layout {
    fn total_rings(&self) -> u64 {
        u64::from(self.num_s2m) + u64::from(self.num_m2s)
    }

    fn ring_k(&self, dir: Direction, index: u16) -> u64 {
        match dir {
            Direction::S2M => u64::from(index),
            Direction::M2S => u64::from(self.num_s2m) + u64::from(index),
        }
    }

    fn slots(&self) -> u64 {
        1u64 << self.log2_ring_size.min(MAX_LOG2_RING_SIZE)
    }

    /// Number of rings whose buffers live in buffer region `r` (0-based).
    fn rings_in_buffer_region(&self, r: u16) -> u64 {
        let total = self.total_rings();
        let nr = u64::from(self.buffer_regions.max(1));
        let r = u64::from(r);
        if r >= total {
            0
        } else {
            (total - r).div_ceil(nr)
        }
    }

    fn buffer_region_size_u64(&self, r: u16) -> u64 {
        self.rings_in_buffer_region(r) * self.slots() * u64::from(self.buffer_size)
    }

    /// Checks the layout can be created and named by the protocol's 32-bit offsets:
    /// log2 ring size in 1..=14, at least one ring each way, `buffer_size > 0`,
    /// `1 <= buffer_regions <= num_s2m + num_m2s` (no empty region), and every region at
    /// most 4 GiB, so that every ring offset and every buffer's `offset + buffer_size`
    /// fits in 32 bits: a layout that would wrap and alias two buffers is refused.
    pub fn check(&self) -> Result<(), ShmError> {
        let bad = |m: String| Err(ShmError::InvalidLayout(m));
        if !(MIN_LOG2_RING_SIZE..=MAX_LOG2_RING_SIZE).contains(&self.log2_ring_size) {
            return bad(format!(
                "log2 ring size {} outside {}..={}",
                self.log2_ring_size, MIN_LOG2_RING_SIZE, MAX_LOG2_RING_SIZE
            ));
        }
        if self.num_s2m == 0 || self.num_m2s == 0 {
            return bad(format!(
                "needs at least one ring each way (s2m {}, m2s {})",
                self.num_s2m, self.num_m2s
            ));
        }
        if self.buffer_size == 0 {
            return bad("buffer size 0".into());
        }
        if self.buffer_regions == 0 || u64::from(self.buffer_regions) > self.total_rings() {
            return bad(format!(
                "{} buffer regions for {} rings (need 1..=number of rings)",
                self.buffer_regions,
                self.total_rings()
            ));
        }
        let ring_region = self.total_rings() * ring_bytes(self.log2_ring_size) as u64;
        if ring_region > MAX_LAYOUT_REGION {
            return bad(format!("ring region of {ring_region} bytes is above 4 GiB (u32 ring offsets)"));
        }
        // Region 0 of the buffer regions holds the most rings: it is the largest.
        let largest = self.buffer_region_size_u64(0);
        if largest > MAX_LAYOUT_REGION {
            return bad(format!(
                "buffer region of {largest} bytes is above 4 GiB: u32 buffer offsets would wrap \
                 and alias buffers"
            ));
        }
        if usize::try_from(largest).is_err() || usize::try_from(ring_region).is_err() {
            return bad("regions do not fit in this address space".into());
        }
        Ok(())
    }

    /// Number of slots per ring, `2^log2_ring_size`.
    pub fn ring_size(&self) -> u32 {
        self.slots() as u32
    }

    /// Bytes of one ring: header plus descriptors.
    pub fn ring_bytes(&self) -> usize {
        ring_bytes(self.log2_ring_size.min(MAX_LOG2_RING_SIZE))
    }

    /// Size of region 0 (all rings) in bytes.
    pub fn ring_region_size(&self) -> usize {
        (self.total_rings() as usize).saturating_mul(self.ring_bytes())
    }

    /// Offset in region 0 of ring `index` of direction `dir`.
    pub fn ring_offset(&self, dir: Direction, index: u16) -> usize {
        (self.ring_k(dir, index) as usize).saturating_mul(self.ring_bytes())
    }

    /// Size in bytes of buffer region `r`, 0-based among buffer regions (region index
    /// `r + 1`).
    pub fn buffer_region_size(&self, r: u16) -> usize {
        usize::try_from(self.buffer_region_size_u64(r)).unwrap_or(usize::MAX)
    }

    /// Sizes of every region, region 0 (rings) first, then the buffer regions.
    pub fn region_sizes(&self) -> Vec<usize> {
        let mut v = Vec::with_capacity(1 + usize::from(self.buffer_regions));
        v.push(self.ring_region_size());
        v.extend((0..self.buffer_regions).map(|r| self.buffer_region_size(r)));
        v
    }

    /// Region index and offset of the initial buffer of slot `slot` of ring `ring_index`
    /// of direction `dir`. `slot` is taken modulo the ring size.
    pub fn buffer_location(&self, dir: Direction, ring_index: u16, slot: u16) -> (u16, u32) {
        let k = self.ring_k(dir, ring_index);
        let nr = u64::from(self.buffer_regions.max(1));
        let region = 1 + (k % nr);
        let pos = k / nr;
        let slot = u64::from(slot) & (self.slots() - 1);
        let offset = (pos * self.slots() + slot) * u64::from(self.buffer_size);
        (region as u16, offset as u32)
    }

    /// Checks the layout, then creates every region (`"<name> region <i>"`), region 0
    /// first. Regions already created are dropped (closed) if a later one fails.
    pub fn create_regions(&self, name: &str) -> Result<Vec<Region>, ShmError> {
        self.check()?;
        self.region_sizes()
            .into_iter()
            .enumerate()
            .map(|(i, size)| Region::create(&format!("{name} region {i}"), size))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libmemif_default_layout() {
        let l = Layout::default();
        l.check().unwrap();
        assert_eq!(l.ring_bytes(), 128 + 16 * 1024);
        assert_eq!(l.region_sizes(), vec![2 * (128 + 16 * 1024), 2048 * 1024 * 2]);
        assert_eq!(l.ring_offset(Direction::S2M, 0), 0);
        assert_eq!(l.ring_offset(Direction::M2S, 0), l.ring_bytes());
        assert_eq!(l.buffer_location(Direction::S2M, 0, 0), (1, 0));
        assert_eq!(l.buffer_location(Direction::S2M, 0, 1023), (1, 1023 * 2048));
        assert_eq!(l.buffer_location(Direction::M2S, 0, 5), (1, (1024 + 5) * 2048));
    }

    #[test]
    fn several_queues_one_buffer_region_is_libmemif() {
        let l = Layout { num_s2m: 2, num_m2s: 3, log2_ring_size: 4, buffer_size: 100, buffer_regions: 1 };
        l.check().unwrap();
        assert_eq!(l.ring_region_size(), 5 * (128 + 16 * 16));
        assert_eq!(l.ring_offset(Direction::M2S, 1), 3 * l.ring_bytes());
        assert_eq!(l.buffer_region_size(0), 5 * 16 * 100);
        for (dir, i, k) in [(Direction::S2M, 1, 1u32), (Direction::M2S, 2, 4)] {
            for j in 0..16u16 {
                assert_eq!(l.buffer_location(dir, i, j), (1, (k * 16 + u32::from(j)) * 100));
            }
        }
    }

    #[test]
    fn several_buffer_regions_spread_rings_round_robin() {
        let l = Layout { num_s2m: 2, num_m2s: 3, log2_ring_size: 2, buffer_size: 10, buffer_regions: 2 };
        l.check().unwrap();
        // Rings 0, 2, 4 in region 1; rings 1, 3 in region 2.
        assert_eq!(l.region_sizes(), vec![5 * (128 + 64), 3 * 4 * 10, 2 * 4 * 10]);
        assert_eq!(l.buffer_location(Direction::S2M, 0, 1), (1, 10));
        assert_eq!(l.buffer_location(Direction::S2M, 1, 1), (2, 10));
        assert_eq!(l.buffer_location(Direction::M2S, 0, 3), (1, (4 + 3) * 10));
        assert_eq!(l.buffer_location(Direction::M2S, 1, 0), (2, 40));
        assert_eq!(l.buffer_location(Direction::M2S, 2, 3), (1, (8 + 3) * 10));
        // Every buffer is distinct and inside its region.
        let sizes = l.region_sizes();
        let mut seen = std::collections::HashSet::new();
        for (dir, n) in [(Direction::S2M, 2), (Direction::M2S, 3)] {
            for i in 0..n {
                for j in 0..4 {
                    let (r, off) = l.buffer_location(dir, i, j);
                    assert!(off as usize + 10 <= sizes[r as usize]);
                    assert!(seen.insert((r, off)));
                }
            }
        }
    }

    #[test]
    fn check_refusals() {
        let ok = Layout::default();
        for bad in [
            Layout { log2_ring_size: 0, ..ok },
            Layout { log2_ring_size: 15, ..ok },
            Layout { num_s2m: 0, ..ok },
            Layout { num_m2s: 0, ..ok },
            Layout { buffer_size: 0, ..ok },
            Layout { buffer_regions: 0, ..ok },
            Layout { buffer_regions: 3, ..ok },
            // 2 rings * 2 slots * 2^31 bytes = 8 GiB: offsets would wrap.
            Layout { log2_ring_size: 1, buffer_size: 1 << 31, ..ok },
            // 2 rings * 16384 slots * 2^18 = 8 GiB.
            Layout { log2_ring_size: 14, buffer_size: 1 << 18, ..ok },
        ] {
            let e = bad.check().expect_err(&format!("{bad:?}"));
            assert!(matches!(e, ShmError::InvalidLayout(_)), "{bad:?}: {e}");
            assert!(bad.create_regions("x").is_err());
        }
        // Exactly 4 GiB in one region: the last buffer ends at 2^32, nothing wraps.
        Layout { log2_ring_size: 1, buffer_size: 1 << 30, ..ok }.check().unwrap();
    }
}
