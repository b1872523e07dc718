//! The packet encoder for one interface: packs TLVs into packets no larger than the MTU
//! allows, compresses prefixes and leaves out an unchanged router-id or next hop, the way
//! babeld does (RFC 8966 §4.5, §4.6.9).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::EmitError;
use super::packet::{HEADER_LEN, MAGIC, VERSION};
use super::tlv::{
    ae, subtlv_type, tlv_type, Tlv, UnknownSubTlv, Update, UPDATE_FLAG_DEFAULT_PREFIX,
    UPDATE_FLAG_ROUTER_ID,
};
use super::types::{Prefix, RouterId};

/// The largest Babel datagram (header, body and trailer) that fits in one IPv6 packet of
/// this MTU: 40 octets of IPv6 header and 8 of UDP header come off.
pub fn max_payload_for_mtu(mtu: usize) -> usize {
    mtu.saturating_sub(48)
        .clamp(HEADER_LEN + 2, u16::MAX as usize)
}

/// The compression state of the packet being built; it mirrors [`super::ParseState`].
#[derive(Debug, Clone, Copy, Default)]
struct EmitState {
    router_id: Option<RouterId>,
    /// Default prefixes of AE 1, AE 2 and AE 4, as their octets (IPv4 in the first 4).
    defaults: [Option<[u8; 16]>; 3],
    nh_v4: Option<Ipv4Addr>,
    nh_v6: Option<Ipv6Addr>,
    /// The packet's source address, the receiver's default IPv6 next hop.
    src: Option<Ipv6Addr>,
}

/// Builds the packets for one interface (or one unicast neighbour).
#[derive(Debug, Clone)]
pub struct Encoder {
    max_len: usize,
    src: Option<Ipv6Addr>,
    buf: Vec<u8>,
    state: EmitState,
    packets: Vec<Vec<u8>>,
}

impl Encoder {
    /// `max_len` is the largest datagram to build (header and body; leave room for a
    /// trailer by passing less). `src` is the link-local address the packets will be sent
    /// from: receivers take it as the IPv6 next hop unless a Next Hop TLV says otherwise.
    pub fn new(max_len: usize, src: Option<Ipv6Addr>) -> Self {
        // The body length is a 16-bit field.
        let max_len = max_len.clamp(HEADER_LEN + 2, HEADER_LEN + u16::MAX as usize);
        let mut e = Encoder {
            max_len,
            src,
            buf: Vec::with_capacity(max_len.min(1 << 16)),
            state: EmitState::default(),
            packets: Vec::new(),
        };
        e.reset();
        e
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&[MAGIC, VERSION, 0, 0]);
        self.state = EmitState {
            nh_v6: self.src,
            src: self.src,
            ..Default::default()
        };
    }

    /// Whether the packet being built holds no TLV yet.
    pub fn is_empty(&self) -> bool {
        self.buf.len() == HEADER_LEN
    }

    /// Bytes still free in the packet being built.
    pub fn remaining(&self) -> usize {
        self.max_len - self.buf.len()
    }

    /// Appends one TLV, starting a new packet when it does not fit. Router-Id and Next Hop
    /// TLVs are added in front of an update when the receiver's state needs them.
    pub fn push(&mut self, tlv: &Tlv) -> Result<(), EmitError> {
        let mark = self.buf.len();
        let saved = self.state;
        let r = emit(&mut self.buf, &mut self.state, tlv);
        match r {
            Ok(()) if self.buf.len() <= self.max_len => return Ok(()),
            Ok(()) => {}
            Err(e) => {
                self.buf.truncate(mark);
                self.state = saved;
                return Err(e);
            }
        }
        // Did not fit: finish the current packet and retry in a fresh one.
        self.buf.truncate(mark);
        self.state = saved;
        if self.is_empty() {
            return Err(EmitError::TooLarge {
                needed: mark + 1,
                max: self.max_len,
            });
        }
        self.flush();
        emit(&mut self.buf, &mut self.state, tlv)?;
        if self.buf.len() > self.max_len {
            let needed = self.buf.len();
            self.reset();
            return Err(EmitError::TooLarge {
                needed,
                max: self.max_len,
            });
        }
        Ok(())
    }

    /// Closes the packet being built, if it holds anything.
    pub fn flush(&mut self) {
        if self.is_empty() {
            return;
        }
        let body_len = (self.buf.len() - HEADER_LEN) as u16;
        self.buf[2..4].copy_from_slice(&body_len.to_be_bytes());
        self.packets.push(std::mem::take(&mut self.buf));
        self.buf = Vec::with_capacity(self.max_len.min(1 << 16));
        self.reset();
    }

    /// Takes the finished packets (call [`Encoder::flush`] first to include the current one).
    pub fn take_packets(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.packets)
    }

    /// Flushes and returns every packet.
    pub fn finish(mut self) -> Vec<Vec<u8>> {
        self.flush();
        self.packets
    }
}

