//! Cross-check against Wireshark: every golden capture is dissected by `tshark` and, packet by
//! packet and TLV by TLV, its reading must agree with ours: the message types (trailer TLVs
//! included) and the fields both decoders show.
//!
//! Where tshark 4.0 knows less than we do, the comparison leaves the field out or compares raw
//! octets (see `tests/data/README.md`): it prints AE 4 (RFC 9229) prefixes as "corrupt", shows
//! the Source Prefix sub-TLV (RFC 9079) of an update only as an unknown sub-TLV of type 128,
//! does not dissect the sub-TLVs of route and seqno requests at all, and has no item for the
//! receive timestamp of an IHU.

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::Command;

use babel_core::wire::{subtlv_type, ParsedPacket, Tlv, UnknownSubTlv};
use common::{capture_path, read_babel_datagrams, CAPTURES};

/// One TLV as a decoder shows it: field name to the values it takes, in wire order.
type Fields = BTreeMap<String, Vec<String>>;

/// Whether tshark can be run; when it cannot, the test skips outside CI and fails in CI.
fn tshark_available() -> bool {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("tshark is not installed, and CI is set: install the tshark package");
        }
        eprintln!("SKIPPED: tshark is not installed (apt-get install tshark); CI is unset");
    }
    ok
}

/// Undoes the five XML escapes of an attribute value.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The value of `attr="..."` in a PDML line (the attribute must follow a space).
fn attr<'a>(line: &'a str, attr: &str) -> Option<&'a str> {
    let key = format!(" {attr}=\"");
    let start = line.find(&key)? + key.len();
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

/// Runs tshark on a capture and returns, by frame number, the TLVs of each Babel packet.
///
/// PDML lists each TLV as a `babel.message` field; inside it, named fields carry tshark's
/// field name, and unnamed text items (`Prefix: 2001:db8::/48`, `NH: ...`, `Address: ...`,
/// `Timestamp : ...`) are split at their first colon; their raw octets go under `NAME#raw`.
fn tshark_messages(name: &str) -> BTreeMap<usize, Vec<Fields>> {
    let path = capture_path(name);
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&path)
        .args(["-Y", "babel", "-T", "pdml"])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let pdml = String::from_utf8(out.stdout).expect("PDML is UTF-8");
    let mut packets: BTreeMap<usize, Vec<Fields>> = BTreeMap::new();
    let mut frame = 0usize;
    let mut in_babel = false;
    for line in pdml.lines() {
        let line = line.trim();
        if line.starts_with("<packet>") {
            frame = 0;
            in_babel = false;
        } else if line.starts_with("<proto ") {
            in_babel = attr(line, "name") == Some("babel");
        } else if line.starts_with("</proto>") {
            in_babel = false;
        } else if line.starts_with("<field ") {
            let field = attr(line, "name").unwrap_or("");
            let show = attr(line, "show").map(unescape);
            if field == "frame.number" {
                frame = show.and_then(|s| s.parse().ok()).expect("frame number");
                continue;
            }
            if !in_babel {
                continue;
            }
            let messages = packets.entry(frame).or_default();
            if field == "babel.message" {
                messages.push(Fields::new());
                continue;
            }
            let (Some(current), Some(show)) = (messages.last_mut(), show) else {
                continue;
            };
            let (key, value) = if field.is_empty() {
                let Some((k, v)) = show.split_once(':') else {
                    continue;
                };
                let k = k.trim().to_string();
                // The raw octets of a text item, for what its text leaves out.
                if let Some(raw) = attr(line, "value") {
                    current
                        .entry(format!("{k}#raw"))
                        .or_default()
                        .push(raw.to_string());
                }
                (k, v.trim().to_string())
            } else {
                (field.to_string(), show)
            };
            current.entry(key).or_default().push(value);
        }
    }
    packets
}

/// How tshark prints a hello or IHU timestamp: seconds with six decimals.
fn ts(micros: u32) -> String {
    format!("{}.{:06}s", micros / 1_000_000, micros % 1_000_000)
}

