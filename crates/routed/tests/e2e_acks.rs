//! RFC 8966 §3.3 with babeld 1.12: routed sends the retraction of a withdrawn prefix with an
//! Acknowledgment Request, babeld answers it with a unicast Acknowledgment of the same nonce,
//! and routed, acknowledged, does not send it again. The traffic is read back with tshark.

use std::time::Duration;

use e2e::{babel_fields, have_tshark, Lab, CONVERGE};

const ROUTED: &str = env!("CARGO_BIN_EXE_routed");

#[test]
fn babeld_acknowledges_routeds_retraction_and_routed_does_not_resend_it() {
    if !have_tshark() {
        e2e::skip("no tshark");
        return;
    }
    let Some(mut lab) = Lab::new("acks", true) else {
        return;
    };
    let a = lab.node("a", &["fd00:255::1/128", "fd00:255::11/128"]);
    let b = lab.node("b", &["fd00:255::2/128"]);
    lab.link(&a, "eth-b", &b, "eth-a");
    let (cap, pcap) = lab.capture(&b, "eth-a");
    lab.routed(ROUTED, "routed-a", &a, &["-H", "1", "eth-b"]);
    lab.babeld("babeld-b", &b, &["eth-a"]);
    lab.wait_routes(&b, &["fd00:255::1", "fd00:255::11"]);
    // routed asks for acknowledgments only from neighbours it has a finite cost to (an IHU
    // from babeld): babeld can hold routed's routes before routed has heard its first IHU,
    // and a retraction sent then carries no request (one run in about ten did).
    lab.wait_routes(&a, &["fd00:255::2"]);
    let routed_ll = lab.link_local(&a, "eth-b");
    let babeld_ll = lab.link_local(&b, "eth-a");

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

    let fields = babel_fields(
        &pcap,
        &[
            "ipv6.src",
            "ipv6.dst",
            "babel.message.type",
            "babel.message.nonce",
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
