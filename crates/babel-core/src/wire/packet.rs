//! The packet: header, body and trailer (RFC 8966 §4.2, RFC 8967 §4.1).

use std::net::Ipv6Addr;

use super::error::{PacketError, TlvError};
use super::tlv::{parse_tlv, ParseState, Tlv, TlvIter};

pub const MAGIC: u8 = 42;
pub const VERSION: u8 = 2;
pub const HEADER_LEN: usize = 4;
/// The well-known port and multicast group (RFC 8966 §5).
pub const PORT: u16 = 6696;
pub const MULTICAST_GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 6);

/// A checked view over a Babel datagram: the header has been validated once, and the body and
/// trailer can be read without further bounds checks.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    body_len: usize,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// RFC 8966 §4.2: magic 42, version 2, and a body length that fits in the datagram; any
    /// other datagram is to be silently ignored.
    pub fn new_checked(buffer: T) -> Result<Self, PacketError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(PacketError::TooShort { len: b.len() });
        }
        if b[0] != MAGIC {
            return Err(PacketError::BadMagic(b[0]));
        }
        if b[1] != VERSION {
            return Err(PacketError::BadVersion(b[1]));
        }
        let body_len = u16::from_be_bytes([b[2], b[3]]) as usize;
        if body_len > b.len() - HEADER_LEN {
            return Err(PacketError::BodyOverrun {
                body_len,
                available: b.len() - HEADER_LEN,
            });
        }
        Ok(Packet { buffer, body_len })
    }

    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + self.body_len]
    }

    /// RFC 8967 §4.1: the bytes after the body, where MAC TLVs live.
    pub fn trailer(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN + self.body_len..]
    }

    /// Header and body: the part a MAC covers, with the pseudo-header.
    pub fn header_and_body(&self) -> &[u8] {
        &self.buffer.as_ref()[..HEADER_LEN + self.body_len]
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// Where in the packet an error was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedError {
    /// `true` for the trailer, `false` for the body.
    pub in_trailer: bool,
    /// Byte offset of the TLV inside its area.
    pub offset: usize,
    pub error: TlvError,
}

/// Everything in one packet, for tools and tests. The engine uses [`for_each_tlv`] instead.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedPacket {
    pub tlvs: Vec<Tlv>,
    pub trailer: Vec<Tlv>,
    pub errors: Vec<LocatedError>,
}

/// Walks the body's TLVs in order with the packet's parse state, calling `f` with each TLV or
/// with the reason it was ignored. Parsing goes on after an ignored TLV, except after one
/// that overruns the body.
pub fn for_each_tlv(
    body: &[u8],
    src: Option<Ipv6Addr>,
    mut f: impl FnMut(usize, Result<Tlv, TlvError>),
) {
    let mut state = ParseState::new(src);
    let mut iter = TlvIter::new(body);
    loop {
        let offset = iter.offset();
        match iter.next() {
            None => break,
            Some(Ok(raw)) => f(offset, parse_tlv(raw, &mut state)),
            Some(Err(e)) => {
                f(offset, Err(e));
                break;
            }
        }
    }
}

/// Parses a whole datagram: header, body with its parse state, and trailer.
pub fn parse_packet(bytes: &[u8], src: Option<Ipv6Addr>) -> Result<ParsedPacket, PacketError> {
    let packet = Packet::new_checked(bytes)?;
    let mut out = ParsedPacket::default();
    for_each_tlv(packet.body(), src, |offset, r| match r {
        Ok(tlv) => out.tlvs.push(tlv),
        Err(error) => out.errors.push(LocatedError {
            in_trailer: false,
            offset,
            error,
        }),
    });
    // The trailer carries its own TLVs (MAC, padding) and no parse state.
    for_each_tlv(packet.trailer(), None, |offset, r| match r {
        Ok(tlv) => out.trailer.push(tlv),
        Err(error) => out.errors.push(LocatedError {
            in_trailer: true,
            offset,
            error,
        }),
    });
    Ok(out)
}
