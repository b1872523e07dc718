//! TLV and sub-TLV types (RFC 8966 §4.3–§4.6, RFC 8967, RFC 9079, RFC 9229, RFC 9616),
//! the stateless TLV iterator, and the small parse state that undoes prefix compression
//! and carries the current router-id and next hop across the TLVs of one packet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::TlvError;
use super::types::{Prefix, RouterId};

/// TLV type numbers.
pub mod tlv_type {
    pub const PAD1: u8 = 0;
    pub const PADN: u8 = 1;
    pub const ACK_REQUEST: u8 = 2;
    pub const ACK: u8 = 3;
    pub const HELLO: u8 = 4;
    pub const IHU: u8 = 5;
    pub const ROUTER_ID: u8 = 6;
    pub const NEXT_HOP: u8 = 7;
    pub const UPDATE: u8 = 8;
    pub const ROUTE_REQUEST: u8 = 9;
    pub const SEQNO_REQUEST: u8 = 10;
    /// RFC 8967 §6.1.
    pub const MAC: u8 = 16;
    /// RFC 8967 §6.2.
    pub const PC: u8 = 17;
    /// RFC 8967 §6.3.
    pub const CHALLENGE_REQUEST: u8 = 18;
    /// RFC 8967 §6.4.
    pub const CHALLENGE_REPLY: u8 = 19;
}

/// Sub-TLV type numbers.
pub mod subtlv_type {
    pub const PAD1: u8 = 0;
    pub const PADN: u8 = 1;
    /// RFC 9616 §3.
    pub const TIMESTAMP: u8 = 3;
    /// RFC 9079 §7.1 (mandatory bit set).
    pub const SOURCE_PREFIX: u8 = 128;
}

/// Address encodings (RFC 8966 §4.1.5, RFC 9229 §2.1).
pub mod ae {
    pub const WILDCARD: u8 = 0;
    pub const IPV4: u8 = 1;
    pub const IPV6: u8 = 2;
    pub const IPV6_LINK_LOCAL: u8 = 3;
    pub const V4_VIA_V6: u8 = 4;
}

/// Update flag: this update's prefix becomes the default prefix of its AE (RFC 8966 §4.6.9).
pub const UPDATE_FLAG_DEFAULT_PREFIX: u8 = 0x80;
/// Update flag: the router-id is taken from the low 8 octets of the prefix (RFC 8966 §4.6.9).
pub const UPDATE_FLAG_ROUTER_ID: u8 = 0x40;
/// Hello flag: unicast hello (RFC 8966 §4.6.5).
pub const HELLO_FLAG_UNICAST: u16 = 0x8000;

/// The metric that means "unreachable" (RFC 8966 §2.1).
pub const INFINITY: u16 = 0xFFFF;

/// A sub-TLV that this implementation does not interpret, kept as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSubTlv {
    pub sub_type: u8,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckRequest {
    pub opaque: u16,
    /// Centiseconds.
    pub interval: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub opaque: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Raw flags; [`HELLO_FLAG_UNICAST`] is the only one defined.
    pub flags: u16,
    pub seqno: u16,
    /// Centiseconds; 0 for an unscheduled hello.
    pub interval: u16,
    /// RFC 9616: the sender's transmit time in microseconds.
    pub timestamp: Option<u32>,
    pub unknown_subtlvs: Vec<UnknownSubTlv>,
}

impl Hello {
    pub fn is_unicast(&self) -> bool {
        self.flags & HELLO_FLAG_UNICAST != 0
    }
}

/// RFC 9616 §3.2: the timestamps carried by an IHU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IhuTimestamps {
    /// The transmit timestamp of the hello being answered.
    pub origin: u32,
    /// When that hello was received, in the IHU sender's clock.
    pub receive: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ihu {
    pub rxcost: u16,
    /// Centiseconds.
    pub interval: u16,
    /// The neighbour this IHU is about; `None` for AE 0 (whoever receives it).
    pub addr: Option<IpAddr>,
    pub timestamps: Option<IhuTimestamps>,
    pub unknown_subtlvs: Vec<UnknownSubTlv>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// Raw flags as received. The encoder recomputes [`UPDATE_FLAG_DEFAULT_PREFIX`] and
    /// [`UPDATE_FLAG_ROUTER_ID`] itself and keeps the other bits.
    pub flags: u8,
    /// Centiseconds.
    pub interval: u16,
    pub seqno: u16,
    pub metric: u16,
    /// `None` is AE 0: a wildcard retraction of every route of the sender.
    pub prefix: Option<Prefix>,
    /// RFC 9079 source prefix.
    pub src_prefix: Option<Prefix>,
    /// The current router-id when the update was parsed; required to emit a non-wildcard update.
    pub router_id: Option<RouterId>,
    /// The next hop that applies: an IPv6 next hop for an IPv4 prefix is RFC 9229 v4-via-v6.
    /// When parsing, an IPv6 next hop defaults to the packet's source address. When emitting,
    /// `None` means the packet's source address.
    pub next_hop: Option<IpAddr>,
    pub unknown_subtlvs: Vec<UnknownSubTlv>,
}

