//! babeld's diversity routing between routed and babeld: routed in the middle re-announces a
//! route onto a non-interfering channel at a reduced metric, and its channel list (sub-TLV
//! 2, sent with `-z 3`) is accepted by babeld.

use std::time::Duration;

use e2e::{args, parse_dump, Lab};

const ROUTED: &str = env!("CARGO_BIN_EXE_routed");
const PORT: u16 = 33123;

/// The refmetric babeld in `ns` has for `prefix`, once it has one.
fn refmetric(lab: &Lab, ns: &str, prefix: &str) -> Option<u32> {
    let d = parse_dump(&lab.wait_control(ns, PORT, "dump"));
    d.iter()
        .find(|l| {
            l.object == "route"
                && l.fields.get("prefix").map(String::as_str) == Some(prefix)
                && l.fields.get("installed").map(String::as_str) == Some("yes")
        })
        .and_then(|l| l.fields.get("refmetric")?.parse().ok())
}

/// babeld a —(1)— routed b —(`channel_c`)— babeld c —(1)— babeld d, all with `-z 3`: waits
/// until the refmetrics of a's address at c and d are `expect`.
fn run(channel_c: &str, expect: (u32, u32)) -> (u32, u32) {
    let Some(mut lab) = Lab::new("diversity", true) else {
        return (0, 0);
    };
    let [a, b, c, d] = lab.chain([
        ("a", &["10.254.0.1/32"]),
        ("b", &[]),
        ("c", &[]),
        ("d", &[]),
    ]);
    let port = PORT.to_string();
    lab.babeld("babeld-a", &a, &["-z", "3", "eth-b"]);
    let eth_c = format!("interface eth-c channel {channel_c}");
    let routed_b = args(
        &["-H", "1", "-z", "3"],
        &["interface eth-a channel 1", &eth_c],
        &["eth-a", "eth-c"],
    );
    lab.routed(ROUTED, "routed-b", &b, &routed_b);
    let eth_b = format!("interface eth-b channel {channel_c}");
    let babeld_c = args(
        &["-g", &port, "-z", "3"],
        &[&eth_b, "interface eth-d channel 1"],
        &["eth-b", "eth-d"],
    );
    lab.babeld("babeld-c", &c, &babeld_c);
    let babeld_d = args(
        &["-g", &port, "-z", "3"],
        &["interface eth-c channel 1"],
        &["eth-c"],
    );
    lab.babeld("babeld-d", &d, &babeld_d);
    // The metrics settle within seconds (babeld with babeld in the middle reaches the same
    // figures); what was seen is kept for the failure message.
    let mut seen = Vec::new();
    let mut last = (0, 0);
    lab.wait_for(Duration::from_secs(30), || {
        let now = (
            refmetric(&lab, &c, "10.254.0.1/32").unwrap_or(0),
            refmetric(&lab, &d, "10.254.0.1/32").unwrap_or(0),
        );
        if seen.last() != Some(&now) {
            seen.push(now);
        }
        last = now;
        now == expect
    });
    assert_eq!(
        last,
        expect,
        "refmetrics seen at c and d: {seen:?}\n{}",
        lab.logs()
    );
    last
}

#[test]
fn routed_halves_the_last_hop_on_another_channel_and_babeld_takes_its_channel_list() {
    if Lab::new("diversity-probe", true).is_none() {
        return;
    }
    // The links cost 96 (wired veths). b's metric is 96; on channel 6 (c's side) it does not
    // interfere with channel 1 (a's side): c learns 96 / 2. c re-announces from channel 6
    // onto channel 1, which by c's own interfaces does not interfere, but b's channel list
    // says the route crossed channel 1 before: d learns c's full metric, 48 + 96. (Without
    // the list babeld would have announced 48 + 48.)
    assert_eq!(run("6", (48, 144)), (48, 144));
    // On the same channel as a's side, b's re-announcement interferes: the full metric.
    assert_eq!(run("1", (96, 192)), (96, 192));
}
