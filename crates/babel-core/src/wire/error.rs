//! Typed errors of the wire format.

use std::fmt;

/// Why a whole packet was rejected (RFC 8966 §4.2: such packets are silently ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketError {
    /// Shorter than the 4-octet header.
    TooShort { len: usize },
    /// Magic is not 42.
    BadMagic(u8),
    /// Version is not 2.
    BadVersion(u8),
    /// The body length field points past the end of the datagram.
    BodyOverrun { body_len: usize, available: usize },
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketError::TooShort { len } => {
                write!(f, "packet of {len} bytes is shorter than the 4-byte header")
            }
            PacketError::BadMagic(m) => write!(f, "bad magic {m} (expected 42)"),
            PacketError::BadVersion(v) => write!(f, "unsupported version {v} (expected 2)"),
            PacketError::BodyOverrun {
                body_len,
                available,
            } => write!(
                f,
                "body length {body_len} is larger than the {available} bytes after the header"
            ),
        }
    }
}

impl std::error::Error for PacketError {}

/// Why one TLV was ignored. Only [`TlvError::Truncated`] stops the parsing of the rest of
/// its area; every other error skips just that TLV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlvError {
    /// The TLV's length runs past the end of the body or trailer.
    Truncated { tlv_type: u8 },
    /// The body is shorter than the TLV's fixed fields or address.
    TooShort { tlv_type: u8 },
    /// An address encoding that is unknown, or not allowed in this TLV.
    UnknownAe { tlv_type: u8, ae: u8 },
    /// A prefix length longer than the address, or not allowed for the AE.
    BadPlen { tlv_type: u8, ae: u8, plen: u8 },
    /// More omitted octets than the address has.
    OmittedTooLong { tlv_type: u8, omitted: u8 },
    /// Omitted octets with no default prefix set earlier in the packet.
    NoDefaultPrefix { tlv_type: u8 },
    /// A sub-TLV area that cannot be framed, or a malformed known sub-TLV.
    BadSubTlv { tlv_type: u8 },
    /// RFC 8966 §4.4: a sub-TLV we do not know with the mandatory bit set.
    UnknownMandatorySubTlv { tlv_type: u8, sub_type: u8 },
    /// A router-id of all zeroes or all ones.
    InvalidRouterId,
    /// An AE 0 (wildcard) update that is not a retraction.
    WildcardNotRetraction,
}

impl TlvError {
    /// Whether the rest of the area is lost too.
    pub fn is_fatal(&self) -> bool {
        matches!(self, TlvError::Truncated { .. })
    }

    pub fn tlv_type(&self) -> Option<u8> {
        match self {
            TlvError::Truncated { tlv_type }
            | TlvError::TooShort { tlv_type }
            | TlvError::UnknownAe { tlv_type, .. }
            | TlvError::BadPlen { tlv_type, .. }
            | TlvError::OmittedTooLong { tlv_type, .. }
            | TlvError::NoDefaultPrefix { tlv_type }
            | TlvError::BadSubTlv { tlv_type }
            | TlvError::UnknownMandatorySubTlv { tlv_type, .. } => Some(*tlv_type),
            TlvError::InvalidRouterId => Some(super::tlv::tlv_type::ROUTER_ID),
            TlvError::WildcardNotRetraction => Some(super::tlv::tlv_type::UPDATE),
        }
    }
}

impl fmt::Display for TlvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlvError::Truncated { tlv_type } => {
                write!(f, "TLV type {tlv_type} runs past the end of the packet")
            }
            TlvError::TooShort { tlv_type } => write!(f, "TLV type {tlv_type} is too short"),
            TlvError::UnknownAe { tlv_type, ae } => write!(
                f,
                "TLV type {tlv_type}: unknown or disallowed address encoding {ae}"
            ),
            TlvError::BadPlen { tlv_type, ae, plen } => write!(
                f,
                "TLV type {tlv_type}: prefix length {plen} invalid for AE {ae}"
            ),
            TlvError::OmittedTooLong { tlv_type, omitted } => write!(
                f,
                "TLV type {tlv_type}: {omitted} omitted octets is more than the address"
            ),
            TlvError::NoDefaultPrefix { tlv_type } => write!(
                f,
                "TLV type {tlv_type}: omitted octets but no default prefix"
            ),
            TlvError::BadSubTlv { tlv_type } => write!(f, "TLV type {tlv_type}: malformed sub-TLV"),
            TlvError::UnknownMandatorySubTlv { tlv_type, sub_type } => write!(
                f,
                "TLV type {tlv_type} ignored: unknown mandatory sub-TLV {sub_type}"
            ),
            TlvError::InvalidRouterId => write!(f, "router-id of all zeroes or all ones"),
            TlvError::WildcardNotRetraction => {
                write!(f, "wildcard update with a finite metric")
            }
        }
    }
}

impl std::error::Error for TlvError {}

/// Why the encoder could not emit a TLV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmitError {
    /// The TLV does not fit in an empty packet of the configured size.
    TooLarge { needed: usize, max: usize },
    /// The TLV cannot be expressed on the wire (a non-wildcard update without router-id, a
    /// body longer than 255 octets, a source prefix on a wildcard, ...).
    Invalid(&'static str),
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitError::TooLarge { needed, max } => {
                write!(f, "TLV of {needed} bytes does not fit in a packet of {max}")
            }
            EmitError::Invalid(why) => write!(f, "cannot encode TLV: {why}"),
        }
    }
}

impl std::error::Error for EmitError {}