impl Update {
    pub fn is_retraction(&self) -> bool {
        self.metric == INFINITY
    }

    /// RFC 9229: an IPv4 prefix with an IPv6 next hop.
    pub fn is_v4_via_v6(&self) -> bool {
        matches!((self.prefix, self.next_hop), (Some(p), Some(IpAddr::V6(_))) if p.is_v4())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRequest {
    /// `None` is AE 0: a wildcard request for a full dump.
    pub prefix: Option<Prefix>,
    pub src_prefix: Option<Prefix>,
    pub unknown_subtlvs: Vec<UnknownSubTlv>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqnoRequest {
    pub seqno: u16,
    pub hop_count: u8,
    pub router_id: RouterId,
    pub prefix: Prefix,
    pub src_prefix: Option<Prefix>,
    pub unknown_subtlvs: Vec<UnknownSubTlv>,
}

/// RFC 8967 §6.2 packet counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pc {
    pub pc: u32,
    pub index: Vec<u8>,
}

/// One Babel TLV, after prefix compression has been undone and the packet's parse state applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tlv {
    Pad1,
    /// PadN with this many octets of body.
    PadN(u8),
    AckRequest(AckRequest),
    Ack(Ack),
    Hello(Hello),
    Ihu(Ihu),
    RouterId(RouterId),
    NextHop(IpAddr),
    Update(Update),
    RouteRequest(RouteRequest),
    SeqnoRequest(SeqnoRequest),
    Mac(Vec<u8>),
    Pc(Pc),
    ChallengeRequest(Vec<u8>),
    ChallengeReply(Vec<u8>),
    /// RFC 8966 §4.3: an unknown TLV is kept and otherwise ignored.
    Unknown {
        tlv_type: u8,
        body: Vec<u8>,
    },
}

impl Tlv {
    /// The name used by `babelctl decode`.
    pub fn name(&self) -> &'static str {
        match self {
            Tlv::Pad1 => "pad1",
            Tlv::PadN(_) => "padn",
            Tlv::AckRequest(_) => "ack_request",
            Tlv::Ack(_) => "ack",
            Tlv::Hello(_) => "hello",
            Tlv::Ihu(_) => "ihu",
            Tlv::RouterId(_) => "router_id",
            Tlv::NextHop(_) => "next_hop",
            Tlv::Update(_) => "update",
            Tlv::RouteRequest(_) => "route_request",
            Tlv::SeqnoRequest(_) => "seqno_request",
            Tlv::Mac(_) => "mac",
            Tlv::Pc(_) => "pc",
            Tlv::ChallengeRequest(_) => "challenge_request",
            Tlv::ChallengeReply(_) => "challenge_reply",
            Tlv::Unknown { .. } => "unknown",
        }
    }

    /// The TLV type number on the wire.
    pub fn tlv_type(&self) -> u8 {
        use tlv_type::*;
        match self {
            Tlv::Pad1 => PAD1,
            Tlv::PadN(_) => PADN,
            Tlv::AckRequest(_) => ACK_REQUEST,
            Tlv::Ack(_) => ACK,
            Tlv::Hello(_) => HELLO,
            Tlv::Ihu(_) => IHU,
            Tlv::RouterId(_) => ROUTER_ID,
            Tlv::NextHop(_) => NEXT_HOP,
            Tlv::Update(_) => UPDATE,
            Tlv::RouteRequest(_) => ROUTE_REQUEST,
            Tlv::SeqnoRequest(_) => SEQNO_REQUEST,
            Tlv::Mac(_) => MAC,
            Tlv::Pc(_) => PC,
            Tlv::ChallengeRequest(_) => CHALLENGE_REQUEST,
            Tlv::ChallengeReply(_) => CHALLENGE_REPLY,
            Tlv::Unknown { tlv_type, .. } => *tlv_type,
        }
    }
}

