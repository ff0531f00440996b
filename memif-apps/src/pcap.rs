//! `--pcap FILE`: a capture of every frame sent and received, in the classic pcap format
//! (Ethernet link type, microsecond timestamps) that tcpdump, tshark and Wireshark open.
//!
//! Written with the `pcap-file` crate. Frames are written in the order the caller hands
//! them over, sent and received alike (classic pcap has no direction field). Frames
//! longer than [`SNAPLEN`] are cut to it, with their real length kept in the record.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};

/// Longest frame stored whole; longer ones are cut (tcpdump's default snap length).
pub const SNAPLEN: u32 = 262_144;

/// A pcap file being written.
///
/// Not synchronised: a program that captures on several threads shares it behind a
/// `Mutex`. Buffered: end with [`PcapFile::finish`] to see write errors.
pub struct PcapFile {
    writer: PcapWriter<BufWriter<File>>,
}

impl PcapFile {
    /// Creates (or truncates) `path` and writes the pcap file header.
    pub fn create(path: &Path) -> io::Result<PcapFile> {
        let file = File::create(path)?;
        let header = PcapHeader {
            snaplen: SNAPLEN,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::Little,
            ..PcapHeader::default()
        };
        let writer = PcapWriter::with_header(BufWriter::new(file), header).map_err(to_io)?;
        Ok(PcapFile { writer })
    }

    /// Writes one Ethernet frame (without FCS), stamped with the current time.
    pub fn write_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        self.write_frame_at(now, frame)
    }

    /// Writes one Ethernet frame stamped `timestamp` (time since the Unix epoch).
    pub fn write_frame_at(&mut self, timestamp: Duration, frame: &[u8]) -> io::Result<()> {
        let orig_len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let kept = &frame[..frame.len().min(SNAPLEN as usize)];
        self.writer.write_packet(&PcapPacket::new(timestamp, orig_len, kept)).map_err(to_io)?;
        Ok(())
    }

    /// Writes one frame that arrived, or leaves, in several pieces (a descriptor chain),
    /// stamped with the current time.
    pub fn write_chain(&mut self, pieces: &[&[u8]]) -> io::Result<()> {
        let frame = pieces.concat();
        self.write_frame(&frame)
    }

    /// Writes out every buffered record and closes the file, reporting any error
    /// (dropping a `PcapFile` flushes too, but silently).
    pub fn finish(self) -> io::Result<()> {
        let mut buffered = self.writer.into_writer();
        buffered.flush()?;
        buffered.into_inner().map_err(|e| e.into_error())?.sync_all()
    }
}

fn to_io(e: PcapError) -> io::Error {
    match e {
        PcapError::IoError(e) => e,
        other => io::Error::other(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::PcapReader;

    #[test]
    fn frames_read_back_with_timestamps_and_lengths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pcap");
        let mut arp = [0u8; 64];
        let n = crate::packet::build_arp_request(
            [2, 0, 0, 0, 0, 1],
            "192.168.1.2".parse().unwrap(),
            "192.168.1.1".parse().unwrap(),
            &mut arp,
        )
        .unwrap();
        let mut test_frame = vec![0u8; 1500];
        crate::packet::fill_test_frame(&mut test_frame, 9);
        let big = vec![0x5a; SNAPLEN as usize + 10];

        let mut pcap = PcapFile::create(&path).unwrap();
        pcap.write_frame_at(Duration::new(1_700_000_000, 123_456_000), &arp[..n]).unwrap();
        pcap.write_chain(&[&test_frame[..100], &test_frame[100..]]).unwrap();
        pcap.write_frame_at(Duration::from_secs(5), &big).unwrap();
        pcap.finish().unwrap();

        let mut reader = PcapReader::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.header().datalink, DataLink::ETHERNET);
        assert_eq!(reader.header().snaplen, SNAPLEN);

        let p = reader.next_packet().unwrap().unwrap();
        assert_eq!(p.timestamp, Duration::new(1_700_000_000, 123_456_000));
        assert_eq!(&p.data[..], &arp[..n]);
        assert_eq!(p.orig_len as usize, n);

        let p = reader.next_packet().unwrap().unwrap();
        assert_eq!(crate::packet::check_test_frame(&p.data), Ok(9));
        let age = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().saturating_sub(p.timestamp);
        assert!(age < Duration::from_secs(60), "timestamp is now, not {:?}", p.timestamp);

        // pcap-file's checked reader refuses a record longer than the snap length
        // (libpcap, tcpdump and tshark take it as a cut frame), so read it raw.
        let p = reader.next_raw_packet().unwrap().unwrap();
        assert_eq!(p.incl_len, SNAPLEN);
        assert_eq!(p.data.len(), SNAPLEN as usize);
        assert_eq!(p.orig_len as usize, big.len());

        assert!(reader.next_packet().is_none());
    }

    #[test]
    fn create_fails_cleanly_in_a_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let e = PcapFile::create(&dir.path().join("no/such/dir.pcap")).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
