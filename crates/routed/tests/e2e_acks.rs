//! RFC 8966 §3.3 with babeld 1.12: routed sends the retraction of a withdrawn prefix with an
//! Acknowledgment Request, babeld answers it with a unicast Acknowledgment of the same nonce,
//! and routed, acknowledged, does not send it again. The traffic is read back with tshark.

use std::time::Duration;

use e2e::{run, Lab, CONVERGE};

const ROUTED: &str = env!("CARGO_BIN_EXE_routed");

/// The link-local address of `dev` in `ns`.
fn link_local(lab: &Lab, ns: &str, dev: &str) -> String {
    let out = lab.ip(ns, &format!("-6 addr show dev {dev} scope link"));
    out.split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("no link-local address on {dev}: {out}"))
        .to_string()
}

#[test]
fn babeld_acknowledges_routeds_retraction_and_routed_does_not_resend_it() {
    if std::process::Command::new("tshark")
        .arg("-v")
        .output()
        .is_err()
    {
        eprintln!("skipping: no tshark");
        return;
    }
    let Some(mut lab) = Lab::new("acks", true) else {
        return;
    };
    let a = lab.node("a", &["fd00:255::1/128", "fd00:255::11/128"]);
    let b = lab.node("b", &["fd00:255::2/128"]);
    lab.link(&a, "eth-b", &b, "eth-a");
    let pcap = lab.dir.join("eth-a.pcap");
    let cap = lab.spawn(
        "tshark",
        &b,
        "tshark",
        &[
            "-i".into(),
            "eth-a".into(),
            "-w".into(),
            pcap.display().to_string(),
            "-q".into(),
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    lab.routed(ROUTED, "routed-a", &a, &["-H", "1", "eth-b"]);
    lab.babeld("babeld-b", &b, &["eth-a"]);
    lab.wait_routes(&b, &["fd00:255::1", "fd00:255::11"]);
    let routed_ll = link_local(&lab, &a, "eth-b");
    let babeld_ll = link_local(&lab, &b, "eth-a");

    lab.ip(&a, "addr del fd00:255::1/128 dev lo");
    let gone = lab.wait_for(CONVERGE, || {
        lab.babel_routes(&b, "-6")
            .lines()
            .all(|l| !l.starts_with("fd00:255::1 "))
    });
    assert!(gone.is_some(), "{}", lab.logs());
    // Long enough for two retransmissions (0.5 s, then 1 s more) had there been no ack.
    std::thread::sleep(Duration::from_secs(3));
    lab.stop(cap, Duration::from_secs(5));

    let fields = run(
        "tshark",
        &[
            "-r",
            pcap.to_str().unwrap(),
            "-Y",
            "babel",
            "-T",
            "fields",
            "-E",
            "separator=/t",
            "-e",
            "ipv6.src",
            "-e",
            "ipv6.dst",
            "-e",
            "babel.message.type",
            "-e",
            "babel.message.nonce",
            "-e",
            "babel.message.metric",
        ],
    );
    // (source, destination, TLV types, nonces, metrics) of each packet.
    let packets: Vec<Vec<&str>> = fields.lines().map(|l| l.split('\t').collect()).collect();
    let has =
        |p: &[&str], i: usize, v: &str| p.get(i).is_some_and(|f| f.split(',').any(|x| x == v));
    // Type 2: Acknowledgment Request; 3: Acknowledgment; metric 65535: a retraction.
    let reliable: Vec<&Vec<&str>> = packets
        .iter()
        .filter(|p| p[0] == routed_ll && has(p, 2, "2") && has(p, 4, "65535"))
        .collect();
    assert_eq!(reliable.len(), 1, "{fields}");
    let nonce = reliable[0][3];
    assert!(
        packets
            .iter()
            .any(|p| p[0] == babeld_ll && p[1] == routed_ll && has(p, 2, "3") && has(p, 3, nonce)),
        "no unicast ack from babeld for {nonce}:\n{fields}"
    );
}
