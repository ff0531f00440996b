//! Control messages: wire structs and the [`Message`] enum.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::name::{DisconnectReason, InstanceName, InterfaceName, Secret};
use crate::{
    Mode, DISCONNECT_REASON_LEN, MAX_LOG2_RING_SIZE, MIN_LOG2_RING_SIZE, MSG_SIZE, NAME_LEN, SECRET_LEN,
};

/// Message type numbers (the u16 at offset 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum MsgType {
    /// Not a message.
    None = 0,
    /// Acknowledges the previous message.
    Ack = 1,
    /// Master to slave, first message.
    Hello = 2,
    /// Slave to master: interface id, mode, secret.
    Init = 3,
    /// Slave to master: a shared memory region (fd attached).
    AddRegion = 4,
    /// Slave to master: a ring (interrupt eventfd attached).
    AddRing = 5,
    /// Slave to master: all sent, connect.
    Connect = 6,
    /// Master to slave: connected.
    Connected = 7,
    /// Either way: the connection is being torn down.
    Disconnect = 8,
}

impl MsgType {
    /// Type from its wire value.
    pub fn from_u16(v: u16) -> Option<MsgType> {
        Some(match v {
            0 => MsgType::None,
            1 => MsgType::Ack,
            2 => MsgType::Hello,
            3 => MsgType::Init,
            4 => MsgType::AddRegion,
            5 => MsgType::AddRing,
            6 => MsgType::Connect,
            7 => MsgType::Connected,
            8 => MsgType::Disconnect,
            _ => return None,
        })
    }
}

/// The 128-byte message as it is on the wire: a type, then a body.
#[derive(Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawMessage {
    /// Message type.
    pub msg_type: U16,
    /// Type-specific body; bytes past the type's fields are zero when we send.
    pub body: [u8; MSG_SIZE - 2],
}

/// HELLO body, as on the wire.
#[derive(Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct HelloWire {
    /// Master's instance name.
    pub name: [u8; NAME_LEN],
    /// Lowest version the master speaks.
    pub min_version: U16,
    /// Highest version the master speaks.
    pub max_version: U16,
    /// Largest region index the master accepts.
    pub max_region: U16,
    /// Largest M2S ring index the master accepts.
    pub max_m2s_ring: U16,
    /// Largest S2M ring index the master accepts.
    pub max_s2m_ring: U16,
    /// Largest log2 ring size the master accepts.
    pub max_log2_ring_size: u8,
}

/// INIT body, as on the wire.
#[derive(Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct InitWire {
    /// Version the slave speaks.
    pub version: U16,
    /// Interface id.
    pub id: U32,
    /// Interface mode.
    pub mode: u8,
    /// Shared secret.
    pub secret: [u8; SECRET_LEN],
    /// Slave's instance name.
    pub name: [u8; NAME_LEN],
}

/// ADD_REGION body, as on the wire.
#[derive(Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct AddRegionWire {
    /// Region index.
    pub index: U16,
    /// Region size in bytes.
    pub size: U64,
}

/// ADD_RING body, as on the wire.
#[derive(Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct AddRingWire {
    /// Bit 0: S2M.
    pub flags: U16,
    /// Ring index within its direction.
    pub index: U16,
    /// Region holding the ring.
    pub region: U16,
    /// Offset of the ring header in that region.
    pub offset: U32,
    /// log2 of the number of descriptors.
    pub log2_ring_size: u8,
    /// Private header size; must be 0.
    pub private_hdr_size: U16,
}

/// CONNECT and CONNECTED body, as on the wire.
#[derive(Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ConnectWire {
    /// Interface name of the sender.
    pub if_name: [u8; NAME_LEN],
}

/// DISCONNECT body, as on the wire.
#[derive(Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct DisconnectWire {
    /// Reason code.
    pub code: U32,
    /// Reason string.
    pub reason: [u8; DISCONNECT_REASON_LEN],
}

const _: () = {
    assert!(core::mem::size_of::<RawMessage>() == MSG_SIZE);
    assert!(core::mem::size_of::<HelloWire>() == 43);
    assert!(core::mem::size_of::<InitWire>() == 63);
    assert!(core::mem::size_of::<AddRegionWire>() == 10);
    assert!(core::mem::size_of::<AddRingWire>() == 13);
    assert!(core::mem::size_of::<ConnectWire>() == 32);
    assert!(core::mem::size_of::<DisconnectWire>() == 100);
    assert!(core::mem::offset_of!(HelloWire, max_log2_ring_size) + 2 == 44);
    assert!(core::mem::offset_of!(InitWire, name) + 2 == 33);
    assert!(core::mem::offset_of!(AddRingWire, private_hdr_size) + 2 == 13);
    assert!(core::mem::offset_of!(DisconnectWire, reason) + 2 == 6);
};

/// ADD_RING flag: the ring is S2M (else M2S).
pub const ADD_RING_FLAG_S2M: u16 = 1;

