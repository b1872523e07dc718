//! `babelctl decode`: Babel packets from captures or hex, as one JSON object per packet.
//!
//! A packet becomes
//! `{"time":…, "src":…, "dst":…, "tlvs":[…], "trailer":[…], "errors":[…]}`, where every TLV
//! is an object whose `"type"` names it (see [`TlvRecord`]). Prefixes are printed in full,
//! with the compression of RFC 8966 §4.6.9 undone; router-ids are printed like babeld
//! (`aa:bb:cc:dd:ee:ff:00:11`); opaque bytes (MACs, nonces, unknown bodies) are lowercase hex.
//!
//! [`PacketRecord`] keeps the field order of the output; [`packet_json`] gives the same
//! thing as a [`serde_json::Value`] for programs that want to inspect it.

pub mod capture;
pub mod link;

use std::net::{IpAddr, Ipv6Addr};

use serde::Serialize;

use babel_core::wire::{
    parse_packet, LocatedError, Prefix, Tlv, UnknownSubTlv, HELLO_FLAG_UNICAST,
};

pub use capture::{CaptureError, CaptureReader, Datagram};

/// One decoded packet, serialised in this field order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PacketRecord {
    /// Seconds since the Unix epoch, from the capture; `null` for hex input.
    pub time: Option<f64>,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    /// The TLVs of the packet body, in order; TLVs that could not be parsed are left out
    /// and reported in `errors`.
    pub tlvs: Vec<TlvRecord>,
    /// The TLVs after the body (RFC 8967 §4.1: MACs and padding).
    pub trailer: Vec<TlvRecord>,
    pub errors: Vec<ErrorRecord>,
}

/// Why a TLV, or the whole packet, was not decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorRecord {
    /// Byte offset of the TLV within the body (after the 4-byte header) or within the
    /// trailer; 0 for errors about the whole packet.
    pub offset: usize,
    pub in_trailer: bool,
    pub error: String,
}

impl ErrorRecord {
    fn packet(error: String) -> Self {
        ErrorRecord {
            offset: 0,
            in_trailer: false,
            error,
        }
    }
}

/// A sub-TLV this implementation does not interpret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubTlvRecord {
    pub sub_type: u8,
    pub body: String,
}

/// The two timestamps of an IHU (RFC 9616 §3.2), in microseconds of their senders' clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IhuTimestampsRecord {
    pub origin: u32,
    pub receive: u32,
}

/// One TLV. Intervals are in centiseconds, as on the wire. `unknown_subtlvs` appears only
/// when the TLV carried sub-TLVs that are not interpreted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TlvRecord {
    Pad1,
    Padn {
        len: u8,
    },
    AckRequest {
        opaque: u16,
        interval: u16,
    },
    Ack {
        opaque: u16,
    },
    Hello {
        flags: u16,
        unicast: bool,
        seqno: u16,
        interval: u16,
        /// RFC 9616 transmit timestamp, microseconds.
        timestamp: Option<u32>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        unknown_subtlvs: Vec<SubTlvRecord>,
    },
    Ihu {
        rxcost: u16,
        interval: u16,
        /// `null` for AE 0 (any receiver).
        address: Option<IpAddr>,
        timestamps: Option<IhuTimestampsRecord>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        unknown_subtlvs: Vec<SubTlvRecord>,
    },
    RouterId {
        router_id: String,
    },
    NextHop {
        address: IpAddr,
    },
    Update {
        /// `null` for a wildcard retraction (AE 0).
        prefix: Option<String>,
        src_prefix: Option<String>,
        metric: u16,
        seqno: u16,
        interval: u16,
        flags: u8,
        /// The router-id in force for this update (`null` for a wildcard).
        router_id: Option<String>,
        /// The next hop in force: an IPv6 address for an IPv4 prefix is v4-via-v6
        /// (RFC 9229); `null` when none is known.
        next_hop: Option<IpAddr>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        unknown_subtlvs: Vec<SubTlvRecord>,
    },
    RouteRequest {
        /// `null` for a wildcard request (a full dump).
        prefix: Option<String>,
        src_prefix: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        unknown_subtlvs: Vec<SubTlvRecord>,
    },
    SeqnoRequest {
        seqno: u16,
        hop_count: u8,
        router_id: String,
        prefix: String,
        src_prefix: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        unknown_subtlvs: Vec<SubTlvRecord>,
    },
    Pc {
        pc: u32,
        index: String,
    },
    ChallengeRequest {
        nonce: String,
    },
    ChallengeReply {
        nonce: String,
    },
    Mac {
        mac: String,
    },
    Unknown {
        tlv_type: u8,
        body: String,
    },
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Parses hex digits; ASCII whitespace between them is ignored.
pub fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    for (i, c) in text.char_indices() {
        if c.is_ascii_whitespace() {
            continue;
        }
        let v = c
            .to_digit(16)
            .ok_or_else(|| format!("not a hex digit {c:?} at column {}", i + 1))?
            as u8;
        match high.take() {
            None => high = Some(v),
            Some(h) => out.push(h << 4 | v),
        }
    }
    if high.is_some() {
        return Err("odd number of hex digits".into());
    }
    Ok(out)
}