/// One TLV as framed on the wire: its type and body, nothing interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawTlv<'a> {
    pub tlv_type: u8,
    pub body: &'a [u8],
}

/// Stateless iterator over the TLVs of a packet body or trailer.
///
/// Yields `Err(TlvError::Truncated)` once if a TLV overruns the area, then stops: the rest of
/// the area cannot be framed (RFC 8966 §4.3).
#[derive(Debug, Clone)]
pub struct TlvIter<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> TlvIter<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        TlvIter { data, pos: 0 }
    }

    /// Byte offset of the next TLV inside the area.
    pub fn offset(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Result<RawTlv<'a>, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.data.get(self.pos..)?;
        let (&tlv_type, after) = rest.split_first()?;
        if tlv_type == tlv_type::PAD1 {
            self.pos += 1;
            return Some(Ok(RawTlv {
                tlv_type,
                body: &[],
            }));
        }
        let Some((&len, after)) = after.split_first() else {
            self.pos = self.data.len();
            return Some(Err(TlvError::Truncated { tlv_type }));
        };
        let len = len as usize;
        if after.len() < len {
            self.pos = self.data.len();
            return Some(Err(TlvError::Truncated { tlv_type }));
        }
        self.pos += 2 + len;
        Some(Ok(RawTlv {
            tlv_type,
            body: &after[..len],
        }))
    }
}

/// The parse state of one packet (RFC 8966 §4.5): the default prefixes used by prefix
/// compression, the current router-id and the current next hops.
#[derive(Debug, Clone, Default)]
pub struct ParseState {
    router_id: Option<RouterId>,
    /// RFC 8966 §4.5: one default prefix per address encoding (AE 1, 2 and 4), as
    /// left-aligned 128-bit values (IPv4 in the top 32 bits).
    defaults: [Option<u128>; 3],
    nh_v4: Option<Ipv4Addr>,
    nh_v6: Option<Ipv6Addr>,
    src: Option<Ipv6Addr>,
}

/// The default-prefix slot of an AE, if it has one.
fn default_slot(ae_code: u8) -> Option<usize> {
    match ae_code {
        ae::IPV4 => Some(0),
        ae::IPV6 => Some(1),
        // RFC 9229 §2.1: AE 4 keeps its own default prefix, apart from AE 1's.
        ae::V4_VIA_V6 => Some(2),
        _ => None,
    }
}

impl ParseState {
    /// RFC 8966 §4.5: the IPv6 next hop starts as the packet's source address; the IPv4 next
    /// hop is unknown until a Next Hop TLV sets it.
    pub fn new(src: Option<Ipv6Addr>) -> Self {
        ParseState {
            nh_v6: src,
            src,
            ..Default::default()
        }
    }

    pub fn router_id(&self) -> Option<RouterId> {
        self.router_id
    }
}

/// Bytes of address needed for `plen` bits.
fn prefix_bytes(plen: u8) -> usize {
    (plen as usize).div_ceil(8)
}

/// Reads a full address of the given AE (IHU and Next Hop carry no compression).
/// Returns the address and the bytes consumed.
fn read_address(ae_code: u8, data: &[u8], tlv: u8) -> Result<(Option<IpAddr>, usize), TlvError> {
    match ae_code {
        ae::WILDCARD => Ok((None, 0)),
        ae::IPV4 => {
            let b: [u8; 4] = data
                .get(..4)
                .ok_or(TlvError::TooShort { tlv_type: tlv })?
                .try_into()
                .expect("length checked");
            Ok((Some(IpAddr::V4(b.into())), 4))
        }
        ae::IPV6 | ae::V4_VIA_V6 => {
            let b: [u8; 16] = data
                .get(..16)
                .ok_or(TlvError::TooShort { tlv_type: tlv })?
                .try_into()
                .expect("length checked");
            Ok((Some(IpAddr::V6(b.into())), 16))
        }
        ae::IPV6_LINK_LOCAL => {
            let low = data.get(..8).ok_or(TlvError::TooShort { tlv_type: tlv })?;
            let mut b = [0u8; 16];
            b[0] = 0xfe;
            b[1] = 0x80;
            b[8..].copy_from_slice(low);
            Ok((Some(IpAddr::V6(b.into())), 8))
        }
        other => Err(TlvError::UnknownAe {
            tlv_type: tlv,
            ae: other,
        }),
    }
}