/// HELLO: the master's name, versions and limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Master's instance name.
    pub name: InstanceName,
    /// Lowest version the master speaks.
    pub min_version: u16,
    /// Highest version the master speaks.
    pub max_version: u16,
    /// Largest region index the master accepts.
    pub max_region: u16,
    /// Largest M2S ring index the master accepts.
    pub max_m2s_ring: u16,
    /// Largest S2M ring index the master accepts.
    pub max_s2m_ring: u16,
    /// Largest log2 ring size the master accepts.
    pub max_log2_ring_size: u8,
}

impl Default for Hello {
    fn default() -> Self {
        Hello {
            name: InstanceName::default(),
            min_version: crate::VERSION,
            max_version: crate::VERSION,
            max_region: crate::DEFAULT_MAX_REGIONS,
            max_m2s_ring: crate::DEFAULT_MAX_RINGS,
            max_s2m_ring: crate::DEFAULT_MAX_RINGS,
            max_log2_ring_size: MAX_LOG2_RING_SIZE,
        }
    }
}

/// INIT: which interface the slave wants, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Init {
    /// Version the slave speaks.
    pub version: u16,
    /// Interface id.
    pub id: u32,
    /// Interface mode.
    pub mode: Mode,
    /// Shared secret (empty: none).
    pub secret: Secret,
    /// Slave's instance name.
    pub name: InstanceName,
}

/// ADD_REGION: a shared memory region (its memfd travels with the message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddRegion {
    /// Region index.
    pub index: u16,
    /// Region size in bytes.
    pub size: u64,
}

/// ADD_RING: a ring (its interrupt eventfd travels with the message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddRing {
    /// Direction.
    pub direction: crate::Direction,
    /// Ring index within its direction.
    pub index: u16,
    /// Region holding the ring.
    pub region: u16,
    /// Offset of the ring header in that region.
    pub offset: u32,
    /// log2 of the number of descriptors, 1..=14.
    pub log2_ring_size: u8,
}

/// DISCONNECT: why the sender ends the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disconnect {
    /// Reason code (0 in every implementation seen).
    pub code: u32,
    /// Reason text.
    pub reason: DisconnectReason,
}

/// A parsed control message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    /// ACK.
    Ack,
    /// HELLO.
    Hello(Hello),
    /// INIT.
    Init(Init),
    /// ADD_REGION.
    AddRegion(AddRegion),
    /// ADD_RING.
    AddRing(AddRing),
    /// CONNECT with the slave's interface name.
    Connect(InterfaceName),
    /// CONNECTED with the master's interface name.
    Connected(InterfaceName),
    /// DISCONNECT.
    Disconnect(Disconnect),
}

/// Why bytes are not a valid control message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// Not exactly 128 bytes.
    #[error("control message is {0} bytes long, expected exactly 128")]
    Length(usize),
    /// A type number the protocol does not define.
    #[error("unknown control message type {0}")]
    UnknownType(u16),
    /// Type 0, which is not a message.
    #[error("control message of type NONE")]
    NoneType,
    /// INIT mode outside ethernet/ip/punt-inject.
    #[error("invalid interface mode {0}")]
    InvalidMode(u8),
    /// ADD_RING flags with bits other than S2M.
    #[error("invalid ADD_RING flags {0:#x}")]
    InvalidRingFlags(u16),
    /// ADD_RING log2 ring size outside 1..=14.
    #[error("log2 ring size {0} outside 1..=14")]
    InvalidRingSize(u8),
    /// ADD_RING private header size not 0.
    #[error("private header size {0} is not supported (must be 0)")]
    PrivateHeader(u16),
}

impl Message {
    /// The message's type.
    pub fn msg_type(&self) -> MsgType {
        match self {
            Message::Ack => MsgType::Ack,
            Message::Hello(_) => MsgType::Hello,
            Message::Init(_) => MsgType::Init,
            Message::AddRegion(_) => MsgType::AddRegion,
            Message::AddRing(_) => MsgType::AddRing,
            Message::Connect(_) => MsgType::Connect,
            Message::Connected(_) => MsgType::Connected,
            Message::Disconnect(_) => MsgType::Disconnect,
        }
    }