/// Encodes TLVs that need no parse state (trailer TLVs, tests) and appends them to `out`.
pub fn emit_stateless(out: &mut Vec<u8>, tlv: &Tlv) -> Result<(), EmitError> {
    let mut st = EmitState::default();
    emit(out, &mut st, tlv)
}

fn start(out: &mut Vec<u8>, t: u8) -> usize {
    out.push(t);
    out.push(0);
    out.len()
}

fn finish_tlv(out: &mut Vec<u8>, body_start: usize) -> Result<(), EmitError> {
    let len = out.len() - body_start;
    if len > 255 {
        out.truncate(body_start - 2);
        return Err(EmitError::Invalid("TLV body longer than 255 octets"));
    }
    out[body_start - 1] = len as u8;
    Ok(())
}

fn put_subtlvs(out: &mut Vec<u8>, subs: &[UnknownSubTlv]) -> Result<(), EmitError> {
    for s in subs {
        if s.sub_type == subtlv_type::PAD1 || s.body.len() > 255 {
            return Err(EmitError::Invalid("unknown sub-TLV cannot be framed"));
        }
        out.push(s.sub_type);
        out.push(s.body.len() as u8);
        out.extend_from_slice(&s.body);
    }
    Ok(())
}

fn put_src_prefix(out: &mut Vec<u8>, src: &Option<Prefix>) -> Result<(), EmitError> {
    if let Some(sp) = src {
        if sp.plen() == 0 {
            // RFC 9079 §7.1: a zero-length source prefix is sent as no sub-TLV at all.
            return Err(EmitError::Invalid("source prefix of length 0"));
        }
        let (oct, _) = sp.octets();
        let pb = (sp.plen() as usize).div_ceil(8);
        out.push(subtlv_type::SOURCE_PREFIX);
        out.push(1 + pb as u8);
        out.push(sp.plen());
        out.extend_from_slice(&oct[..pb]);
    }
    Ok(())
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    let o = a.octets();
    o[0] == 0xfe && o[1] == 0x80 && o[2..8].iter().all(|&b| b == 0)
}

/// Appends an address with its AE code already written by the caller; returns the AE.
fn addr_ae(a: &IpAddr) -> u8 {
    match a {
        IpAddr::V4(_) => ae::IPV4,
        IpAddr::V6(v6) if is_link_local(v6) => ae::IPV6_LINK_LOCAL,
        IpAddr::V6(_) => ae::IPV6,
    }
}

fn put_addr(out: &mut Vec<u8>, a: &IpAddr) {
    match a {
        IpAddr::V4(v4) => out.extend_from_slice(&v4.octets()),
        IpAddr::V6(v6) if is_link_local(v6) => out.extend_from_slice(&v6.octets()[8..]),
        IpAddr::V6(v6) => out.extend_from_slice(&v6.octets()),
    }
}

fn prefix_ae(p: &Option<Prefix>) -> u8 {
    match p {
        None => ae::WILDCARD,
        Some(p) if p.is_v4() => ae::IPV4,
        Some(_) => ae::IPV6,
    }
}

fn put_plain_prefix(out: &mut Vec<u8>, p: &Option<Prefix>) {
    if let Some(p) = p {
        let (oct, _) = p.octets();
        out.extend_from_slice(&oct[..(p.plen() as usize).div_ceil(8)]);
    }
}