/// Reads an uncompressed prefix of `plen` bits (requests, source prefixes).
fn read_plain_prefix(
    ae_code: u8,
    plen: u8,
    data: &[u8],
    tlv: u8,
) -> Result<(Option<Prefix>, usize), TlvError> {
    read_prefix(ae_code, plen, 0, data, None, tlv)
}

/// RFC 8966 §4.1.5 / §4.6.9: reads a possibly compressed prefix. `omitted` leading octets come
/// from the default prefix of the AE. Returns the prefix and the number of bytes consumed.
///
/// The address is assembled in a left-aligned `u128` (IPv4 in the top 32 bits): no byte
/// buffer, no second masking pass; this is the parser's hottest function.
#[inline(always)]
fn read_prefix(
    ae_code: u8,
    plen: u8,
    omitted: u8,
    data: &[u8],
    default: Option<u128>,
    tlv: u8,
) -> Result<(Option<Prefix>, usize), TlvError> {
    let omitted = omitted as usize;
    let bad_plen = TlvError::BadPlen {
        tlv_type: tlv,
        ae: ae_code,
        plen,
    };
    let (max_plen, width, default) = match ae_code {
        ae::WILDCARD => {
            if plen != 0 || omitted != 0 {
                return Err(bad_plen);
            }
            return Ok((None, 0));
        }
        ae::IPV4 | ae::V4_VIA_V6 => (32, 4, default),
        ae::IPV6 => (128, 16, default),
        ae::IPV6_LINK_LOCAL => {
            // AE 3: fe80::/64 is implied, only the low 8 octets are present; no compression.
            if omitted != 0 || !(64..=128).contains(&plen) {
                return Err(bad_plen);
            }
            let n = prefix_bytes(plen) - 8;
            let bytes = data.get(..n).ok_or(TlvError::TooShort { tlv_type: tlv })?;
            let mut v: u128 = 0xfe80u128 << 112;
            for (i, &x) in bytes.iter().enumerate() {
                v |= (x as u128) << (56 - 8 * i);
            }
            return Ok((Some(masked_prefix(v, plen, false)), n));
        }
        other => {
            return Err(TlvError::UnknownAe {
                tlv_type: tlv,
                ae: other,
            })
        }
    };
    if plen > max_plen {
        return Err(bad_plen);
    }
    if omitted > width {
        return Err(TlvError::OmittedTooLong {
            tlv_type: tlv,
            omitted: omitted as u8,
        });
    }
    let n = prefix_bytes(plen).saturating_sub(omitted);
    let bytes = data.get(..n).ok_or(TlvError::TooShort { tlv_type: tlv })?;
    let mut v: u128 = 0;
    if omitted > 0 {
        let d = default.ok_or(TlvError::NoDefaultPrefix { tlv_type: tlv })?;
        v = d & !u128::MAX.checked_shr(8 * omitted as u32).unwrap_or(0);
    }
    for (i, &x) in bytes.iter().enumerate() {
        v |= (x as u128) << (120 - 8 * (omitted + i));
    }
    Ok((Some(masked_prefix(v, plen, width == 4)), n))
}

/// Builds a prefix from a left-aligned address, clearing the bits past `plen`.
#[inline(always)]
fn masked_prefix(v: u128, plen: u8, v4: bool) -> Prefix {
    let m = if plen == 0 {
        0
    } else {
        v & (u128::MAX << (128 - plen as u32))
    };
    if v4 {
        Prefix::from_masked(IpAddr::V4(Ipv4Addr::from((m >> 96) as u32)), plen)
    } else {
        Prefix::from_masked(IpAddr::V6(Ipv6Addr::from(m)), plen)
    }
}