fn prefix_text(p: &Option<Prefix>) -> Option<String> {
    p.as_ref().map(Prefix::to_string)
}

fn subtlvs(subs: &[UnknownSubTlv]) -> Vec<SubTlvRecord> {
    subs.iter()
        .map(|s| SubTlvRecord {
            sub_type: s.sub_type,
            body: to_hex(&s.body),
        })
        .collect()
}

/// The record of one parsed TLV.
pub fn tlv_record(tlv: &Tlv) -> TlvRecord {
    match tlv {
        Tlv::Pad1 => TlvRecord::Pad1,
        Tlv::PadN(len) => TlvRecord::Padn { len: *len },
        Tlv::AckRequest(a) => TlvRecord::AckRequest {
            opaque: a.opaque,
            interval: a.interval,
        },
        Tlv::Ack(a) => TlvRecord::Ack { opaque: a.opaque },
        Tlv::Hello(h) => TlvRecord::Hello {
            flags: h.flags,
            unicast: h.flags & HELLO_FLAG_UNICAST != 0,
            seqno: h.seqno,
            interval: h.interval,
            timestamp: h.timestamp,
            unknown_subtlvs: subtlvs(&h.unknown_subtlvs),
        },
        Tlv::Ihu(i) => TlvRecord::Ihu {
            rxcost: i.rxcost,
            interval: i.interval,
            address: i.addr,
            timestamps: i.timestamps.map(|t| IhuTimestampsRecord {
                origin: t.origin,
                receive: t.receive,
            }),
            unknown_subtlvs: subtlvs(&i.unknown_subtlvs),
        },
        Tlv::RouterId(id) => TlvRecord::RouterId {
            router_id: id.to_string(),
        },
        Tlv::NextHop(a) => TlvRecord::NextHop { address: *a },
        Tlv::Update(u) => TlvRecord::Update {
            prefix: prefix_text(&u.prefix),
            src_prefix: prefix_text(&u.src_prefix),
            metric: u.metric,
            seqno: u.seqno,
            interval: u.interval,
            flags: u.flags,
            router_id: u.router_id.map(|r| r.to_string()),
            next_hop: u.next_hop,
            unknown_subtlvs: subtlvs(&u.unknown_subtlvs),
        },
        Tlv::RouteRequest(r) => TlvRecord::RouteRequest {
            prefix: prefix_text(&r.prefix),
            src_prefix: prefix_text(&r.src_prefix),
            unknown_subtlvs: subtlvs(&r.unknown_subtlvs),
        },
        Tlv::SeqnoRequest(r) => TlvRecord::SeqnoRequest {
            seqno: r.seqno,
            hop_count: r.hop_count,
            router_id: r.router_id.to_string(),
            prefix: r.prefix.to_string(),
            src_prefix: prefix_text(&r.src_prefix),
            unknown_subtlvs: subtlvs(&r.unknown_subtlvs),
        },
        Tlv::Pc(pc) => TlvRecord::Pc {
            pc: pc.pc,
            index: to_hex(&pc.index),
        },
        Tlv::ChallengeRequest(n) => TlvRecord::ChallengeRequest { nonce: to_hex(n) },
        Tlv::ChallengeReply(n) => TlvRecord::ChallengeReply { nonce: to_hex(n) },
        Tlv::Mac(m) => TlvRecord::Mac { mac: to_hex(m) },
        Tlv::Unknown { tlv_type, body } => TlvRecord::Unknown {
            tlv_type: *tlv_type,
            body: to_hex(body),
        },
    }
}

