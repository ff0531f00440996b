//! Frames the `memif` subcommands send and answer: ARP and ICMPv4 echo (responder and
//! ping), and the test frames of `gen`, `sink` and `loopback`.
//!
//! Parsing and building go through `etherparse`, checksums included. Every function that
//! reads a frame takes bytes a peer wrote and may be truncated or hostile: none of them
//! panics on any input; a frame that is not what was asked for gives `None` or an
//! error. Builders write into a caller's buffer (a memif packet buffer, typically) and
//! return the frame length, or an error when it does not fit.

use std::net::Ipv4Addr;

use etherparse::checksum::Sum16BitWords;
use etherparse::{
    ArpEthIpv4Packet, ArpOperation, ArpPacket, ArpPacketSlice, EtherType, Ethernet2Header, Ethernet2Slice,
    Icmpv4Header, Icmpv4Slice, Icmpv4Type, IpNumber, Ipv4Slice, PacketBuilder,
};

/// Length of an Ethernet II header (no VLAN tag, no FCS).
pub const ETH_HEADER_LEN: usize = Ethernet2Header::LEN;
/// Length of an Ethernet frame carrying an ARP packet for IPv4 over Ethernet, unpadded.
pub const ARP_FRAME_LEN: usize = ETH_HEADER_LEN + ArpEthIpv4Packet::LEN;
/// Bytes of Ethernet, IPv4 (no options) and ICMP echo headers before an echo payload.
pub const ECHO_HEADERS_LEN: usize = ETH_HEADER_LEN + 20 + 8;
/// Largest ICMP echo payload an IPv4 packet can carry (65535 - 20 - 8).
pub const MAX_ECHO_PAYLOAD: usize = 65_535 - 20 - 8;
/// TTL of the IPv4 packets built here (echo requests and replies), as Linux uses.
pub const DEFAULT_TTL: u8 = 64;

/// EtherType of the test frames: 0x88B5, "local experimental" (IEEE 802).
pub const TEST_ETHER_TYPE: u16 = 0x88B5;
/// Source MAC of test frames (locally administered, unicast).
pub const TEST_SRC_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
/// Destination MAC of test frames (locally administered, unicast).
pub const TEST_DST_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
/// Shortest test frame: Ethernet header, 8-byte sequence number, 4-byte frame length.
pub const TEST_FRAME_MIN_LEN: usize = ETH_HEADER_LEN + 8 + 4;

const BROADCAST_MAC: [u8; 6] = [0xff; 6];

/// The output buffer is too small for the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame of {needed} bytes does not fit a {available}-byte buffer")]
pub struct BufferTooSmall {
    /// Bytes the frame needs.
    pub needed: usize,
    /// Bytes the buffer has.
    pub available: usize,
}

/// What [`respond`] answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// An ARP request for our address, with an ARP reply.
    ArpReply,
    /// An ICMPv4 echo request to our address, with an echo reply.
    EchoReply,
}

/// Answers one received frame as an ICMP responder for `my_ip`/`my_mac`: an ARP request
/// for `my_ip` gets an ARP reply, an ICMPv4 echo request to `my_ip` an echo reply with
/// MACs and IPs swapped and the same id, sequence number and payload. The answer is
/// written to `out`; its length is returned.
///
/// Anything else, or a frame with a bad IPv4 or ICMP checksum, a fragment, a VLAN tag,
/// or an Ethernet destination that is neither `my_mac` nor broadcast, gives `None`, as
/// does an `out` too small for the answer.
pub fn respond(frame: &[u8], my_ip: Ipv4Addr, my_mac: [u8; 6], out: &mut [u8]) -> Option<usize> {
    respond_detailed(frame, my_ip, my_mac, out).map(|(_, len)| len)
}