fn emit(out: &mut Vec<u8>, st: &mut EmitState, tlv: &Tlv) -> Result<(), EmitError> {
    match tlv {
        Tlv::Pad1 => {
            out.push(tlv_type::PAD1);
            Ok(())
        }
        Tlv::PadN(n) => {
            let s = start(out, tlv_type::PADN);
            out.resize(out.len() + *n as usize, 0);
            finish_tlv(out, s)
        }
        Tlv::AckRequest(a) => {
            let s = start(out, tlv_type::ACK_REQUEST);
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&a.opaque.to_be_bytes());
            out.extend_from_slice(&a.interval.to_be_bytes());
            finish_tlv(out, s)
        }
        Tlv::Ack(a) => {
            let s = start(out, tlv_type::ACK);
            out.extend_from_slice(&a.opaque.to_be_bytes());
            finish_tlv(out, s)
        }
        Tlv::Hello(h) => {
            let s = start(out, tlv_type::HELLO);
            out.extend_from_slice(&h.flags.to_be_bytes());
            out.extend_from_slice(&h.seqno.to_be_bytes());
            out.extend_from_slice(&h.interval.to_be_bytes());
            if let Some(ts) = h.timestamp {
                out.extend_from_slice(&[subtlv_type::TIMESTAMP, 4]);
                out.extend_from_slice(&ts.to_be_bytes());
            }
            put_subtlvs(out, &h.unknown_subtlvs)?;
            finish_tlv(out, s)
        }
        Tlv::Ihu(i) => {
            let s = start(out, tlv_type::IHU);
            out.push(i.addr.as_ref().map_or(ae::WILDCARD, addr_ae));
            out.push(0);
            out.extend_from_slice(&i.rxcost.to_be_bytes());
            out.extend_from_slice(&i.interval.to_be_bytes());
            if let Some(a) = &i.addr {
                put_addr(out, a);
            }
            if let Some(ts) = i.timestamps {
                out.extend_from_slice(&[subtlv_type::TIMESTAMP, 8]);
                out.extend_from_slice(&ts.origin.to_be_bytes());
                out.extend_from_slice(&ts.receive.to_be_bytes());
            }
            put_subtlvs(out, &i.unknown_subtlvs)?;
            finish_tlv(out, s)
        }
        Tlv::RouterId(id) => {
            if !id.is_valid() {
                return Err(EmitError::Invalid("router-id of all zeroes or all ones"));
            }
            emit_router_id(out, *id);
            st.router_id = Some(*id);
            Ok(())
        }
        Tlv::NextHop(a) => {
            emit_next_hop(out, a);
            match a {
                IpAddr::V4(v4) => st.nh_v4 = Some(*v4),
                IpAddr::V6(v6) => st.nh_v6 = Some(*v6),
            }
            Ok(())
        }
        Tlv::Update(u) => emit_update(out, st, u),
        Tlv::RouteRequest(r) => {
            if r.prefix.is_none() && r.src_prefix.is_some() {
                return Err(EmitError::Invalid("source prefix on a wildcard request"));
            }
            if matches!((r.prefix, r.src_prefix), (Some(p), Some(sp)) if p.is_v4() != sp.is_v4()) {
                return Err(EmitError::Invalid("source prefix of another family"));
            }
            let s = start(out, tlv_type::ROUTE_REQUEST);
            out.push(prefix_ae(&r.prefix));
            out.push(r.prefix.map_or(0, |p| p.plen()));
            put_plain_prefix(out, &r.prefix);
            put_src_prefix(out, &r.src_prefix)?;
            put_subtlvs(out, &r.unknown_subtlvs)?;
            finish_tlv(out, s)
        }
        Tlv::SeqnoRequest(r) => {
            if matches!(r.src_prefix, Some(sp) if sp.is_v4() != r.prefix.is_v4()) {
                return Err(EmitError::Invalid("source prefix of another family"));
            }
            let s = start(out, tlv_type::SEQNO_REQUEST);
            out.push(prefix_ae(&Some(r.prefix)));
            out.push(r.prefix.plen());
            out.extend_from_slice(&r.seqno.to_be_bytes());
            out.push(r.hop_count);
            out.push(0);
            out.extend_from_slice(&r.router_id.0);
            put_plain_prefix(out, &Some(r.prefix));
            put_src_prefix(out, &r.src_prefix)?;
            put_subtlvs(out, &r.unknown_subtlvs)?;
            finish_tlv(out, s)
        }
        Tlv::Mac(body) => raw(out, tlv_type::MAC, &[body]),
        Tlv::Pc(pc) => raw(out, tlv_type::PC, &[&pc.pc.to_be_bytes(), &pc.index]),
        Tlv::ChallengeRequest(n) => raw(out, tlv_type::CHALLENGE_REQUEST, &[n]),
        Tlv::ChallengeReply(n) => raw(out, tlv_type::CHALLENGE_REPLY, &[n]),
        Tlv::Unknown { tlv_type, body } => {
            if *tlv_type == tlv_type::PAD1 {
                return Err(EmitError::Invalid("unknown TLV with type 0"));
            }
            raw(out, *tlv_type, &[body])
        }
    }
}

fn raw(out: &mut Vec<u8>, t: u8, parts: &[&[u8]]) -> Result<(), EmitError> {
    let s = start(out, t);
    for p in parts {
        out.extend_from_slice(p);
    }
    finish_tlv(out, s)
}

fn emit_router_id(out: &mut Vec<u8>, id: RouterId) {
    out.extend_from_slice(&[tlv_type::ROUTER_ID, 10, 0, 0]);
    out.extend_from_slice(&id.0);
}

fn emit_next_hop(out: &mut Vec<u8>, a: &IpAddr) {
    let s = start(out, tlv_type::NEXT_HOP);
    out.push(addr_ae(a));
    out.push(0);
    put_addr(out, a);
    out[s - 1] = (out.len() - s) as u8;
}