/// A prefix's address as a left-aligned `u128`.
fn left_aligned(p: &Prefix) -> u128 {
    match p.addr() {
        IpAddr::V4(a) => (u32::from(a) as u128) << 96,
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Known sub-TLVs found in a sub-TLV area; the known ones are borrowed from the packet.
#[derive(Default)]
struct SubTlvs<'a> {
    timestamp: Option<&'a [u8]>,
    source_prefix: Option<(u8, &'a [u8])>,
    unknown: Vec<UnknownSubTlv>,
}

/// Parses a sub-TLV area (RFC 8966 §4.4). `accepts` tells which known sub-TLVs this TLV
/// understands; any other sub-TLV with the mandatory bit (type ≥ 128) makes the whole TLV
/// ignored — applied here, in one place, for every TLV.
#[inline(always)]
fn parse_subtlvs<'a>(data: &'a [u8], tlv: u8, accepts: &[u8]) -> Result<SubTlvs<'a>, TlvError> {
    let mut out = SubTlvs::default();
    if data.is_empty() {
        return Ok(out);
    }
    for raw in TlvIter::new(data) {
        let raw = raw.map_err(|_| TlvError::BadSubTlv { tlv_type: tlv })?;
        match raw.tlv_type {
            subtlv_type::PAD1 | subtlv_type::PADN => {}
            t if accepts.contains(&t) && t == subtlv_type::TIMESTAMP => {
                out.timestamp = Some(raw.body);
            }
            t if accepts.contains(&t) && t == subtlv_type::SOURCE_PREFIX => {
                // RFC 9079 §7.1: a source prefix appears at most once.
                let (&plen, rest) = raw
                    .body
                    .split_first()
                    .ok_or(TlvError::BadSubTlv { tlv_type: tlv })?;
                if out.source_prefix.is_some() {
                    return Err(TlvError::BadSubTlv { tlv_type: tlv });
                }
                out.source_prefix = Some((plen, rest));
            }
            t if t & 0x80 != 0 => {
                // RFC 8966 §4.4: unknown mandatory sub-TLV: the whole TLV is ignored.
                return Err(TlvError::UnknownMandatorySubTlv {
                    tlv_type: tlv,
                    sub_type: t,
                });
            }
            t => out.unknown.push(UnknownSubTlv {
                sub_type: t,
                body: raw.body.to_vec(),
            }),
        }
    }
    Ok(out)
}

#[inline(always)]
fn source_prefix(sub: &SubTlvs, ae_code: u8, tlv: u8) -> Result<Option<Prefix>, TlvError> {
    let Some((plen, bytes)) = &sub.source_prefix else {
        return Ok(None);
    };
    // RFC 9079 §7.1: a source prefix of length 0 is not allowed, nor one on AE 0.
    if *plen == 0 || ae_code == ae::WILDCARD {
        return Err(TlvError::BadSubTlv { tlv_type: tlv });
    }
    let ae_code = if ae_code == ae::IPV6_LINK_LOCAL {
        ae::IPV6
    } else {
        ae_code
    };
    let (p, _) = read_plain_prefix(ae_code, *plen, bytes, tlv)
        .map_err(|_| TlvError::BadSubTlv { tlv_type: tlv })?;
    Ok(p)
}

