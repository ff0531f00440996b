//! Checked fixed-size string fields.

use core::fmt;

/// Why a string does not fit a wire field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The string is longer than the field allows (one byte is kept for the NUL that C
    /// peers expect).
    #[error("{what} is {len} bytes long; at most {max} bytes fit")]
    TooLong {
        /// Which field.
        what: &'static str,
        /// The length given.
        len: usize,
        /// The longest accepted.
        max: usize,
    },
    /// The string contains a NUL byte, which would end it early on the wire.
    #[error("{what} contains a NUL byte")]
    InteriorNul {
        /// Which field.
        what: &'static str,
    },
}

/// A string stored in an `N`-byte wire field.
///
/// Built by [`FixedStr::new`], it holds at most `N - 1` bytes and no NUL, so C peers,
/// which look for a NUL inside the field, always find one. Parsed from the wire it holds
/// the bytes up to the first NUL, or all `N` bytes when the peer filled the field.
/// The bytes need not be UTF-8: see [`FixedStr::to_string_lossy`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FixedStr<const N: usize> {
    bytes: [u8; N],
    len: u8,
}

impl<const N: usize> Default for FixedStr<N> {
    fn default() -> Self {
        FixedStr { bytes: [0; N], len: 0 }
    }
}

impl<const N: usize> FixedStr<N> {
    const WHAT: &'static str = match N {
        crate::SECRET_LEN => "secret",
        crate::DISCONNECT_REASON_LEN => "disconnect reason",
        _ => "name",
    };

    /// The longest string, in bytes, that [`FixedStr::new`] accepts.
    pub const MAX_LEN: usize = N - 1;

    /// A field holding `s`; refuses strings longer than `N - 1` bytes or with a NUL.
    pub fn new(s: &str) -> Result<Self, NameError> {
        Self::from_bytes(s.as_bytes())
    }

    /// Like [`FixedStr::new`] for raw bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self, NameError> {
        if b.len() > Self::MAX_LEN {
            return Err(NameError::TooLong { what: Self::WHAT, len: b.len(), max: Self::MAX_LEN });
        }
        if b.contains(&0) {
            return Err(NameError::InteriorNul { what: Self::WHAT });
        }
        Ok(Self::from_wire_prefix(b))
    }

    /// A field built from `s`, cut at a UTF-8 character boundary to fit: for texts
    /// where losing the end is better than losing the message (disconnect reasons).
    pub fn truncated(s: &str) -> Self {
        let s = s.split('\0').next().unwrap_or("");
        let mut end = s.len().min(Self::MAX_LEN);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        Self::from_wire_prefix(&s.as_bytes()[..end])
    }

    /// Reads a wire field: up to the first NUL, or the whole field.
    pub fn from_wire(field: &[u8; N]) -> Self {
        let len = field.iter().position(|&c| c == 0).unwrap_or(N);
        Self::from_wire_prefix(&field[..len])
    }

    fn from_wire_prefix(b: &[u8]) -> Self {
        let mut bytes = [0u8; N];
        let len = b.len().min(N);
        bytes[..len].copy_from_slice(&b[..len]);
        // N is at most 96 (checked at compile time below), so len fits in a u8.
        FixedStr { bytes, len: len as u8 }
    }

    /// The field as written on the wire: the bytes, then zeroes.
    pub fn to_wire(&self) -> [u8; N] {
        self.bytes
    }

    /// The string's bytes, without the NUL padding.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The string, with invalid UTF-8 replaced.
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(self.as_bytes()).into_owned()
    }

    /// Compares with `other` in time that depends only on the field size, not on where
    /// the two differ: for secrets.
    pub fn ct_eq(&self, other: &Self) -> bool {
        let mut diff = self.len ^ other.len;
        for i in 0..N {
            diff |= self.bytes[i] ^ other.bytes[i];
        }
        core::hint::black_box(diff) == 0
    }
}

const _: () = assert!(crate::DISCONNECT_REASON_LEN < 256);

impl<const N: usize> fmt::Debug for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

impl<const N: usize> fmt::Display for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl<const N: usize> core::str::FromStr for FixedStr<N> {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        Self::new(s)
    }
}

/// An interface name (CONNECT / CONNECTED), 32-byte field.
pub type InterfaceName = FixedStr<{ crate::NAME_LEN }>;
/// An instance name (HELLO, INIT), 32-byte field.
pub type InstanceName = FixedStr<{ crate::NAME_LEN }>;
/// A shared secret (INIT), 24-byte field.
pub type Secret = FixedStr<{ crate::SECRET_LEN }>;
/// The reason string of a DISCONNECT, 96-byte field.
pub type DisconnectReason = FixedStr<{ crate::DISCONNECT_REASON_LEN }>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_too_long() {
        assert!(InterfaceName::new(&"a".repeat(31)).is_ok());
        assert_eq!(
            InterfaceName::new(&"a".repeat(32)),
            Err(NameError::TooLong { what: "name", len: 32, max: 31 })
        );
        assert!(matches!(Secret::new(&"s".repeat(24)), Err(NameError::TooLong { what: "secret", .. })));
        assert!(matches!(InterfaceName::new("a\0b"), Err(NameError::InteriorNul { .. })));
    }

    #[test]
    fn wire_reads_to_nul_or_whole() {
        let mut f = [b'x'; 32];
        assert_eq!(InterfaceName::from_wire(&f).as_bytes(), &[b'x'; 32][..]);
        f[3] = 0;
        f[5] = b'!'; // garbage after the NUL is ignored
        assert_eq!(InterfaceName::from_wire(&f).as_bytes(), b"xxx");
    }

    #[test]
    fn truncated_keeps_char_boundaries() {
        let s = "é".repeat(60);
        let r = DisconnectReason::truncated(&s);
        assert!(r.len() <= 95);
        assert!(std::str::from_utf8(r.as_bytes()).is_ok());
    }

    #[test]
    fn ct_eq() {
        let a = Secret::new("abc").unwrap();
        assert!(a.ct_eq(&Secret::new("abc").unwrap()));
        assert!(!a.ct_eq(&Secret::new("abd").unwrap()));
        assert!(!a.ct_eq(&Secret::new("ab").unwrap()));
        assert!(!a.ct_eq(&Secret::default()));
    }
}