    /// Parses one control message. Never panics; every byte outside the fields of the
    /// message's type is ignored (libmemif leaves garbage there).
    pub fn parse(bytes: &[u8]) -> Result<Message, ProtoError> {
        let raw = RawMessage::read_from_bytes(bytes).map_err(|_| ProtoError::Length(bytes.len()))?;
        let t = raw.msg_type.get();
        let body = &raw.body[..];
        // Every body struct is shorter than the 126-byte body, so read_from_prefix cannot
        // fail; the error arm is still handled rather than unwrapped.
        macro_rules! body {
            ($ty:ty) => {
                <$ty>::read_from_prefix(body).map_err(|_| ProtoError::Length(bytes.len()))?.0
            };
        }
        Ok(match MsgType::from_u16(t).ok_or(ProtoError::UnknownType(t))? {
            MsgType::None => return Err(ProtoError::NoneType),
            MsgType::Ack => Message::Ack,
            MsgType::Hello => {
                let w = body!(HelloWire);
                Message::Hello(Hello {
                    name: InstanceName::from_wire(&w.name),
                    min_version: w.min_version.get(),
                    max_version: w.max_version.get(),
                    max_region: w.max_region.get(),
                    max_m2s_ring: w.max_m2s_ring.get(),
                    max_s2m_ring: w.max_s2m_ring.get(),
                    max_log2_ring_size: w.max_log2_ring_size,
                })
            }
            MsgType::Init => {
                let w = body!(InitWire);
                Message::Init(Init {
                    version: w.version.get(),
                    id: w.id.get(),
                    mode: Mode::from_u8(w.mode).ok_or(ProtoError::InvalidMode(w.mode))?,
                    secret: Secret::from_wire(&w.secret),
                    name: InstanceName::from_wire(&w.name),
                })
            }
            MsgType::AddRegion => {
                let w = body!(AddRegionWire);
                Message::AddRegion(AddRegion { index: w.index.get(), size: w.size.get() })
            }
            MsgType::AddRing => {
                let w = body!(AddRingWire);
                let flags = w.flags.get();
                if flags & !ADD_RING_FLAG_S2M != 0 {
                    return Err(ProtoError::InvalidRingFlags(flags));
                }
                if !(MIN_LOG2_RING_SIZE..=MAX_LOG2_RING_SIZE).contains(&w.log2_ring_size) {
                    return Err(ProtoError::InvalidRingSize(w.log2_ring_size));
                }
                if w.private_hdr_size.get() != 0 {
                    return Err(ProtoError::PrivateHeader(w.private_hdr_size.get()));
                }
                Message::AddRing(AddRing {
                    direction: if flags & ADD_RING_FLAG_S2M != 0 {
                        crate::Direction::S2M
                    } else {
                        crate::Direction::M2S
                    },
                    index: w.index.get(),
                    region: w.region.get(),
                    offset: w.offset.get(),
                    log2_ring_size: w.log2_ring_size,
                })
            }
            MsgType::Connect => Message::Connect(InterfaceName::from_wire(&body!(ConnectWire).if_name)),
            MsgType::Connected => Message::Connected(InterfaceName::from_wire(&body!(ConnectWire).if_name)),
            MsgType::Disconnect => {
                let w = body!(DisconnectWire);
                Message::Disconnect(Disconnect {
                    code: w.code.get(),
                    reason: DisconnectReason::from_wire(&w.reason),
                })
            }
        })
    }

    /// Encodes the message into its 128 wire bytes; every unused byte is zero.
    pub fn encode(&self) -> [u8; MSG_SIZE] {
        let mut raw = RawMessage { msg_type: U16::new(self.msg_type() as u16), body: [0; MSG_SIZE - 2] };
        fn put<T: IntoBytes + Immutable>(body: &mut [u8], v: &T) {
            let b = v.as_bytes();
            body[..b.len()].copy_from_slice(b);
        }
        match self {
            Message::Ack => {}
            Message::Hello(h) => put(
                &mut raw.body,
                &HelloWire {
                    name: h.name.to_wire(),
                    min_version: h.min_version.into(),
                    max_version: h.max_version.into(),
                    max_region: h.max_region.into(),
                    max_m2s_ring: h.max_m2s_ring.into(),
                    max_s2m_ring: h.max_s2m_ring.into(),
                    max_log2_ring_size: h.max_log2_ring_size,
                },
            ),
            Message::Init(i) => put(
                &mut raw.body,
                &InitWire {
                    version: i.version.into(),
                    id: i.id.into(),
                    mode: i.mode as u8,
                    secret: i.secret.to_wire(),
                    name: i.name.to_wire(),
                },
            ),
            Message::AddRegion(r) => {
                put(&mut raw.body, &AddRegionWire { index: r.index.into(), size: r.size.into() })
            }
            Message::AddRing(r) => put(
                &mut raw.body,
                &AddRingWire {
                    flags: U16::new(if r.direction == crate::Direction::S2M { ADD_RING_FLAG_S2M } else { 0 }),
                    index: r.index.into(),
                    region: r.region.into(),
                    offset: r.offset.into(),
                    log2_ring_size: r.log2_ring_size,
                    private_hdr_size: U16::new(0),
                },
            ),
            Message::Connect(n) | Message::Connected(n) => {
                put(&mut raw.body, &ConnectWire { if_name: n.to_wire() })
            }
            Message::Disconnect(d) => {
                put(&mut raw.body, &DisconnectWire { code: d.code.into(), reason: d.reason.to_wire() })
            }
        }
        let mut out = [0u8; MSG_SIZE];
        out.copy_from_slice(raw.as_bytes());
        out
    }
}