fn error_record(e: &LocatedError) -> ErrorRecord {
    ErrorRecord {
        offset: e.offset,
        in_trailer: e.in_trailer,
        error: e.error.to_string(),
    }
}

/// Decodes one Babel datagram (the UDP payload). A packet that fails the header check
/// (RFC 8966 §4.2) has no TLVs and one error; a TLV that cannot be parsed is left out and
/// reported in `errors`.
pub fn packet_record(
    time: Option<f64>,
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    payload: &[u8],
) -> PacketRecord {
    // RFC 8966 §4.5: the packet's source address is the initial IPv6 next hop.
    let src_v6: Option<Ipv6Addr> = match src {
        Some(IpAddr::V6(a)) => Some(a),
        _ => None,
    };
    let mut rec = PacketRecord {
        time,
        src,
        dst,
        tlvs: Vec::new(),
        trailer: Vec::new(),
        errors: Vec::new(),
    };
    match parse_packet(payload, src_v6) {
        Ok(p) => {
            rec.tlvs = p.tlvs.iter().map(tlv_record).collect();
            rec.trailer = p.trailer.iter().map(tlv_record).collect();
            rec.errors = p.errors.iter().map(error_record).collect();
        }
        Err(e) => rec.errors.push(ErrorRecord::packet(e.to_string())),
    }
    rec
}

/// [`packet_record`] as a JSON value.
pub fn packet_json(
    time: Option<f64>,
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    payload: &[u8],
) -> serde_json::Value {
    to_value(&packet_record(time, src, dst, payload))
}

fn to_value(rec: &PacketRecord) -> serde_json::Value {
    // Serialising these plain records cannot fail (no maps with non-string keys, no NaN
    // from a capture: times are parsed from digits).
    serde_json::to_value(rec).unwrap_or(serde_json::Value::Null)
}

/// The record of a datagram found in a capture, with what the capture lost noted in
/// `errors`.
pub fn datagram_record(d: &Datagram) -> PacketRecord {
    if d.fragmented {
        let mut rec = packet_record(d.time, Some(d.src), Some(d.dst), &[]);
        rec.errors = vec![ErrorRecord::packet(format!(
            "fragmented IP datagram of {} bytes: reassembly is not supported",
            d.udp_payload_len
        ))];
        return rec;
    }
    let mut rec = packet_record(d.time, Some(d.src), Some(d.dst), &d.payload);
    if d.is_cut() {
        rec.errors.push(ErrorRecord::packet(format!(
            "the capture kept only {} of the {} bytes of the datagram",
            d.payload.len(),
            d.udp_payload_len
        )));
    }
    rec
}

/// Longest hex line accepted: a 64 KiB datagram with room for spaces.
pub const MAX_HEX_LINE: usize = 256 * 1024;

/// Decodes one line of `--hex` input (`lineno` counts from 1). Blank lines and lines
/// starting with `#` give `None`.
pub fn hex_line_record(lineno: usize, line: &str) -> Option<PacketRecord> {
    let text = line.trim();
    if text.is_empty() || text.starts_with('#') {
        return None;
    }
    Some(match from_hex(text) {
        Ok(bytes) => packet_record(None, None, None, &bytes),
        Err(why) => PacketRecord::error_only(format!("line {lineno}: {why}")),
    })
}

impl PacketRecord {
    /// A record for input that is not a packet at all: nulls, no TLVs, one error.
    pub fn error_only(error: String) -> Self {
        PacketRecord {
            time: None,
            src: None,
            dst: None,
            tlvs: Vec::new(),
            trailer: Vec::new(),
            errors: vec![ErrorRecord::packet(error)],
        }
    }
}