/// [`respond`], also saying what kind of request was answered (for counters).
pub fn respond_detailed(
    frame: &[u8],
    my_ip: Ipv4Addr,
    my_mac: [u8; 6],
    out: &mut [u8],
) -> Option<(Answer, usize)> {
    let eth = Ethernet2Slice::from_slice_without_fcs(frame).ok()?;
    let dst = eth.destination();
    if dst != my_mac && dst != BROADCAST_MAC {
        return None;
    }
    match eth.ether_type() {
        EtherType::ARP => {
            let arp = parse_arp(eth.payload().payload)?;
            if arp.operation != ArpOperation::REQUEST || arp.target_ipv4_addr() != my_ip {
                return None;
            }
            let reply = ArpEthIpv4Packet {
                operation: ArpOperation::REPLY,
                sender_mac: my_mac,
                sender_ipv4: my_ip.octets(),
                target_mac: arp.sender_mac,
                target_ipv4: arp.sender_ipv4,
            };
            let len = PacketBuilder::ethernet2(my_mac, arp.sender_mac)
                .arp(ArpPacket::from(reply))
                .write_to_slice(out)
                .ok()?;
            Some((Answer::ArpReply, len))
        }
        EtherType::IPV4 if dst == my_mac => {
            let (ip, icmp) = parse_icmp(eth.payload().payload)?;
            let Icmpv4Type::EchoRequest(_) = icmp.icmp_type() else { return None };
            if ip.header().destination_addr() != my_ip {
                return None;
            }
            let len = echo_reply(eth.source(), my_mac, my_ip, ip.header().source(), icmp.slice(), out)?;
            Some((Answer::EchoReply, len))
        }
        _ => None,
    }
}

/// Writes the echo reply to a request whose ICMP message (checksum verified) is `icmp`:
/// fresh Ethernet and IPv4 headers, then the request's message with type and code 0 and
/// its checksum updated for that change (RFC 1624). The bytes are those etherparse's
/// `PacketBuilder` writes for the reply, but the builder sums the whole payload again:
/// more than half the time of answering a ping. Everything is computed from `icmp` and
/// locals, and `out` is only written: `out` is typically a buffer in shared memory that
/// the peer touched last, where reading back what was just written stalls until the
/// stores reach the cache.
fn echo_reply(
    to_mac: [u8; 6],
    my_mac: [u8; 6],
    my_ip: Ipv4Addr,
    to_ip: [u8; 4],
    icmp: &[u8],
    out: &mut [u8],
) -> Option<usize> {
    let ip_len = u16::try_from(IPV4_HEADER_LEN + icmp.len()).ok()?;
    let len = ETH_HEADER_LEN + usize::from(ip_len);
    let (&[t0, t1, c0, c1], rest) = icmp.split_first_chunk::<4>()?;
    let out = out.get_mut(..len)?;
    let mut head = [0u8; ETH_HEADER_LEN + IPV4_HEADER_LEN];
    head[..6].copy_from_slice(&to_mac);
    head[6..12].copy_from_slice(&my_mac);
    head[12..14].copy_from_slice(&EtherType::IPV4.0.to_be_bytes());
    let [l0, l1] = ip_len.to_be_bytes();
    let [a, b, c, d] = my_ip.octets();
    let [e, f, g, h] = to_ip;
    // version 4, 5 words; total length; id 0; don't fragment; TTL; ICMP; checksum 0
    let mut ip = [0x45, 0, l0, l1, 0, 0, 0x40, 0, DEFAULT_TTL, 1, 0, 0, a, b, c, d, e, f, g, h];
    let ip_sum = Sum16BitWords::new().add_slice(&ip).ones_complement().to_be();
    ip[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    head[ETH_HEADER_LEN..].copy_from_slice(&ip);
    // RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), the type and code word m becoming 0
    let mut sum =
        Sum16BitWords::new().add_2bytes([!c0, !c1]).add_2bytes([!t0, !t1]).ones_complement().to_be();
    // a message of zeros alone sums to +0, its checksum is 0xffff; any other message
    // whose sum is 0xffff has the checksum 0, as the equation gives
    if sum == 0 && rest.iter().all(|&b| b == 0) {
        sum = 0xffff;
    }
    let [s0, s1] = sum.to_be_bytes();
    let (hdrs, msg) = out.split_at_mut(head.len());
    hdrs.copy_from_slice(&head);
    msg[..4].copy_from_slice(&[0, 0, s0, s1]);
    msg[4..].copy_from_slice(rest);
    Some(len)
}

/// Length of an IPv4 header without options.
const IPV4_HEADER_LEN: usize = 20;

/// Builds a broadcast ARP request from `src_mac`/`src_ip` asking who has `target_ip`.
pub fn build_arp_request(
    src_mac: [u8; 6],
    src_ip: Ipv4Addr,
    target_ip: Ipv4Addr,
    out: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let request = ArpEthIpv4Packet {
        operation: ArpOperation::REQUEST,
        sender_mac: src_mac,
        sender_ipv4: src_ip.octets(),
        target_mac: [0; 6],
        target_ipv4: target_ip.octets(),
    };
    let builder = PacketBuilder::ethernet2(src_mac, BROADCAST_MAC).arp(ArpPacket::from(request));
    let needed = builder.size();
    builder.write_to_slice(out).map_err(|_| BufferTooSmall { needed, available: out.len() })
}

/// If `frame` is an ARP reply from `ip`, the MAC address it gives for `ip`.
pub fn parse_arp_reply(frame: &[u8], ip: Ipv4Addr) -> Option<[u8; 6]> {
    let eth = Ethernet2Slice::from_slice_without_fcs(frame).ok()?;
    if eth.ether_type() != EtherType::ARP {
        return None;
    }
    let arp = parse_arp(eth.payload().payload)?;
    (arp.operation == ArpOperation::REPLY && arp.sender_ipv4_addr() == ip).then_some(arp.sender_mac)
}

/// Builds an ICMPv4 echo request with `payload_size` bytes of payload.
///
/// The payload is [`echo_payload_byte`]`(seq, i)` for each byte `i`, so a reply can be
/// checked for intact data ([`EchoReply::payload_ok`]); round-trip times are for the
/// caller to keep, keyed by `seq`.
#[allow(clippy::too_many_arguments)] // The brief names every field of the request.
pub fn build_echo_request(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    id: u16,
    seq: u16,
    payload_size: usize,
    out: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let needed = ECHO_HEADERS_LEN + payload_size;
    if payload_size > MAX_ECHO_PAYLOAD || out.len() < needed {
        return Err(BufferTooSmall { needed, available: out.len() });
    }
    let payload: Vec<u8> = (0..payload_size).map(|i| echo_payload_byte(seq, i)).collect();
    PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(src_ip.octets(), dst_ip.octets(), DEFAULT_TTL)
        .icmpv4_echo_request(id, seq)
        .write_to_slice(out, &payload)
        .map_err(|_| BufferTooSmall { needed, available: out.len() })
}

/// Byte `i` of the payload of echo request `seq`: the low byte of `seq` plus `i`, so
/// every request carries a different payload.
pub fn echo_payload_byte(seq: u16, i: usize) -> u8 {
    (seq as u8).wrapping_add(i as u8)
}

/// An ICMPv4 echo reply, as [`parse_echo_reply`] found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoReply {
    /// IPv4 source of the reply.
    pub from: Ipv4Addr,
    /// ICMP identifier.
    pub id: u16,
    /// ICMP sequence number.
    pub seq: u16,
    /// IPv4 TTL of the reply.
    pub ttl: u8,
    /// Bytes of ICMP message (header and payload), what ping prints as "N bytes from".
    pub len: usize,
    /// Whether the payload is the one [`build_echo_request`] puts in request `seq`.
    pub payload_ok: bool,
}