fn emit_update(out: &mut Vec<u8>, st: &mut EmitState, u: &Update) -> Result<(), EmitError> {
    let mut flags = u.flags & !(UPDATE_FLAG_DEFAULT_PREFIX | UPDATE_FLAG_ROUTER_ID);
    let Some(p) = u.prefix else {
        // AE 0: a wildcard retraction carries no prefix, router-id or next hop.
        if u.src_prefix.is_some() {
            return Err(EmitError::Invalid("source prefix on a wildcard update"));
        }
        // RFC 8966 §4.6.9: AE 0 is for retractions only.
        if u.metric != super::tlv::INFINITY {
            return Err(EmitError::Invalid("wildcard update with a finite metric"));
        }
        let s = start(out, tlv_type::UPDATE);
        out.extend_from_slice(&[ae::WILDCARD, flags, 0, 0]);
        out.extend_from_slice(&u.interval.to_be_bytes());
        out.extend_from_slice(&u.seqno.to_be_bytes());
        out.extend_from_slice(&u.metric.to_be_bytes());
        put_subtlvs(out, &u.unknown_subtlvs)?;
        return finish_tlv(out, s);
    };
    let Some(id) = u.router_id.filter(|id| id.is_valid()) else {
        return Err(EmitError::Invalid("update without a valid router-id"));
    };
    if matches!(u.src_prefix, Some(sp) if sp.is_v4() != p.is_v4()) {
        return Err(EmitError::Invalid("source prefix of another family"));
    }
    let (oct, width) = p.octets();
    let plen = p.plen();
    let ae_code = match (width, u.next_hop) {
        (16, Some(IpAddr::V4(_))) => {
            return Err(EmitError::Invalid("IPv6 prefix with an IPv4 next hop"))
        }
        (16, _) => ae::IPV6,
        // RFC 9229 §2: an IPv4 prefix through an IPv6 next hop uses AE 4.
        (_, Some(IpAddr::V6(_))) => ae::V4_VIA_V6,
        (_, Some(IpAddr::V4(_))) => ae::IPV4,
        // An IPv4 route needs a next hop: receivers drop one without (babeld does), except
        // a retraction.
        (_, None) if u.metric == super::tlv::INFINITY => ae::IPV4,
        (_, None) => return Err(EmitError::Invalid("IPv4 update without a next hop")),
    };

    // Next hop: say it only when it differs from what the receiver already has.
    match (ae_code, u.next_hop) {
        (ae::IPV4, Some(IpAddr::V4(nh))) if st.nh_v4 != Some(nh) => {
            emit_next_hop(out, &IpAddr::V4(nh));
            st.nh_v4 = Some(nh);
        }
        (ae::IPV6 | ae::V4_VIA_V6, nh) => {
            let want = match nh {
                Some(IpAddr::V6(a)) => Some(a),
                _ => st.src,
            };
            if let Some(a) = want {
                if st.nh_v6 != Some(a) {
                    emit_next_hop(out, &IpAddr::V6(a));
                    st.nh_v6 = Some(a);
                }
            }
        }
        _ => {}
    }

    // Router-id: like babeld, use flag 0x40 when an IPv6 /128 ends with the router-id.
    if st.router_id != Some(id) {
        if width == 16 && plen == 128 && oct[8..16] == id.0 {
            flags |= UPDATE_FLAG_ROUTER_ID;
        } else {
            emit_router_id(out, id);
        }
        st.router_id = Some(id);
    }

    // Prefix compression against the default prefix of the AE (RFC 8966 §4.5: one per AE,
    // so AE 1 and AE 4 do not share). Whole octets inside the prefix only.
    let slot = match ae_code {
        ae::IPV4 => 0,
        ae::IPV6 => 1,
        _ => 2,
    };
    let default: Option<&[u8]> = st.defaults[slot].as_ref().map(|d| &d[..]);
    let mut omit = 0usize;
    if let Some(d) = default {
        while omit < (plen / 8) as usize && d[omit] == oct[omit] {
            omit += 1;
        }
    }
    // babeld's rule: set a new default prefix when there is none, or when this prefix is long
    // enough to be worth compressing the following ones against.
    let threshold = if width == 16 { 48 } else { 16 };
    let set_default = default.is_none() || plen >= threshold;
    if set_default {
        flags |= UPDATE_FLAG_DEFAULT_PREFIX;
    }

    let pb = (plen as usize).div_ceil(8);
    let s = start(out, tlv_type::UPDATE);
    out.extend_from_slice(&[ae_code, flags, plen, omit as u8]);
    out.extend_from_slice(&u.interval.to_be_bytes());
    out.extend_from_slice(&u.seqno.to_be_bytes());
    out.extend_from_slice(&u.metric.to_be_bytes());
    out.extend_from_slice(&oct[omit..pb]);
    put_src_prefix(out, &u.src_prefix)?;
    put_subtlvs(out, &u.unknown_subtlvs)?;
    finish_tlv(out, s)?;
    if set_default {
        st.defaults[slot] = Some(oct);
    }
    Ok(())
}
