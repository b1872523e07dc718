//! `babelctl decode` end to end: packets built with the babel-core encoder, framed as
//! Ethernet + IPv6 + UDP, written into pcap and pcapng files made here, decoded by the built
//! binary.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use babel_core::wire::{
    emit_stateless, Ack, AckRequest, Encoder, Hello, Ihu, IhuTimestamps, Pc, Prefix, RouteRequest,
    RouterId, SeqnoRequest, Tlv, Update,
};
use serde_json::{json, Value};

const BABELCTL: &str = env!("CARGO_BIN_EXE_babelctl");

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn pfx(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn rid(s: &str) -> RouterId {
    s.parse().unwrap()
}

const SRC: &str = "fe80::1";
const DST: &str = "ff02::1:6";

fn update(prefix: &str, metric: u16, next_hop: Option<IpAddr>) -> Update {
    Update {
        flags: 0,
        interval: 400,
        seqno: 1000,
        metric,
        prefix: Some(pfx(prefix)),
        src_prefix: None,
        router_id: Some(rid("02:00:00:ff:fe:00:00:01")),
        next_hop,
        unknown_subtlvs: vec![],
    }
}

/// Encodes TLVs into packets sent from [`SRC`].
fn encode(tlvs: &[Tlv]) -> Vec<Vec<u8>> {
    let mut enc = Encoder::new(1400, Some(v6(SRC)));
    for t in tlvs {
        enc.push(t).unwrap();
    }
    enc.finish()
}

/// The 16-bit one's complement sum used by the UDP checksum.
fn csum(data: &[u8], mut acc: u32) -> u32 {
    for pair in data.chunks(2) {
        let hi = pair[0] as u32;
        let lo = *pair.get(1).unwrap_or(&0) as u32;
        acc += (hi << 8) | lo;
    }
    acc
}

/// An Ethernet frame carrying `payload` in IPv6/UDP from `src` to `dst`, port 6696 both ways.
fn frame(src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let udp_len = (8 + payload.len()) as u16;
    let mut udp = Vec::new();
    udp.extend_from_slice(&6696u16.to_be_bytes());
    udp.extend_from_slice(&6696u16.to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    // Pseudo-header: addresses, length, next header.
    let mut acc = csum(&src.octets(), 0);
    acc = csum(&dst.octets(), acc);
    acc += udp_len as u32 + 17;
    acc = csum(&udp, acc);
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    let sum = !(acc as u16);
    udp[6..8].copy_from_slice(&(if sum == 0 { 0xffff } else { sum }).to_be_bytes());

    let mut f = vec![
        0x33, 0x33, 0x00, 0x01, 0x00, 0x06, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    ];
    f.extend_from_slice(&0x86ddu16.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.push(17);
    f.push(1);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&udp);
    f
}

/// Writes a classic pcap: little- or big-endian, micro- or nanosecond times.
fn pcap(frames: &[(u32, u32, Vec<u8>)], linktype: u32, big_endian: bool, nanos: bool) -> Vec<u8> {
    let w32 = |out: &mut Vec<u8>, v: u32| {
        out.extend_from_slice(&if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        })
    };
    let w16 = |out: &mut Vec<u8>, v: u16| {
        out.extend_from_slice(&if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        })
    };
    let mut out = Vec::new();
    w32(&mut out, if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
    w16(&mut out, 2);
    w16(&mut out, 4);
    w32(&mut out, 0);
    w32(&mut out, 0);
    w32(&mut out, 262_144);
    w32(&mut out, linktype);
    for (sec, frac, f) in frames {
        w32(&mut out, *sec);
        w32(&mut out, *frac);
        w32(&mut out, f.len() as u32);
        w32(&mut out, f.len() as u32);
        out.extend_from_slice(f);
    }
    out
}

fn ethernet_pcap(frames: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    pcap(frames, 1, false, false)
}

/// Writes a little-endian pcapng: one section, one Ethernet interface with microsecond
/// times, one enhanced packet block per frame.
fn pcapng(frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
        let len = 12 + body.len().div_ceil(4) * 4;
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(body);
        out.resize(out.len() + (4 - body.len() % 4) % 4, 0);
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    let mut out = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&1u16.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&262_144u32.to_le_bytes());
    block(&mut out, 1, &idb);
    for (micros, f) in frames {
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((micros >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(*micros as u32).to_le_bytes());
        epb.extend_from_slice(&(f.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(f.len() as u32).to_le_bytes());
        epb.extend_from_slice(f);
        epb.resize(epb.len().div_ceil(4) * 4, 0);
        block(&mut out, 6, &epb);
    }
    out
}

/// A file in a temporary directory of its own, both removed when dropped.
struct TempFile(PathBuf);

impl std::ops::Deref for TempFile {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn temp_file(name: &str, bytes: &[u8]) -> TempFile {
    let dir = std::env::temp_dir().join(format!("babelctl-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    TempFile(path)
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(BABELCTL)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn decode_file(path: &Path) -> Vec<Value> {
    let out = run(&["decode", path.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "babelctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines(&out)
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l:?}: {e}")))
        .collect()
}

fn tlvs_of_type<'a>(packets: &'a [Value], ty: &str) -> Vec<&'a Value> {
    packets
        .iter()
        .flat_map(|p| p["tlvs"].as_array().unwrap())
        .filter(|t| t["type"] == ty)
        .collect()
}

#[test]
fn compressed_prefixes_are_printed_in_full() {
    let tlvs = [
        Tlv::Update(update("fd77:0:0:1::/64", 96, None)),
        Tlv::Update(update("fd77:0:0:2::/64", 96, None)),
        Tlv::Update(update("fd77:0:0:2:1::/80", 256, None)),
        Tlv::Update(update(
            "10.200.1.0/24",
            96,
            Some("10.0.0.2".parse().unwrap()),
        )),
        Tlv::Update(update(
            "10.200.2.0/24",
            96,
            Some("10.0.0.2".parse().unwrap()),
        )),
    ];
    let pkts = encode(&tlvs);
    assert_eq!(pkts.len(), 1);
    // The encoder did compress: some update omits leading octets (fourth body octet).
    let mut omitted = 0;
    babel_core::wire::for_each_tlv(&pkts[0][4..], None, |off, _| {
        let b = &pkts[0][4 + off..];
        if b[0] == 8 {
            omitted += b[5] as usize;
        }
    });
    assert!(omitted > 0, "the test packet carries no compressed prefix");

    let frames = vec![(1_764_095_150, 250_000, frame(v6(SRC), v6(DST), &pkts[0]))];
    let out = decode_file(&temp_file("compressed.pcap", &ethernet_pcap(&frames)));
    assert_eq!(out.len(), 1);
    let p = &out[0];
    assert_eq!(p["time"], json!(1764095150.25));
    assert_eq!(p["src"], json!(SRC));
    assert_eq!(p["dst"], json!(DST));
    assert_eq!(p["errors"], json!([]));
    let prefixes: Vec<&Value> = tlvs_of_type(&out, "update")
        .iter()
        .map(|u| &u["prefix"])
        .collect();
    assert_eq!(
        prefixes,
        vec![
            "fd77:0:0:1::/64",
            "fd77:0:0:2::/64",
            "fd77:0:0:2:1::/80",
            "10.200.1.0/24",
            "10.200.2.0/24"
        ]
    );
    let u = tlvs_of_type(&out, "update");
    assert_eq!(u[0]["router_id"], json!("02:00:00:ff:fe:00:00:01"));
    assert_eq!(u[0]["next_hop"], json!(SRC));
    assert_eq!(u[2]["metric"], json!(256));
    assert_eq!(u[4]["next_hop"], json!("10.0.0.2"));
    assert_eq!(u[4]["seqno"], json!(1000));
    assert_eq!(u[4]["interval"], json!(400));
    assert_eq!(
        tlvs_of_type(&out, "next_hop")[0]["address"],
        json!("10.0.0.2")
    );
}

#[test]
fn v4_via_v6_update_shows_an_ipv6_next_hop() {
    let via = v6("fe80::2");
    let pkts = encode(&[Tlv::Update(update("192.168.7.0/24", 128, Some(via.into())))]);
    let frames = vec![(1, 0, frame(v6(SRC), v6(DST), &pkts[0]))];
    let out = decode_file(&temp_file("v4v6.pcap", &ethernet_pcap(&frames)));
    let u = tlvs_of_type(&out, "update");
    assert_eq!(u.len(), 1);
    assert_eq!(u[0]["prefix"], json!("192.168.7.0/24"));
    assert_eq!(u[0]["next_hop"], json!("fe80::2"));
    // The next hop came from a Next Hop TLV, not from the packet source.
    assert_eq!(
        tlvs_of_type(&out, "next_hop")[0]["address"],
        json!("fe80::2")
    );
}

#[test]
fn source_prefixes_appear_in_updates_and_requests() {
    let mut u = update("2001:db8:1::/48", 50, None);
    u.src_prefix = Some(pfx("2001:db8:ff::/48"));
    let tlvs = [
        Tlv::Update(u),
        Tlv::RouteRequest(RouteRequest {
            prefix: Some(pfx("::/0")),
            src_prefix: Some(pfx("2001:db8:ff::/48")),
            unknown_subtlvs: vec![],
        }),
        Tlv::SeqnoRequest(SeqnoRequest {
            seqno: 12,
            hop_count: 64,
            router_id: rid("02:00:00:ff:fe:00:00:09"),
            prefix: pfx("10.1.0.0/16"),
            src_prefix: Some(pfx("192.0.2.0/24")),
            unknown_subtlvs: vec![],
        }),
        Tlv::RouteRequest(RouteRequest {
            prefix: None,
            src_prefix: None,
            unknown_subtlvs: vec![],
        }),
    ];
    let pkts = encode(&tlvs);
    let frames = vec![(1, 0, frame(v6(SRC), v6(DST), &pkts[0]))];
    let out = decode_file(&temp_file("srcpfx.pcap", &ethernet_pcap(&frames)));
    let u = tlvs_of_type(&out, "update");
    assert_eq!(u[0]["prefix"], json!("2001:db8:1::/48"));
    assert_eq!(u[0]["src_prefix"], json!("2001:db8:ff::/48"));
    let rr = tlvs_of_type(&out, "route_request");
    assert_eq!(
        rr[0],
        &json!({"type": "route_request", "prefix": "::/0", "src_prefix": "2001:db8:ff::/48"})
    );
    assert_eq!(
        rr[1],
        &json!({"type": "route_request", "prefix": null, "src_prefix": null})
    );
    assert_eq!(
        tlvs_of_type(&out, "seqno_request")[0],
        &json!({"type": "seqno_request", "seqno": 12, "hop_count": 64,
                "router_id": "02:00:00:ff:fe:00:00:09", "prefix": "10.1.0.0/16",
                "src_prefix": "192.0.2.0/24"})
    );
}

#[test]
fn bad_packets_give_errors_and_decoding_goes_on() {
    let good = encode(&[Tlv::Update(update("fd77:0:0:1::/64", 96, None))]).remove(0);
    // Body length larger than the datagram.
    let mut overrun = good.clone();
    overrun.truncate(good.len() - 3);
    // A TLV cut in the middle: the hello before it survives.
    let hello = Tlv::Hello(Hello {
        flags: 0,
        seqno: 5,
        interval: 400,
        timestamp: None,
        unknown_subtlvs: vec![],
    });
    let mut cut = vec![42, 2, 0, 0];
    emit_stateless(&mut cut, &hello).unwrap();
    cut.extend_from_slice(&[8, 20, 2, 0]); // update announcing 20 octets, carrying 2
    let body = (cut.len() - 4) as u16;
    cut[2..4].copy_from_slice(&body.to_be_bytes());
    let not_babel = b"\x17hello".to_vec();

    let frames: Vec<(u32, u32, Vec<u8>)> = [&overrun, &cut, &not_babel, &good]
        .iter()
        .enumerate()
        .map(|(i, p)| (100 + i as u32, 0, frame(v6(SRC), v6(DST), p)))
        .collect();
    let out = decode_file(&temp_file("bad.pcap", &ethernet_pcap(&frames)));
    assert_eq!(out.len(), 4, "one line per packet, in capture order");
    let times: Vec<f64> = out.iter().map(|p| p["time"].as_f64().unwrap()).collect();
    assert_eq!(times, vec![100.0, 101.0, 102.0, 103.0]);

    assert_eq!(out[0]["tlvs"], json!([]));
    assert_eq!(out[0]["errors"].as_array().unwrap().len(), 1);
    assert!(out[0]["errors"][0]["error"]
        .as_str()
        .unwrap()
        .contains("body length"));

    assert_eq!(out[1]["tlvs"][0]["type"], json!("hello"));
    assert_eq!(
        out[1]["errors"],
        json!([{"offset": 8, "in_trailer": false,
                "error": "TLV type 8 runs past the end of the packet"}])
    );

    assert!(out[2]["errors"][0]["error"]
        .as_str()
        .unwrap()
        .contains("bad magic 23"));

    assert_eq!(out[3]["errors"], json!([]));
    assert_eq!(out[3]["tlvs"].as_array().unwrap().len(), 2);
}

#[test]
fn every_tlv_type_has_its_fields() {
    let src = v6(SRC);
    let tlvs = [
        Tlv::Pad1,
        Tlv::PadN(3),
        Tlv::AckRequest(AckRequest {
            opaque: 77,
            interval: 200,
        }),
        Tlv::Ack(Ack { opaque: 77 }),
        Tlv::Hello(Hello {
            flags: 0,
            seqno: 40000,
            interval: 400,
            timestamp: Some(123_456),
            unknown_subtlvs: vec![],
        }),
        Tlv::Ihu(Ihu {
            rxcost: 96,
            interval: 1200,
            addr: Some(v6("fe80::2").into()),
            timestamps: Some(IhuTimestamps {
                origin: 11,
                receive: 22,
            }),
            unknown_subtlvs: vec![],
        }),
        Tlv::RouterId(rid("aa:bb:cc:dd:ee:ff:00:11")),
        Tlv::NextHop(v6("fe80::3").into()),
        Tlv::Update(Update {
            router_id: Some(rid("aa:bb:cc:dd:ee:ff:00:11")),
            ..update("fd00::/8", 0xffff, Some(v6("fe80::3").into()))
        }),
        Tlv::Update(Update {
            flags: 0,
            interval: 0,
            seqno: 0,
            metric: 0xffff,
            prefix: None,
            src_prefix: None,
            router_id: None,
            next_hop: None,
            unknown_subtlvs: vec![],
        }),
        Tlv::Pc(Pc {
            pc: 9,
            index: vec![1, 2],
        }),
        Tlv::ChallengeRequest(vec![0xde, 0xad]),
        Tlv::ChallengeReply(vec![0xbe, 0xef]),
        Tlv::Unknown {
            tlv_type: 200,
            body: vec![0xab],
        },
    ];
    let mut pkt = encode(&tlvs).remove(0);
    // A trailer with one MAC (RFC 8967 §4.1: after the body).
    emit_stateless(&mut pkt, &Tlv::Mac(vec![0x01, 0x02, 0x03])).unwrap();
    let frames = vec![(7, 500, frame(src, v6(DST), &pkt))];
    let out = decode_file(&temp_file("all.pcap", &ethernet_pcap(&frames)));
    let p = &out[0];
    assert_eq!(p["errors"], json!([]));
    let want = json!([
        {"type": "pad1"},
        {"type": "padn", "len": 3},
        {"type": "ack_request", "opaque": 77, "interval": 200},
        {"type": "ack", "opaque": 77},
        {"type": "hello", "flags": 0, "unicast": false, "seqno": 40000, "interval": 400,
         "timestamp": 123456},
        {"type": "ihu", "rxcost": 96, "interval": 1200, "address": "fe80::2",
         "timestamps": {"origin": 11, "receive": 22}},
        {"type": "router_id", "router_id": "aa:bb:cc:dd:ee:ff:00:11"},
        {"type": "next_hop", "address": "fe80::3"},
        {"type": "update", "prefix": "fd00::/8", "src_prefix": null, "metric": 65535,
         "seqno": 1000, "interval": 400, "flags": 128,
         "router_id": "aa:bb:cc:dd:ee:ff:00:11", "next_hop": "fe80::3"},
        {"type": "update", "prefix": null, "src_prefix": null, "metric": 65535,
         "seqno": 0, "interval": 0, "flags": 0, "router_id": null, "next_hop": null},
        {"type": "pc", "pc": 9, "index": "0102"},
        {"type": "challenge_request", "nonce": "dead"},
        {"type": "challenge_reply", "nonce": "beef"},
        {"type": "unknown", "tlv_type": 200, "body": "ab"}
    ]);
    assert_eq!(p["tlvs"], want);
    assert_eq!(p["trailer"], json!([{"type": "mac", "mac": "010203"}]));
    assert_eq!(p["time"], json!(7.0005));
}

#[test]
fn pcapng_and_other_pcap_flavours_decode_the_same() {
    let pkt = encode(&[Tlv::Update(update("fd77:0:0:1::/64", 96, None))]).remove(0);
    let f = frame(v6(SRC), v6(DST), &pkt);
    let expect_prefix = json!("fd77:0:0:1::/64");

    let ng = decode_file(&temp_file(
        "cap.pcapng",
        &pcapng(&[(1_764_095_150_123_456, f.clone())]),
    ));
    assert_eq!(ng.len(), 1);
    assert_eq!(ng[0]["time"], json!(1764095150.123456));
    assert_eq!(tlvs_of_type(&ng, "update")[0]["prefix"], expect_prefix);

    let be = decode_file(&temp_file(
        "be.pcap",
        &pcap(&[(10, 5, f.clone())], 1, true, false),
    ));
    assert_eq!(be[0]["time"], json!(10.000005));
    assert_eq!(tlvs_of_type(&be, "update")[0]["prefix"], expect_prefix);

    let ns = decode_file(&temp_file(
        "ns.pcap",
        &pcap(&[(10, 500_000_000, f.clone())], 1, false, true),
    ));
    assert_eq!(ns[0]["time"], json!(10.5));

    // Linux cooked capture (SLL, link type 113): 16-octet header, protocol last.
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    sll.extend_from_slice(&f[12..]);
    let cooked = decode_file(&temp_file(
        "sll.pcap",
        &pcap(&[(3, 0, sll)], 113, false, false),
    ));
    assert_eq!(tlvs_of_type(&cooked, "update")[0]["prefix"], expect_prefix);
    assert_eq!(cooked[0]["src"], json!(SRC));
}

#[test]
fn other_udp_traffic_is_not_printed() {
    let pkt = encode(&[Tlv::Update(update("fd77:0:0:1::/64", 96, None))]).remove(0);
    let mut dns = frame(v6(SRC), v6(DST), b"not babel");
    // Rewrite both ports to 53 (Ethernet 14 + IPv6 40 = UDP header at 54).
    dns[54..56].copy_from_slice(&53u16.to_be_bytes());
    dns[56..58].copy_from_slice(&53u16.to_be_bytes());
    let frames = vec![(1, 0, dns), (2, 0, frame(v6(SRC), v6(DST), &pkt))];
    let out = decode_file(&temp_file("mixed.pcap", &ethernet_pcap(&frames)));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["time"], json!(2.0));
}

#[test]
fn a_file_that_is_not_a_capture_fails_with_exit_1() {
    let path = temp_file("notes.txt", b"{\"this is\": \"json, not pcap\"}\n");
    let out = run(&["decode", path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "babelctl: {}: not a pcap or pcapng capture (",
            path.display()
        )),
        "{err}"
    );
    assert!(!err.contains("panicked"));

    let empty = temp_file("empty.pcap", b"");
    let out = run(&["decode", empty.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("not a pcap or pcapng capture (the file is empty)"));
}

#[test]
fn a_missing_file_fails_with_exit_1() {
    let out = run(&["decode", "/nonexistent/babel.pcap"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("babelctl: /nonexistent/babel.pcap: "),
        "{err}"
    );
    assert!(err.to_lowercase().contains("no such file"), "{err}");
}

#[test]
fn a_cut_capture_prints_what_it_has_then_fails() {
    let pkt = encode(&[Tlv::Update(update("fd77:0:0:1::/64", 96, None))]).remove(0);
    let frames = vec![
        (1, 0, frame(v6(SRC), v6(DST), &pkt)),
        (2, 0, frame(v6(SRC), v6(DST), &pkt)),
    ];
    let mut bytes = ethernet_pcap(&frames);
    bytes.truncate(bytes.len() - 10);
    let path = temp_file("cut.pcap", &bytes);
    let out = run(&["decode", path.to_str().unwrap()], None);
    assert_eq!(lines(&out).len(), 1);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ends in the middle of a record"));
}

#[test]
fn hex_mode_reads_payloads_from_stdin() {
    let pkt = encode(&[Tlv::Update(update(
        "10.200.1.0/24",
        96,
        Some("10.0.0.9".parse().unwrap()),
    ))])
    .remove(0);
    let hex: String = pkt.iter().map(|b| format!("{b:02x}")).collect();
    let input = format!(
        "# captured by hand\n\n{hex}\nnot hex at all\n2a02\n{}\n",
        hex.to_uppercase()
    );
    let out = run(&["decode", "--hex"], Some(input.as_bytes()));
    assert!(out.status.success());
    let recs = lines(&out);
    assert_eq!(recs.len(), 4);
    assert_eq!(recs[0]["time"], json!(null));
    assert_eq!(recs[0]["src"], json!(null));
    let u = tlvs_of_type(&recs[..1], "update");
    assert_eq!(u[0]["prefix"], json!("10.200.1.0/24"));
    assert_eq!(u[0]["next_hop"], json!("10.0.0.9"));
    assert!(recs[1]["errors"][0]["error"]
        .as_str()
        .unwrap()
        .starts_with("line 4: not a hex digit"));
    assert!(recs[2]["errors"][0]["error"]
        .as_str()
        .unwrap()
        .contains("shorter than the 4-byte header"));
    assert_eq!(recs[3]["tlvs"], recs[0]["tlvs"]);
}

#[test]
fn a_closed_output_pipe_ends_quietly() {
    let pkt = encode(&[Tlv::Update(update("fd77:0:0:1::/64", 96, None))]).remove(0);
    let f = frame(v6(SRC), v6(DST), &pkt);
    let frames: Vec<(u32, u32, Vec<u8>)> = (0..20_000).map(|i| (i, 0, f.clone())).collect();
    let path = temp_file("many.pcap", &ethernet_pcap(&frames));
    let mut child = Command::new(BABELCTL)
        .args(["decode", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).unwrap();
    assert!(
        first.starts_with(b"{\"time\":0.0,"),
        "{:?}",
        String::from_utf8_lossy(&first)
    );
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "status {:?}, stderr {err}",
        out.status
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn help_lists_only_decode() {
    let out = run(&["--help"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("decode"));
    assert!(
        !text.contains("dump") && !text.contains("monitor"),
        "{text}"
    );
    let out = run(&["decode", "--help"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--hex") && text.contains("pcapng"), "{text}");
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn real_babeld_capture_decodes_without_errors() {
    let out = decode_file(&data("babeld-two-nodes.pcapng"));
    assert_eq!(out.len(), 27);
    for p in &out {
        assert_eq!(p["errors"], json!([]), "{p}");
        assert_eq!(p["dst"], json!(DST));
        assert!(p["src"].as_str().unwrap().starts_with("fe80::"));
    }
    let times: Vec<f64> = out.iter().map(|p| p["time"].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "capture order");
    assert!(times[0] > 1.7e9);

    let updates = tlvs_of_type(&out, "update");
    let has = |prefix: &str, src: Value| {
        updates
            .iter()
            .any(|u| u["prefix"] == prefix && u["src_prefix"] == src)
    };
    // Prefixes sent compressed against the previous one, printed in full.
    for p in [
        "fd77:0:0:1::1/128",
        "fd77:0:0:3::1/128",
        "fd77:0:0:2::1/128",
    ] {
        assert!(has(p, json!(null)), "{p} missing");
    }
    assert!(has("fd99::/48", json!("2001:db8:1::/48")));
    // IPv4 prefixes over a link without IPv4 addresses: v4-via-v6.
    let v4 = updates
        .iter()
        .find(|u| u["prefix"] == "10.200.3.1/32")
        .unwrap();
    assert!(v4["next_hop"].as_str().unwrap().starts_with("fe80::"));
    assert!(updates
        .iter()
        .any(|u| u["prefix"].is_null() && u["metric"] == 65535));

    let ihus = tlvs_of_type(&out, "ihu");
    assert!(ihus
        .iter()
        .any(|i| i["rxcost"] == 96 && i["timestamps"]["origin"].is_u64()));
    let hellos = tlvs_of_type(&out, "hello");
    assert!(hellos
        .iter()
        .all(|h| h["interval"] == 100 || h["interval"].as_u64() < Some(100)));
    assert!(hellos.iter().any(|h| h["timestamp"].is_u64()));
}

#[test]
fn real_linux_cooked_capture_decodes() {
    let out = decode_file(&data("babeld-one-node-sll.pcap"));
    assert_eq!(out.len(), 15);
    assert!(out.iter().all(|p| p["errors"] == json!([])));
    let prefixes: Vec<&Value> = tlvs_of_type(&out, "update")
        .iter()
        .map(|u| &u["prefix"])
        .collect();
    assert!(prefixes.contains(&&json!("192.168.50.0/24")));
    assert!(prefixes.contains(&&json!("fd77:0:0:5::1/128")));
}

#[test]
fn lines_come_out_while_the_capture_is_still_arriving() {
    let pkt = encode(&[Tlv::Update(update("fd77:0:0:1::/64", 96, None))]).remove(0);
    let f = frame(v6(SRC), v6(DST), &pkt);
    let bytes = ethernet_pcap(&[(1, 0, f.clone()), (2, 0, f.clone()), (3, 0, f)]);
    let mut child = Command::new(BABELCTL)
        .args(["decode", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    // Two whole records and half of the third; the input stays open.
    let half_third = bytes.len() - 40;
    stdin.write_all(&bytes[..half_third]).unwrap();
    stdin.flush().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    // Only a guard against hanging forever: the two lines must come before the input ends.
    let guard = std::time::Duration::from_secs(60);
    let first = rx
        .recv_timeout(guard)
        .expect("first line while input is open");
    let second = rx
        .recv_timeout(guard)
        .expect("second line while input is open");
    assert!(first.starts_with("{\"time\":1.0,"), "{first}");
    assert!(second.starts_with("{\"time\":2.0,"), "{second}");
    stdin.write_all(&bytes[half_third..]).unwrap();
    drop(stdin);
    let third = rx.recv_timeout(guard).expect("third line after the rest");
    assert!(third.starts_with("{\"time\":3.0,"), "{third}");
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
}

/// A packet written byte by byte (not with the encoder): every TLV type, a prefix
/// compressed to one octet, v4-via-v6 (AE 4), a source prefix, a MAC in the trailer.
const HAND_BUILT: [&str; 8] = [
    "2a0200df00010300000002060000004d00c80302004d040c80009c4001900304",
    "0001e24005180300006004b0000000000000000203080000000b00000016060a",
    "0000aabbccddeeff0011070a03000000000000000003081202804000019003e8",
    "0060fd77000000000001080b02004007019003e9006002080d04001800019003",
    "e800600ac801081902003000019003e8006020010db8000180073020010db800",
    "ff080a00000000ffff0000ffff090501180ac801090200000a160240000c4000",
    "aabbccddeeff0011fd7700000000000111060000000901021202dead1302beef",
    "c801ab1003010203",
];

/// The expected TLVs of [`HAND_BUILT`], one JSON object per line, in order.
const HAND_BUILT_TLVS: [&str; 20] = [
    r#"{"type":"pad1"}"#,
    r#"{"type":"padn","len":3}"#,
    r#"{"type":"ack_request","opaque":77,"interval":200}"#,
    r#"{"type":"ack","opaque":77}"#,
    r#"{"type":"hello","flags":32768,"unicast":true,"seqno":40000,"interval":400,"timestamp":123456}"#,
    r#"{"type":"ihu","rxcost":96,"interval":1200,"address":"fe80::2","timestamps":{"origin":11,"receive":22}}"#,
    r#"{"type":"router_id","router_id":"aa:bb:cc:dd:ee:ff:00:11"}"#,
    r#"{"type":"next_hop","address":"fe80::3"}"#,
    r#"{"type":"update","prefix":"fd77:0:0:1::/64","src_prefix":null,"metric":96,"seqno":1000,"interval":400,"flags":128,"router_id":"aa:bb:cc:dd:ee:ff:00:11","next_hop":"fe80::3"}"#,
    r#"{"type":"update","prefix":"fd77:0:0:2::/64","src_prefix":null,"metric":96,"seqno":1001,"interval":400,"flags":0,"router_id":"aa:bb:cc:dd:ee:ff:00:11","next_hop":"fe80::3"}"#,
    r#"{"type":"update","prefix":"10.200.1.0/24","src_prefix":null,"metric":96,"seqno":1000,"interval":400,"flags":0,"router_id":"aa:bb:cc:dd:ee:ff:00:11","next_hop":"fe80::3"}"#,
    r#"{"type":"update","prefix":"2001:db8:1::/48","src_prefix":"2001:db8:ff::/48","metric":96,"seqno":1000,"interval":400,"flags":0,"router_id":"aa:bb:cc:dd:ee:ff:00:11","next_hop":"fe80::3"}"#,
    r#"{"type":"update","prefix":null,"src_prefix":null,"metric":65535,"seqno":0,"interval":65535,"flags":0,"router_id":null,"next_hop":null}"#,
    r#"{"type":"route_request","prefix":"10.200.1.0/24","src_prefix":null}"#,
    r#"{"type":"route_request","prefix":null,"src_prefix":null}"#,
    r#"{"type":"seqno_request","seqno":12,"hop_count":64,"router_id":"aa:bb:cc:dd:ee:ff:00:11","prefix":"fd77:0:0:1::/64","src_prefix":null}"#,
    r#"{"type":"pc","pc":9,"index":"0102"}"#,
    r#"{"type":"challenge_request","nonce":"dead"}"#,
    r#"{"type":"challenge_reply","nonce":"beef"}"#,
    r#"{"type":"unknown","tlv_type":200,"body":"ab"}"#,
];

#[test]
fn hand_built_packet_prints_every_tlv_type_exactly() {
    let input = format!("{}\n", HAND_BUILT.concat());
    let out = run(&["decode", "--hex"], Some(input.as_bytes()));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let tlvs = HAND_BUILT_TLVS.join(",");
    assert_eq!(
        text,
        format!(
            "{{\"time\":null,\"src\":null,\"dst\":null,\"tlvs\":[{tlvs}],\
             \"trailer\":[{{\"type\":\"mac\",\"mac\":\"010203\"}}],\"errors\":[]}}\n"
        )
    );
}