/// If `frame` is an ICMPv4 echo reply to `my_ip` with valid IPv4 and ICMP checksums,
/// what it says.
pub fn parse_echo_reply(frame: &[u8], my_ip: Ipv4Addr) -> Option<EchoReply> {
    let eth = Ethernet2Slice::from_slice_without_fcs(frame).ok()?;
    if eth.ether_type() != EtherType::IPV4 {
        return None;
    }
    let (ip, icmp) = parse_icmp(eth.payload().payload)?;
    let Icmpv4Type::EchoReply(echo) = icmp.icmp_type() else { return None };
    if ip.header().destination_addr() != my_ip {
        return None;
    }
    let payload = icmp.payload();
    Some(EchoReply {
        from: ip.header().source_addr(),
        id: echo.id,
        seq: echo.seq,
        ttl: ip.header().ttl(),
        len: icmp.slice().len(),
        payload_ok: payload.iter().enumerate().all(|(i, &b)| b == echo_payload_byte(echo.seq, i)),
    })
}

/// An ARP packet for IPv4 over Ethernet, or `None`.
fn parse_arp(bytes: &[u8]) -> Option<ArpEthIpv4Packet> {
    ArpPacketSlice::from_slice(bytes).ok()?.to_packet().try_eth_ipv4().ok()
}