fn metric_of(update_body: &[u8]) -> u16 {
    be16(update_body, 8)
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn need(body: &[u8], len: usize, tlv: u8) -> Result<(), TlvError> {
    if body.len() < len {
        Err(TlvError::TooShort { tlv_type: tlv })
    } else {
        Ok(())
    }
}

/// Interprets one framed TLV of a packet body, reading and updating the packet's parse state.
///
/// On error the TLV is to be ignored; the state has been updated as far as RFC 8966 §4.4–§4.6
/// asks (an Update with flag 0x80 whose sub-TLVs are unknown and mandatory still sets the
/// default prefix, for instance).
pub fn parse_tlv(raw: RawTlv<'_>, state: &mut ParseState) -> Result<Tlv, TlvError> {
    use tlv_type::*;
    let b = raw.body;
    let t = raw.tlv_type;
    match t {
        PAD1 => Ok(Tlv::Pad1),
        PADN => Ok(Tlv::PadN(b.len() as u8)),
        ACK_REQUEST => {
            need(b, 6, t)?;
            parse_subtlvs(&b[6..], t, &[])?;
            Ok(Tlv::AckRequest(AckRequest {
                opaque: be16(b, 2),
                interval: be16(b, 4),
            }))
        }
        ACK => {
            need(b, 2, t)?;
            parse_subtlvs(&b[2..], t, &[])?;
            Ok(Tlv::Ack(Ack { opaque: be16(b, 0) }))
        }
        HELLO => {
            need(b, 6, t)?;
            let sub = parse_subtlvs(&b[6..], t, &[subtlv_type::TIMESTAMP])?;
            // RFC 9616 §3.1: the Hello timestamp is 4 octets; a shorter one is ignored.
            let timestamp = sub
                .timestamp
                .filter(|ts| ts.len() >= 4)
                .map(|ts| be32(ts, 0));
            Ok(Tlv::Hello(Hello {
                flags: be16(b, 0),
                seqno: be16(b, 2),
                interval: be16(b, 4),
                timestamp,
                unknown_subtlvs: sub.unknown,
            }))
        }
        IHU => {
            need(b, 6, t)?;
            let ae_code = b[0];
            let (addr, n) = read_address(ae_code, &b[6..], t)?;
            if ae_code == ae::V4_VIA_V6 {
                return Err(TlvError::UnknownAe {
                    tlv_type: t,
                    ae: ae_code,
                });
            }
            let sub = parse_subtlvs(&b[6 + n..], t, &[subtlv_type::TIMESTAMP])?;
            let timestamps = sub
                .timestamp
                .filter(|ts| ts.len() >= 8)
                .map(|ts| IhuTimestamps {
                    origin: be32(ts, 0),
                    receive: be32(ts, 4),
                });
            Ok(Tlv::Ihu(Ihu {
                rxcost: be16(b, 2),
                interval: be16(b, 4),
                addr,
                timestamps,
                unknown_subtlvs: sub.unknown,
            }))
        }
        ROUTER_ID => {
            if b.len() < 10 {
                // RFC 8966 §4.6.7: a malformed Router-Id leaves no current router-id.
                state.router_id = None;
                return Err(TlvError::TooShort { tlv_type: t });
            }
            let id = RouterId(b[2..10].try_into().expect("length checked"));
            if !id.is_valid() {
                state.router_id = None;
                return Err(TlvError::InvalidRouterId);
            }
            state.router_id = Some(id);
            parse_subtlvs(&b[10..], t, &[])?;
            Ok(Tlv::RouterId(id))
        }
        NEXT_HOP => {
            need(b, 2, t)?;
            let ae_code = b[0];
            let read = match ae_code {
                ae::IPV4 | ae::IPV6 | ae::IPV6_LINK_LOCAL => read_address(ae_code, &b[2..], t),
                other => Err(TlvError::UnknownAe {
                    tlv_type: t,
                    ae: other,
                }),
            };
            let (addr, n) = match read {
                Ok(v) => v,
                // RFC 8966 §4.6.8: a Next Hop of an AE we do not know (AE 4 among them, which
                // RFC 9229 §2.1 keeps out of Next Hop TLVs) is ignored, and leaves the next
                // hops of the packet as they were, like babeld.
                Err(e @ TlvError::UnknownAe { .. }) if ae_code != ae::WILDCARD => return Err(e),
                Err(e) => {
                    // Like babeld: after a malformed Next Hop, the next hops fall back to
                    // their initial values rather than keeping stale ones.
                    state.nh_v4 = None;
                    state.nh_v6 = state.src;
                    return Err(e);
                }
            };
            match addr {
                Some(IpAddr::V4(a)) => state.nh_v4 = Some(a),
                Some(IpAddr::V6(a)) => state.nh_v6 = Some(a),
                None => {}
            }
            parse_subtlvs(&b[2 + n..], t, &[])?;
            Ok(Tlv::NextHop(addr.expect("non-wildcard AE")))
        }
        UPDATE => parse_update(b, state),
        ROUTE_REQUEST => {
            need(b, 2, t)?;
            let (ae_code, plen) = (b[0], b[1]);
            let (prefix, n) = read_plain_prefix(ae_code, plen, &b[2..], t)?;
            let sub = parse_subtlvs(&b[2 + n..], t, &[subtlv_type::SOURCE_PREFIX])?;
            let src_prefix = source_prefix(&sub, ae_code, t)?;
            Ok(Tlv::RouteRequest(RouteRequest {
                prefix,
                src_prefix,
                unknown_subtlvs: sub.unknown,
            }))
        }
        SEQNO_REQUEST => {
            need(b, 14, t)?;
            let (ae_code, plen) = (b[0], b[1]);
            if ae_code == ae::WILDCARD {
                // RFC 8966 §4.6.11: AE 0 is not allowed in a Seqno Request.
                return Err(TlvError::UnknownAe {
                    tlv_type: t,
                    ae: ae_code,
                });
            }
            let (prefix, n) = read_plain_prefix(ae_code, plen, &b[14..], t)?;
            let sub = parse_subtlvs(&b[14 + n..], t, &[subtlv_type::SOURCE_PREFIX])?;
            let src_prefix = source_prefix(&sub, ae_code, t)?;
            Ok(Tlv::SeqnoRequest(SeqnoRequest {
                seqno: be16(b, 2),
                hop_count: b[4],
                router_id: RouterId(b[6..14].try_into().expect("length checked")),
                prefix: prefix.expect("non-wildcard AE"),
                src_prefix,
                unknown_subtlvs: sub.unknown,
            }))
        }
        MAC => Ok(Tlv::Mac(b.to_vec())),
        PC => {
            need(b, 4, t)?;
            Ok(Tlv::Pc(Pc {
                pc: be32(b, 0),
                index: b[4..].to_vec(),
            }))
        }
        CHALLENGE_REQUEST => Ok(Tlv::ChallengeRequest(b.to_vec())),
        CHALLENGE_REPLY => Ok(Tlv::ChallengeReply(b.to_vec())),
        other => Ok(Tlv::Unknown {
            tlv_type: other,
            body: b.to_vec(),
        }),
    }
}

#[inline(always)]
fn parse_update(b: &[u8], state: &mut ParseState) -> Result<Tlv, TlvError> {
    let t = tlv_type::UPDATE;
    if b.len() < 10 {
        // Like babeld: a short update that wanted to set the default prefix leaves none.
        if b.len() < 2 || b[1] & UPDATE_FLAG_DEFAULT_PREFIX != 0 {
            state.defaults = [None; 3];
        }
        return Err(TlvError::TooShort { tlv_type: t });
    }
    let (ae_code, flags, plen, omitted) = (b[0], b[1], b[2], b[3]);
    let parsed = read_prefix(
        ae_code,
        plen,
        omitted,
        &b[10..],
        default_slot(ae_code).and_then(|i| state.defaults[i]),
        t,
    );
    let (prefix, n) = match parsed {
        Ok(v) => v,
        // RFC 8966 §4.6.9: an update of an unknown AE is silently ignored: it sets no
        // default prefix and, like babeld, leaves the ones set before.
        Err(e @ TlvError::UnknownAe { .. }) => return Err(e),
        Err(e) => {
            if flags & UPDATE_FLAG_DEFAULT_PREFIX != 0 {
                state.defaults = [None; 3];
            }
            return Err(e);
        }
    };
    // RFC 8966 §4.6.9: flag 0x80 makes this prefix the default prefix of its AE.
    if let Some(p) = prefix {
        let (oct, width) = p.octets();
        if flags & UPDATE_FLAG_DEFAULT_PREFIX != 0 {
            if let Some(i) = default_slot(ae_code) {
                state.defaults[i] = Some(left_aligned(&p));
            }
        }
        // Flag 0x40: the router-id is the low 8 octets of the prefix (4 for IPv4, zero-padded).
        if flags & UPDATE_FLAG_ROUTER_ID != 0 {
            let mut id = [0u8; 8];
            if width == 4 {
                id[4..].copy_from_slice(&oct[..4]);
            } else {
                id.copy_from_slice(&oct[8..16]);
            }
            // RFC 8966 §4.6.7: an all-zeroes or all-ones router-id is invalid however it
            // is set.
            let id = RouterId(id);
            state.router_id = id.is_valid().then_some(id);
            if !id.is_valid() {
                return Err(TlvError::InvalidRouterId);
            }
        }
    } else if metric_of(b) != INFINITY {
        // RFC 8966 §4.6.9: AE 0 is only allowed in a retraction.
        return Err(TlvError::WildcardNotRetraction);
    }
    let next_hop = match (ae_code, prefix) {
        (ae::IPV4, _) => state.nh_v4.map(IpAddr::V4),
        (ae::WILDCARD, _) => None,
        _ => state.nh_v6.map(IpAddr::V6),
    };
    let rest = &b[10 + n..];
    let (src_prefix, unknown_subtlvs) = if rest.is_empty() {
        (None, Vec::new())
    } else {
        let sub = parse_subtlvs(rest, t, &[subtlv_type::SOURCE_PREFIX])?;
        (source_prefix(&sub, ae_code, t)?, sub.unknown)
    };
    Ok(Tlv::Update(Update {
        flags,
        interval: be16(b, 4),
        seqno: be16(b, 6),
        metric: be16(b, 8),
        prefix,
        src_prefix,
        router_id: if prefix.is_some() {
            state.router_id
        } else {
            None
        },
        next_hop,
        unknown_subtlvs,
    }))
}
