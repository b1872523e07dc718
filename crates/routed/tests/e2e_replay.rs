//! RFC 8967 replay protection against babeld 1.12: a real packet that babeld sent to routed
//! (captured with tshark on routed's side of the link) is sent again later, byte for byte and
//! from babeld's own address and port. routed rejects it as a replay, counts it, and the
//! engine never sees it; the routes and the traffic over them are unaffected.

use std::net::Ipv6Addr;
use std::process::Command;
use std::time::Duration;

use e2e::Lab;

const ROUTED: &str = env!("CARGO_BIN_EXE_routed");
const BABELCTL: &str = env!("CARGO_BIN_EXE_babelctl");
const PORT: u16 = 33137;
const KEY: &str = "key id k1 type hmac-sha256 value 0123456789abcdef0123456789abcdef";

fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("counter {name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no counter {name} in:\n{text}"))
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn a_captured_babeld_packet_replayed_later_is_rejected() {
    let Some(mut lab) = Lab::new("replay", true) else {
        return;
    };
    if Command::new("tshark").arg("--version").output().is_err() {
        e2e::skip("no tshark");
        return;
    }
    let (a, b) = lab.pair();
    let port = PORT.to_string();
    lab.keyed_pair(ROUTED, (&a, &b), &["-H", "1", "-g", &port], KEY, KEY);
    lab.wait_routes(&a, &["10.255.0.2", "fd00:255::2"]);
    lab.wait_routes(&b, &["10.255.0.1", "fd00:255::1"]);
    let (ifindex_b, babeld_ll) = lab
        .in_ns(&b, || e2e::feeder::interface("eth-a"))
        .expect("babeld's link-local address");

    // Capture one packet babeld sends, on routed's side of the link.
    let filter = format!("udp port 6696 and src host {babeld_ll}");
    let out = Command::new("ip")
        .args([
            "netns", "exec", &a, "timeout", "20", "tshark", "-i", "eth-b", "-n", "-l",
        ])
        .args(["-c", "1", "-f", &filter, "-T", "fields", "-e", "ipv6.dst"])
        .args(["-e", "udp.payload"])
        .output()
        .expect("tshark");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = text.lines().next().unwrap_or_else(|| {
        panic!(
            "tshark captured nothing: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let (dst, payload) = line.split_once('\t').expect("two fields");
    let dst: Ipv6Addr = dst.parse().expect("destination");
    let payload = hex(payload.trim());
    assert_eq!(payload[0], 42, "a Babel packet");

    // Later: babeld has sent newer packets since, so the captured counter is stale.
    std::thread::sleep(Duration::from_secs(2));
    let before = lab.wait_control(&a, PORT, "counters");
    for _ in 0..3 {
        e2e::send_udp6_raw(&b, (babeld_ll, 6696), (dst, 6696), ifindex_b, &payload)
            .expect("replay");
    }
    let mut after = String::new();
    let seen = lab.wait_for(Duration::from_secs(10), || {
        after = lab.wait_control(&a, PORT, "counters");
        counter(&after, "auth-rejected-replay") >= counter(&before, "auth-rejected-replay") + 3
    });
    assert!(
        seen.is_some(),
        "the replays were not counted:\nbefore:\n{before}\nafter:\n{after}\n{}",
        lab.logs()
    );
    assert_eq!(
        counter(&after, "auth-rejected-replay") - counter(&before, "auth-rejected-replay"),
        3,
        "{after}"
    );
    // The copies were authentic (their MAC checked): only their counter gave them away.
    for other in ["bad-mac", "no-mac", "malformed"] {
        let name = format!("auth-rejected-{other}");
        assert_eq!(counter(&after, &name), counter(&before, &name), "{name}");
    }
    // No state change: every packet the engine got was one that authentication accepted.
    assert_eq!(
        counter(&after, "packets-received"),
        counter(&after, "auth-accepted"),
        "{after}"
    );
    lab.wait_routes(&a, &["10.255.0.2", "fd00:255::2"]);
    lab.wait_connect(&a, "10.255.0.1", &b, "10.255.0.2", Duration::from_secs(10));

    // `babelctl counters` prints the same lines.
    let printed = lab.babelctl(BABELCTL, &a, &["counters", "-p", &port]);
    assert_eq!(
        counter(&printed, "auth-rejected-replay"),
        counter(&after, "auth-rejected-replay"),
        "{printed}"
    );
    assert!(
        printed.lines().all(|l| l.starts_with("counter ")),
        "{printed}"
    );
}