/// An unfragmented IPv4 packet carrying ICMP, both checksums valid, or `None`. Bytes
/// past the IPv4 total length (Ethernet padding) are ignored.
fn parse_icmp(bytes: &[u8]) -> Option<(Ipv4Slice<'_>, Icmpv4Slice<'_>)> {
    let ip = Ipv4Slice::from_slice(bytes).ok()?;
    let header = ip.header();
    if ip.is_payload_fragmented() || header.protocol() != IpNumber::ICMP {
        return None;
    }
    if header.to_header().calc_header_checksum() != header.header_checksum() {
        return None;
    }
    let icmp = Icmpv4Slice::from_slice(ip.payload().payload).ok()?;
    if Icmpv4Header::with_checksum(icmp.icmp_type(), icmp.payload()).checksum != icmp.checksum() {
        return None;
    }
    Some((ip, icmp))
}

/// Why a frame is not an intact test frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TestFrameError {
    /// Shorter than [`TEST_FRAME_MIN_LEN`].
    #[error("frame of {0} bytes is too short for a test frame")]
    TooShort(usize),
    /// Not EtherType [`TEST_ETHER_TYPE`].
    #[error("EtherType {0:#06x} is not the test frames' {TEST_ETHER_TYPE:#06x}")]
    NotATestFrame(u16),
    /// The frame length written in the frame is not its length now (truncated or grown).
    #[error("test frame {seq} says it is {stated} bytes long but is {actual}")]
    LengthMismatch {
        /// Sequence number of the frame.
        seq: u64,
        /// Length written by [`fill_test_frame`].
        stated: u32,
        /// Length received.
        actual: usize,
    },
    /// A byte differs from the pattern.
    #[error("test frame {seq} differs from its pattern at byte {offset}")]
    Corrupt {
        /// Sequence number of the frame.
        seq: u64,
        /// Offset of the first wrong byte in the frame.
        offset: usize,
    },
}