/// The sub-TLV types we found in a TLV, sorted, as tshark's `babel.subtlv.type` shows them.
fn sub_types(known: &[Option<u8>], unknown: &[UnknownSubTlv]) -> Vec<String> {
    let mut v: Vec<u8> = known.iter().flatten().copied().collect();
    v.extend(unknown.iter().map(|s| s.sub_type));
    v.sort_unstable();
    v.iter().map(u8::to_string).collect()
}

const SUB_TLV_TYPES: &str = "babel.subtlv.type";

/// Our reading of one TLV in tshark's terms.
fn our_fields(tlv: &Tlv) -> Fields {
    let mut f = Fields::new();
    let mut put = |k: &str, v: String| f.entry(k.to_string()).or_default().push(v);
    put("babel.message.type", tlv.tlv_type().to_string());
    let ts_sub = Some(subtlv_type::TIMESTAMP);
    let src_sub = Some(subtlv_type::SOURCE_PREFIX);
    match tlv {
        Tlv::Hello(h) => {
            put("babel.message.seqno", format!("{:#06x}", h.seqno));
            put("babel.message.interval", h.interval.to_string());
            if let Some(t) = h.timestamp {
                put("Timestamp", ts(t));
            }
        }
        Tlv::Ihu(i) => {
            put("babel.message.rxcost", format!("{:#06x}", i.rxcost));
            put("babel.message.interval", i.interval.to_string());
            if let Some(a) = i.addr {
                put("Address", a.to_string());
            }
            if let Some(t) = i.timestamps {
                put("Timestamp origin", ts(t.origin));
                // tshark's PDML has no item for the receive timestamp: compare the octets of
                // the origin item, which spans both.
                put(
                    "Timestamp origin#raw",
                    format!("{:08x}{:08x}", t.origin, t.receive),
                );
            }
        }
        Tlv::RouterId(id) => put("babel.message.routerid", id.to_string()),
        Tlv::NextHop(a) => put("NH", a.to_string()),
        Tlv::Update(u) => {
            put("babel.message.flags", format!("{:#04x}", u.flags));
            put("babel.message.interval", u.interval.to_string());
            put("babel.message.seqno", format!("{:#06x}", u.seqno));
            put("babel.message.metric", u.metric.to_string());
            let ae = match u.prefix {
                None => 0,
                Some(p) if p.is_v6() => 2,
                Some(_) if u.is_v4_via_v6() => 4,
                Some(_) => 1,
            };
            put("babel.message.ae", ae.to_string());
            put(
                "babel.message.plen",
                u.prefix.map_or(0, |p| p.plen()).to_string(),
            );
            // tshark 4.0 prints AE 4 prefixes as "corrupt/32": leave them out.
            if ae != 4 {
                put("Prefix", u.prefix.map_or("::/0".into(), |p| p.to_string()));
            }
        }
        Tlv::RouteRequest(r) => {
            let ae = r.prefix.map_or(0, |p| if p.is_v6() { 2 } else { 1 });
            put("babel.message.ae", ae.to_string());
            put(
                "babel.message.plen",
                r.prefix.map_or(0, |p| p.plen()).to_string(),
            );
            put("Prefix", r.prefix.map_or("::/0".into(), |p| p.to_string()));
        }
        Tlv::SeqnoRequest(r) => {
            put("babel.message.seqno", format!("{:#06x}", r.seqno));
            put("babel.message.hopcount", r.hop_count.to_string());
            put("babel.message.routerid", r.router_id.to_string());
            put(
                "babel.message.ae",
                if r.prefix.is_v6() { "2" } else { "1" }.into(),
            );
            put("babel.message.plen", r.prefix.plen().to_string());
            put("Prefix", r.prefix.to_string());
        }
        // tshark calls the packet counter "Index".
        Tlv::Pc(pc) => put("babel.message.index", pc.pc.to_string()),
        Tlv::Mac(b) | Tlv::ChallengeRequest(b) | Tlv::ChallengeReply(b) => {
            put("babel.message.length", b.len().to_string())
        }
        _ => {}
    }
    let subs = match tlv {
        Tlv::Hello(h) => Some(sub_types(&[h.timestamp.and(ts_sub)], &h.unknown_subtlvs)),
        Tlv::Ihu(i) => Some(sub_types(&[i.timestamps.and(ts_sub)], &i.unknown_subtlvs)),
        Tlv::Update(u) => Some(sub_types(&[u.src_prefix.and(src_sub)], &u.unknown_subtlvs)),
        // tshark 4.0 does not look for sub-TLVs in requests: it shows their bytes as part of
        // the raw prefix. Their source prefixes are checked by the golden tests instead.
        _ => None,
    };
    if let Some(subs) = subs {
        f.insert(SUB_TLV_TYPES.to_string(), subs);
    }
    f
}

