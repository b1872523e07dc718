//! The Babel wire format: packets, TLVs, sub-TLVs and prefix compression.
//!
//! Three layers, each easy to test and fuzz on its own:
//! - [`Packet`]: a checked view over a datagram (header, body, trailer);
//! - [`TlvIter`]: the stateless framing of TLVs inside the body or trailer;
//! - [`parse_tlv`] with a [`ParseState`]: interprets one TLV, undoing prefix compression and
//!   carrying the current router-id and next hops across the packet.
//!
//! [`Encoder`] goes the other way and splits at the interface MTU.

mod encode;
mod error;
mod packet;
mod tlv;
mod types;

pub use encode::{emit_stateless, max_payload_for_mtu, Encoder};
pub use error::{EmitError, PacketError, TlvError};
pub use packet::{
    for_each_tlv, parse_packet, LocatedError, Packet, ParsedPacket, HEADER_LEN, MAGIC,
    MULTICAST_GROUP, PORT, VERSION,
};
pub use tlv::{
    ae, parse_tlv, subtlv_type, tlv_type, Ack, AckRequest, Hello, Ihu, IhuTimestamps, ParseState,
    Pc, RawTlv, RouteRequest, SeqnoRequest, Tlv, TlvIter, UnknownSubTlv, Update,
    HELLO_FLAG_UNICAST, INFINITY, UPDATE_FLAG_DEFAULT_PREFIX, UPDATE_FLAG_ROUTER_ID,
};
pub use types::{Prefix, PrefixError, RouterId};

#[cfg(test)]
mod tests;