/// Fills `buf` with test frame number `seq`, as long as `buf`: an Ethernet header from
/// [`TEST_SRC_MAC`] to [`TEST_DST_MAC`] with EtherType [`TEST_ETHER_TYPE`], then `seq`
/// (8 bytes, big-endian), the frame length (4 bytes, big-endian), then a pseudo-random
/// pattern determined by `seq`. [`check_test_frame`] verifies all of it.
///
/// # Panics
/// If `buf` is shorter than [`TEST_FRAME_MIN_LEN`] or longer than `u32::MAX` bytes;
/// callers size it from checked options.
pub fn fill_test_frame(buf: &mut [u8], seq: u64) {
    assert!(buf.len() >= TEST_FRAME_MIN_LEN, "test frame needs at least {TEST_FRAME_MIN_LEN} bytes");
    let len = u32::try_from(buf.len()).expect("test frame longer than 4 GiB");
    let eth = Ethernet2Header {
        source: TEST_SRC_MAC,
        destination: TEST_DST_MAC,
        ether_type: EtherType(TEST_ETHER_TYPE),
    };
    buf[..ETH_HEADER_LEN].copy_from_slice(&eth.to_bytes());
    buf[ETH_HEADER_LEN..ETH_HEADER_LEN + 8].copy_from_slice(&seq.to_be_bytes());
    buf[ETH_HEADER_LEN + 8..TEST_FRAME_MIN_LEN].copy_from_slice(&len.to_be_bytes());
    let mut pattern = Pattern::new(seq);
    for chunk in buf[TEST_FRAME_MIN_LEN..].chunks_mut(8) {
        let word = pattern.next_word().to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

/// The fast way to make many test frames of one length, for `gen`: copies `template`
/// (a frame from [`fill_test_frame`], as long as `buf`) with one `copy_from_slice` and
/// writes `seq` into it. The payload stays the template's pattern, so such frames are
/// told apart by their sequence number only; [`check_test_frame`] accepts them only for
/// the template's own sequence number.
///
/// # Panics
/// If `template` and `buf` differ in length.
pub fn stamp_test_frame(buf: &mut [u8], template: &[u8], seq: u64) {
    buf.copy_from_slice(template);
    buf[ETH_HEADER_LEN..ETH_HEADER_LEN + 8].copy_from_slice(&seq.to_be_bytes());
}

/// The sequence number of a test frame, without checking its payload.
pub fn test_frame_seq(frame: &[u8]) -> Option<u64> {
    let b = frame.get(ETH_HEADER_LEN..ETH_HEADER_LEN + 8)?;
    let mut seq = [0u8; 8];
    seq.copy_from_slice(b);
    Some(u64::from_be_bytes(seq))
}

/// Checks that `frame` is a test frame exactly as [`fill_test_frame`] wrote it, and
/// returns its sequence number. The MAC addresses are not checked (a forwarder may
/// rewrite them).
pub fn check_test_frame(frame: &[u8]) -> Result<u64, TestFrameError> {
    if frame.len() < TEST_FRAME_MIN_LEN {
        return Err(TestFrameError::TooShort(frame.len()));
    }
    let eth =
        Ethernet2Slice::from_slice_without_fcs(frame).map_err(|_| TestFrameError::TooShort(frame.len()))?;
    if eth.ether_type() != EtherType(TEST_ETHER_TYPE) {
        return Err(TestFrameError::NotATestFrame(eth.ether_type().0));
    }
    let mut seq_bytes = [0u8; 8];
    seq_bytes.copy_from_slice(&frame[ETH_HEADER_LEN..ETH_HEADER_LEN + 8]);
    let seq = u64::from_be_bytes(seq_bytes);
    let mut len_bytes = [0u8; 4];
    len_bytes.copy_from_slice(&frame[ETH_HEADER_LEN + 8..TEST_FRAME_MIN_LEN]);
    let stated = u32::from_be_bytes(len_bytes);
    if usize::try_from(stated) != Ok(frame.len()) {
        return Err(TestFrameError::LengthMismatch { seq, stated, actual: frame.len() });
    }
    let mut pattern = Pattern::new(seq);
    for (n, chunk) in frame[TEST_FRAME_MIN_LEN..].chunks(8).enumerate() {
        let word = pattern.next_word().to_le_bytes();
        if let Some(i) = chunk.iter().zip(&word).position(|(a, b)| a != b) {
            return Err(TestFrameError::Corrupt { seq, offset: TEST_FRAME_MIN_LEN + n * 8 + i });
        }
    }
    Ok(seq)
}

/// SplitMix64, seeded by the sequence number: cheap, and different for every frame.
struct Pattern(u64);

impl Pattern {
    fn new(seq: u64) -> Pattern {
        Pattern(seq ^ 0x6d65_6d69_665f_7273) // "memif_rs"
    }

    fn next_word(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod stamp_tests {
    use super::*;

    #[test]
    fn stamped_frames_carry_their_seq() {
        let mut template = vec![0u8; 1500];
        fill_test_frame(&mut template, 0);
        let mut f = vec![0u8; 1500];
        stamp_test_frame(&mut f, &template, 77);
        assert_eq!(test_frame_seq(&f), Some(77));
        assert_eq!(f[TEST_FRAME_MIN_LEN..], template[TEST_FRAME_MIN_LEN..]);
        assert!(check_test_frame(&f).is_err());
        stamp_test_frame(&mut f, &template, 0);
        assert_eq!(check_test_frame(&f), Ok(0));
        assert_eq!(test_frame_seq(&f[..10]), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RESPONDER_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
    const RESPONDER_MAC: [u8; 6] = [0xaa; 6];
    const PINGER_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);
    const PINGER_MAC: [u8; 6] = [0x02, 0xfe, 0, 0, 0, 2];

    fn arp_request(target: Ipv4Addr) -> Vec<u8> {
        let mut buf = [0u8; 128];
        let n = build_arp_request(PINGER_MAC, PINGER_IP, target, &mut buf).unwrap();
        buf[..n].to_vec()
    }

    fn echo_request(dst_mac: [u8; 6], dst_ip: Ipv4Addr, seq: u16, size: usize) -> Vec<u8> {
        let mut buf = vec![0u8; ECHO_HEADERS_LEN + size];
        let n =
            build_echo_request(PINGER_MAC, dst_mac, PINGER_IP, dst_ip, 0x1234, seq, size, &mut buf).unwrap();
        assert_eq!(n, buf.len());
        buf
    }

    #[test]
    fn arp_request_round_trips_through_the_responder() {
        let req = arp_request(RESPONDER_IP);
        assert_eq!(req.len(), ARP_FRAME_LEN);
        assert_eq!(&req[..6], &[0xff; 6], "ARP request is broadcast");
        assert_eq!(&req[12..14], &[0x08, 0x06]);

        let mut out = [0u8; 1500];
        let (kind, n) = respond_detailed(&req, RESPONDER_IP, RESPONDER_MAC, &mut out).unwrap();
        assert_eq!(kind, Answer::ArpReply);
        let reply = &out[..n];
        assert_eq!(&reply[..6], &PINGER_MAC, "reply goes to the asker");
        assert_eq!(&reply[6..12], &RESPONDER_MAC);
        assert_eq!(parse_arp_reply(reply, RESPONDER_IP), Some(RESPONDER_MAC));
        // The reply answers for the responder only, and a request is not a reply.
        assert_eq!(parse_arp_reply(reply, PINGER_IP), None);
        assert_eq!(parse_arp_reply(&req, PINGER_IP), None);
        // The responder does not answer its own reply.
        assert_eq!(respond(reply, RESPONDER_IP, RESPONDER_MAC, &mut [0u8; 1500]), None);
    }

    #[test]
    fn arp_request_for_another_address_is_ignored() {
        let req = arp_request(Ipv4Addr::new(192, 168, 1, 3));
        assert_eq!(respond(&req, RESPONDER_IP, RESPONDER_MAC, &mut [0u8; 1500]), None);
    }

    #[test]
    fn echo_request_round_trips_with_same_id_seq_and_payload() {
        for size in [0, 1, 56, 1472, 9000] {
            let req = echo_request(RESPONDER_MAC, RESPONDER_IP, 7, size);
            let mut out = vec![0u8; 10_000];
            let (kind, n) = respond_detailed(&req, RESPONDER_IP, RESPONDER_MAC, &mut out).unwrap();
            assert_eq!(kind, Answer::EchoReply);
            assert_eq!(n, req.len());
            let reply = &out[..n];
            // Swapped MACs, and the same ICMP payload bytes.
            assert_eq!(&reply[..6], &PINGER_MAC);
            assert_eq!(&reply[6..12], &RESPONDER_MAC);
            assert_eq!(&reply[ECHO_HEADERS_LEN..], &req[ECHO_HEADERS_LEN..]);
            let r = parse_echo_reply(reply, PINGER_IP).unwrap();
            assert_eq!(
                r,
                EchoReply {
                    from: RESPONDER_IP,
                    id: 0x1234,
                    seq: 7,
                    ttl: 64,
                    len: 8 + size,
                    payload_ok: true
                }
            );
            // A request is not a reply, and a reply is not for someone else.
            assert_eq!(parse_echo_reply(&req, RESPONDER_IP), None);
            assert_eq!(parse_echo_reply(reply, RESPONDER_IP), None);
        }
    }

    #[test]
    fn echo_reply_with_changed_payload_is_flagged() {
        let req = echo_request(RESPONDER_MAC, RESPONDER_IP, 3, 56);
        let mut out = [0u8; 200];
        let n = respond(&req, RESPONDER_IP, RESPONDER_MAC, &mut out).unwrap();
        // A reply to request 3 relabelled as seq 4 (checksum recomputed by etherparse):
        // the payload is then not the one of request 4.
        let mut changed = vec![0u8; n];
        let r = parse_echo_reply(&out[..n], PINGER_IP).unwrap();
        let payload = &out[ECHO_HEADERS_LEN..n];
        PacketBuilder::ethernet2(RESPONDER_MAC, PINGER_MAC)
            .ipv4(RESPONDER_IP.octets(), PINGER_IP.octets(), 64)
            .icmpv4_echo_reply(r.id, 4)
            .write_to_slice(&mut changed, payload)
            .unwrap();
        let r4 = parse_echo_reply(&changed, PINGER_IP).unwrap();
        assert_eq!(r4.seq, 4);
        assert!(!r4.payload_ok);
    }

    #[test]
    fn echo_to_other_ip_or_mac_is_ignored() {
        let mut out = [0u8; 200];
        let to_other_ip = echo_request(RESPONDER_MAC, Ipv4Addr::new(192, 168, 1, 9), 1, 56);
        assert_eq!(respond(&to_other_ip, RESPONDER_IP, RESPONDER_MAC, &mut out), None);
        let to_other_mac = echo_request([0x02, 0, 0, 0, 0, 9], RESPONDER_IP, 1, 56);
        assert_eq!(respond(&to_other_mac, RESPONDER_IP, RESPONDER_MAC, &mut out), None);
    }

    #[test]
    fn bad_checksums_are_not_answered() {
        let mut out = [0u8; 200];
        let good = echo_request(RESPONDER_MAC, RESPONDER_IP, 1, 56);
        assert!(respond(&good, RESPONDER_IP, RESPONDER_MAC, &mut out).is_some());
        let mut bad_icmp = good.clone();
        *bad_icmp.last_mut().unwrap() ^= 0x01;
        assert_eq!(respond(&bad_icmp, RESPONDER_IP, RESPONDER_MAC, &mut out), None);
        let mut bad_ip = good.clone();
        bad_ip[ETH_HEADER_LEN + 8] ^= 0x01; // TTL, covered by the header checksum only
        assert_eq!(respond(&bad_ip, RESPONDER_IP, RESPONDER_MAC, &mut out), None);
    }

    #[test]
    fn echo_reply_checksums_match_the_builder_for_every_payload_word() {
        // every value of the one payload word, the edges of one's complement (a sum
        // of 0xffff, a checksum of 0 or 0xffff) among them
        let (mut req, mut want, mut out) = ([0u8; 44], [0u8; 44], [0u8; 44]);
        for word in 0..=u16::MAX {
            let payload = word.to_be_bytes();
            PacketBuilder::ethernet2(PINGER_MAC, RESPONDER_MAC)
                .ipv4(PINGER_IP.octets(), RESPONDER_IP.octets(), 64)
                .icmpv4_echo_request(0, 0)
                .write_to_slice(&mut req[..], &payload)
                .unwrap();
            PacketBuilder::ethernet2(RESPONDER_MAC, PINGER_MAC)
                .ipv4(RESPONDER_IP.octets(), PINGER_IP.octets(), DEFAULT_TTL)
                .icmpv4_echo_reply(0, 0)
                .write_to_slice(&mut want[..], &payload)
                .unwrap();
            assert_eq!(respond(&req, RESPONDER_IP, RESPONDER_MAC, &mut out), Some(44));
            assert_eq!(out, want, "payload {word:#06x}");
        }
    }

    #[test]
    fn padded_request_gets_an_unpadded_reply() {
        // Ethernet padding after the IPv4 total length is not ICMP payload.
        let mut req = echo_request(RESPONDER_MAC, RESPONDER_IP, 1, 4);
        let unpadded = req.len();
        req.resize(60, 0xee);
        let mut out = [0u8; 200];
        assert_eq!(respond(&req, RESPONDER_IP, RESPONDER_MAC, &mut out), Some(unpadded));
    }

    #[test]
    fn fragments_are_not_answered() {
        let mut req = echo_request(RESPONDER_MAC, RESPONDER_IP, 1, 56);
        // Set "more fragments" and fix the header checksum with etherparse.
        let ip = Ipv4Slice::from_slice(&req[ETH_HEADER_LEN..]).unwrap();
        let mut h = ip.header().to_header();
        h.more_fragments = true;
        h.header_checksum = h.calc_header_checksum();
        req[ETH_HEADER_LEN..ETH_HEADER_LEN + 20].copy_from_slice(&h.to_bytes());
        assert_eq!(respond(&req, RESPONDER_IP, RESPONDER_MAC, &mut [0u8; 200]), None);
    }

    #[test]
    fn small_output_buffer_gives_none_or_error() {
        let req = echo_request(RESPONDER_MAC, RESPONDER_IP, 1, 56);
        let mut out = vec![0u8; req.len() - 1];
        assert_eq!(respond(&req, RESPONDER_IP, RESPONDER_MAC, &mut out), None);
        assert_eq!(
            build_arp_request(PINGER_MAC, PINGER_IP, RESPONDER_IP, &mut [0u8; 41]),
            Err(BufferTooSmall { needed: 42, available: 41 })
        );
        let e =
            build_echo_request(PINGER_MAC, RESPONDER_MAC, PINGER_IP, RESPONDER_IP, 1, 1, 56, &mut [0u8; 97]);
        assert_eq!(e, Err(BufferTooSmall { needed: 98, available: 97 }));
    }

    #[test]
    fn every_truncation_of_valid_requests_is_handled() {
        let mut out = [0u8; 200];
        for frame in [arp_request(RESPONDER_IP), echo_request(RESPONDER_MAC, RESPONDER_IP, 1, 56)] {
            for cut in 0..frame.len() {
                assert_eq!(
                    respond(&frame[..cut], RESPONDER_IP, RESPONDER_MAC, &mut out),
                    None,
                    "cut at {cut}"
                );
                assert_eq!(parse_echo_reply(&frame[..cut], PINGER_IP), None);
                assert_eq!(parse_arp_reply(&frame[..cut], RESPONDER_IP), None);
            }
        }
    }

    #[test]
    fn test_frames_round_trip() {
        for len in [TEST_FRAME_MIN_LEN, 27, 60, 64, 1514, 9000] {
            for seq in [0, 1, 0xdead_beef, u64::MAX] {
                let mut buf = vec![0u8; len];
                fill_test_frame(&mut buf, seq);
                assert_eq!(&buf[..6], &TEST_DST_MAC);
                assert_eq!(&buf[6..12], &TEST_SRC_MAC);
                assert_eq!(&buf[12..14], &[0x88, 0xb5]);
                assert_eq!(check_test_frame(&buf), Ok(seq));
            }
        }
    }

    #[test]
    fn test_frame_payload_depends_on_seq() {
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        fill_test_frame(&mut a, 1);
        fill_test_frame(&mut b, 2);
        assert_ne!(a[TEST_FRAME_MIN_LEN..], b[TEST_FRAME_MIN_LEN..]);
        // Frame 1's payload under frame 2's header is caught.
        a[ETH_HEADER_LEN..ETH_HEADER_LEN + 8].copy_from_slice(&2u64.to_be_bytes());
        assert!(matches!(check_test_frame(&a), Err(TestFrameError::Corrupt { seq: 2, .. })));
    }

    #[test]
    fn damaged_test_frames_are_detected() {
        let mut frame = vec![0u8; 100];
        fill_test_frame(&mut frame, 42);
        assert_eq!(check_test_frame(&frame[..25]), Err(TestFrameError::TooShort(25)));
        assert_eq!(
            check_test_frame(&frame[..99]),
            Err(TestFrameError::LengthMismatch { seq: 42, stated: 100, actual: 99 })
        );
        let mut longer = frame.clone();
        longer.push(0);
        assert!(matches!(check_test_frame(&longer), Err(TestFrameError::LengthMismatch { .. })));
        for offset in TEST_FRAME_MIN_LEN..frame.len() {
            let mut bad = frame.clone();
            bad[offset] ^= 0x10;
            assert_eq!(check_test_frame(&bad), Err(TestFrameError::Corrupt { seq: 42, offset }));
        }
        let mut other_type = frame.clone();
        other_type[12] = 0x08;
        other_type[13] = 0x00;
        assert_eq!(check_test_frame(&other_type), Err(TestFrameError::NotATestFrame(0x0800)));
    }

    proptest! {
        #[test]
        fn echo_replies_are_the_bytes_etherparse_builds(
            id in any::<u16>(),
            seq in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..1600),
        ) {
            let mut req = vec![0u8; ECHO_HEADERS_LEN + payload.len()];
            PacketBuilder::ethernet2(PINGER_MAC, RESPONDER_MAC)
                .ipv4(PINGER_IP.octets(), RESPONDER_IP.octets(), 17)
                .icmpv4_echo_request(id, seq)
                .write_to_slice(&mut req, &payload)
                .unwrap();
            let mut want = vec![0u8; req.len()];
            PacketBuilder::ethernet2(RESPONDER_MAC, PINGER_MAC)
                .ipv4(RESPONDER_IP.octets(), PINGER_IP.octets(), DEFAULT_TTL)
                .icmpv4_echo_reply(id, seq)
                .write_to_slice(&mut want, &payload)
                .unwrap();
            let mut out = vec![0u8; 2048];
            let got = respond_detailed(&req, RESPONDER_IP, RESPONDER_MAC, &mut out);
            prop_assert_eq!(got, Some((Answer::EchoReply, want.len())));
            prop_assert_eq!(&out[..want.len()], &want[..]);
        }

        #[test]
        fn arbitrary_bytes_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut out = [0u8; 256];
            let _ = respond(&frame, RESPONDER_IP, RESPONDER_MAC, &mut out);
            let _ = parse_arp_reply(&frame, RESPONDER_IP);
            let _ = parse_echo_reply(&frame, PINGER_IP);
            let _ = check_test_frame(&frame);
        }

        #[test]
        fn mutated_echo_requests_never_panic(
            seq in any::<u16>(),
            size in 0usize..64,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
        ) {
            let mut frame = echo_request(RESPONDER_MAC, RESPONDER_IP, seq, size);
            for (at, x) in flips {
                let i = at % frame.len();
                frame[i] ^= x;
            }
            frame.truncate(cut % (frame.len() + 1));
            let mut out = [0u8; 256];
            if let Some(n) = respond(&frame, RESPONDER_IP, RESPONDER_MAC, &mut out) {
                // Whatever got answered is itself a well-formed frame.
                prop_assert!(n >= ARP_FRAME_LEN);
            }
            let _ = parse_echo_reply(&frame, PINGER_IP);
        }
    }
}