/// Compares one capture; returns the number of TLVs compared.
fn compare(name: &str) -> usize {
    let theirs = tshark_messages(name);
    let datagrams = read_babel_datagrams(name);
    assert_eq!(
        theirs.keys().copied().collect::<Vec<_>>(),
        datagrams.iter().map(|d| d.frame).collect::<Vec<_>>(),
        "{name}: tshark and we see Babel in different frames"
    );
    let mut compared = 0;
    let mut ae4_checked = 0;
    for d in &datagrams {
        let ParsedPacket {
            tlvs,
            trailer,
            errors,
        } = d.parse();
        assert!(errors.is_empty(), "{name} frame {}: {errors:?}", d.frame);
        let ours: Vec<&Tlv> = tlvs.iter().chain(&trailer).collect();
        let their = &theirs[&d.frame];
        let types = |v: &[Fields]| -> Vec<String> {
            v.iter()
                .map(|f| {
                    f.get("babel.message.type")
                        .map_or("?".into(), |t| t.join(","))
                })
                .collect()
        };
        let our_types: Vec<String> = ours.iter().map(|t| t.tlv_type().to_string()).collect();
        assert_eq!(
            our_types,
            types(their),
            "{name} frame {}: message types differ",
            d.frame
        );
        for (i, (o, t)) in ours.iter().zip(their).enumerate() {
            for (key, want) in our_fields(o) {
                let mut got = t.get(&key).cloned().unwrap_or_default();
                if key == SUB_TLV_TYPES {
                    // Padding is skipped by our parser; the rest is compared as a set.
                    got.retain(|s| s != "0" && s != "1");
                    got.sort_by_key(|s| s.parse::<u8>().unwrap_or(0));
                }
                assert_eq!(
                    got,
                    want,
                    "{name} frame {} TLV {i} ({}): field {key}\n  ours:   {o:?}\n  tshark: {t:?}",
                    d.frame,
                    o.name()
                );
            }
            // tshark cannot print an AE 4 prefix, but it shows the octets on the wire: when
            // none were omitted, they must be the prefix we decoded.
            if let Tlv::Update(u) = o {
                let omitted = t.get("babel.message.omitted").map(|v| v.join(","));
                if let (true, Some(p), Some("0")) = (u.is_v4_via_v6(), u.prefix, omitted.as_deref())
                {
                    let (oct, _) = p.octets();
                    let want: Vec<String> = oct[..usize::from(p.plen()).div_ceil(8)]
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    let raw = t.get("babel.message.prefix").map(|v| v.join(","));
                    assert!(
                        raw.as_deref()
                            .is_some_and(|r| r.starts_with(&want.join(":"))),
                        "{name} frame {} TLV {i}: AE 4 prefix {p} but tshark shows {raw:?}",
                        d.frame
                    );
                    ae4_checked += 1;
                }
            }
            compared += 1;
        }
        // A source address tshark shows is the one we took as the IPv6 next hop.
        assert!(matches!(d.src, IpAddr::V6(_)), "{name} frame {}", d.frame);
    }
    if name == "v4viav6" {
        assert!(ae4_checked > 0, "no AE 4 prefix compared");
    }
    compared
}

#[test]
fn tshark_reads_every_capture_as_we_do() {
    if !tshark_available() {
        return;
    }
    for name in CAPTURES {
        let n = compare(name);
        assert!(n > 0);
        println!("{name}: {n} TLVs agree with tshark");
    }
}