/// Writes `rec` as one line of JSON.
pub fn write_record(out: &mut impl std::io::Write, rec: &PacketRecord) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, rec)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use babel_core::wire::{emit_stateless, Encoder, Hello, RouterId, Update};
    use serde_json::json;

    fn ll(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn hex_round_trip_and_errors() {
        assert_eq!(from_hex("2a 02 00 00").unwrap(), vec![0x2a, 2, 0, 0]);
        assert_eq!(to_hex(&[0x2a, 0xff, 0]), "2aff00");
        assert_eq!(from_hex("2a0").unwrap_err(), "odd number of hex digits");
        assert!(from_hex("2g").unwrap_err().contains("'g' at column 2"));
    }

    #[test]
    fn bad_header_gives_no_tlvs_and_one_error() {
        let v = packet_json(None, None, None, &[42, 3, 0, 0]);
        assert_eq!(v["tlvs"], json!([]));
        assert_eq!(
            v["errors"],
            json!([{"offset": 0, "in_trailer": false, "error": "unsupported version 3 (expected 2)"}])
        );
    }

    #[test]
    fn update_prints_the_state_it_inherits() {
        let src = ll("fe80::1");
        let id: RouterId = "02:00:00:ff:fe:00:00:01".parse().unwrap();
        let mut enc = Encoder::new(1400, Some(src));
        enc.push(&Tlv::Hello(Hello {
            flags: HELLO_FLAG_UNICAST,
            seqno: 7,
            interval: 400,
            timestamp: Some(99),
            unknown_subtlvs: vec![],
        }))
        .unwrap();
        enc.push(&Tlv::Update(Update {
            flags: 0,
            interval: 1600,
            seqno: 3,
            metric: 96,
            prefix: Some("fd77:0:0:1::/64".parse().unwrap()),
            src_prefix: None,
            router_id: Some(id),
            next_hop: None,
            unknown_subtlvs: vec![],
        }))
        .unwrap();
        let pkts = enc.finish();
        let v = packet_json(Some(1.5), Some(src.into()), None, &pkts[0]);
        assert_eq!(
            v["tlvs"][0],
            json!({"type": "hello", "flags": 0x8000, "unicast": true, "seqno": 7,
                   "interval": 400, "timestamp": 99})
        );
        assert_eq!(
            v["tlvs"][1],
            json!({"type": "router_id", "router_id": "02:00:00:ff:fe:00:00:01"})
        );
        assert_eq!(
            v["tlvs"][2],
            json!({"type": "update", "prefix": "fd77:0:0:1::/64", "src_prefix": null,
                   "metric": 96, "seqno": 3, "interval": 1600, "flags": 0x80,
                   "router_id": "02:00:00:ff:fe:00:00:01", "next_hop": "fe80::1"})
        );
        assert_eq!(v["time"], json!(1.5));
        assert_eq!(v["dst"], json!(null));
    }

    #[test]
    fn output_line_keeps_field_order_with_type_first() {
        let mut p = vec![42, 2, 0, 0];
        emit_stateless(&mut p, &Tlv::PadN(2)).unwrap();
        let len = (p.len() - 4) as u16;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        let mut out = Vec::new();
        write_record(&mut out, &packet_record(None, None, None, &p)).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"time\":null,\"src\":null,\"dst\":null,\"tlvs\":[{\"type\":\"padn\",\"len\":2}],\
             \"trailer\":[],\"errors\":[]}\n"
        );
    }

    #[test]
    fn hex_lines_skip_comments_and_report_garbage() {
        assert!(hex_line_record(1, "   ").is_none());
        assert!(hex_line_record(2, "# a comment").is_none());
        let r = hex_line_record(3, "zz").unwrap();
        assert!(r.tlvs.is_empty());
        assert!(r.errors[0].error.starts_with("line 3: not a hex digit"));
        let r = hex_line_record(4, "2a020002 0100").unwrap();
        assert_eq!(r.tlvs, vec![TlvRecord::Padn { len: 0 }]);
        assert!(r.errors.is_empty());
    }
}
