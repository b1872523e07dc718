//! RFC 8967 authentication against babeld 1.12: with the same key both learn each other's
//! routes (also when routed's interface has two link-local addresses); with different keys
//! neither accepts the other's packets.

use e2e::Lab;

const ROUTED: &str = env!("CARGO_BIN_EXE_routed");
const KEY1: &str = "key id k1 type hmac-sha256 value 0123456789abcdef0123456789abcdef";
const KEY2: &str = "key id k1 type hmac-sha256 value fedcba9876543210fedcba9876543210";

/// routed in `a` with `routed_key`, babeld in `b` with `babeld_key`, on one link.
fn run(name: &str, routed_key: &str, babeld_key: &str) -> Option<(Lab, String, String)> {
    let mut lab = Lab::new(name, true)?;
    let (a, b) = lab.pair();
    lab.keyed_pair(ROUTED, (&a, &b), &["-H", "1"], routed_key, babeld_key);
    Some((lab, a, b))
}

/// Waits until routed (in `a`) and babeld (in `b`) have each learned the other's routes;
/// how long each took.
fn exchanged(lab: &Lab, a: &str, b: &str) -> (std::time::Duration, std::time::Duration) {
    let ta = lab.wait_routes(a, &["10.255.0.2", "fd00:255::2"]);
    let tb = lab.wait_routes(b, &["10.255.0.1", "fd00:255::1"]);
    (ta, tb)
}

#[test]
fn same_key_routes_are_exchanged() {
    let Some((lab, a, b)) = run("auth-ok", KEY1, KEY1) else {
        return;
    };
    let (ta, tb) = exchanged(&lab, &a, &b);
    eprintln!("authenticated: routed learned in {ta:?}, babeld in {tb:?}");
    lab.wait_connect(
        &a,
        "10.255.0.1",
        &b,
        "10.255.0.2",
        std::time::Duration::from_secs(10),
    );
}

/// BLAKE2s-128 with a 32-octet key (RFC 7693 allows 1 to 32; babeld 1.12 takes them all):
/// routed starts with it and the two learn each other's routes.
#[test]
fn blake2s_with_a_32_octet_key_routes_are_exchanged() {
    let key = "key id k1 type blake2s128 value \
               000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let Some((lab, a, b)) = run("auth-b2s", key, key) else {
        return;
    };
    exchanged(&lab, &a, &b);
}

/// `key ... type hmac-sha256` without a value: babeld 1.12 takes the all-zero key, and so
/// does routed (with a warning), so the two still authenticate each other.
#[test]
fn hmac_sha256_without_a_value_is_the_all_zero_key_of_babeld() {
    let key = "key id k1 type hmac-sha256";
    let Some((lab, a, b)) = run("auth-zero", key, key) else {
        return;
    };
    exchanged(&lab, &a, &b);
    assert!(
        lab.log(0).contains("its key is all zeros"),
        "{}",
        lab.log(0)
    );
}

/// The MAC covers the packet's source address (RFC 8967 §4.1): routed signs with, and
/// announces as next hop, the lowest link-local address of its interface, so its packets
/// must leave from that one and not from the newest, which Linux would pick.
#[test]
fn same_key_with_a_second_link_local_address_on_routeds_interface() {
    let Some(mut lab) = Lab::new("auth-2ll", true) else {
        return;
    };
    let (a, b) = lab.pair();
    let first = lab.wait_link_local(&a, "eth-b");
    // Newer and higher than the first: the kernel's choice, not routed's.
    lab.ip(&a, "addr add fe80::ffff:0:0:1/64 dev eth-b nodad");
    lab.keyed_pair(ROUTED, (&a, &b), &["-H", "1"], KEY1, KEY1);
    let (ta, tb) = exchanged(&lab, &a, &b);
    eprintln!("two link-local addresses: routed learned in {ta:?}, babeld in {tb:?}");
    let via = lab.babel_routes(&b, "-6");
    assert!(
        via.lines()
            .any(|l| l.starts_with("fd00:255::1 ") && l.contains(&format!("via {first} "))),
        "babeld's route is not through {first}: {via}"
    );
}

#[test]
fn different_keys_nothing_is_accepted() {
    let Some((lab, a, b)) = run("auth-bad", KEY1, KEY2) else {
        return;
    };
    // Long enough for several hellos and a full dump each way.
    std::thread::sleep(std::time::Duration::from_secs(6));
    assert_eq!(
        lab.all_babel_routes(&a).trim(),
        "",
        "routed accepted babeld's packets:\n{}",
        lab.logs()
    );
    assert_eq!(
        lab.all_babel_routes(&b).trim(),
        "",
        "babeld accepted routed's packets:\n{}",
        lab.logs()
    );
}

/// RFC 8967: the authentication state of a neighbour (index, counters) goes with it. With room
/// for one authenticated neighbour, babeld leaves, routed drops it, and babeld comes back
/// from another link-local address: it is challenged, accepted, and the routes come back.
/// (The state of departed neighbours used to stay and fill the table for good.)
#[test]
fn a_departed_neighbour_leaves_room_for_another() {
    let Some(mut lab) = Lab::new("auth-gone", true) else {
        return;
    };
    let (a, b) = lab.pair();
    let opts = ["-H", "1", "-C", "max-neighbours 1"];
    lab.keyed_pair(ROUTED, (&a, &b), &opts, KEY1, KEY1);
    // keyed_pair starts babeld second: its index.
    let babeld = 1;
    lab.wait_routes(&a, &["10.255.0.2", "fd00:255::2"]);
    let old = lab.link_local(&b, "eth-a");
    assert!(lab
        .stop(babeld, std::time::Duration::from_secs(5))
        .is_some());
    let gone = format!("neighbour {old} down");
    let dropped = lab.wait_for(std::time::Duration::from_secs(90), || {
        lab.log(0).contains(&gone)
    });
    assert!(
        dropped.is_some(),
        "routed never dropped {old}:\n{}",
        lab.logs()
    );
    lab.ip(&b, "-6 addr flush dev eth-a scope link");
    lab.ip(&b, "-6 addr add fe80::99/64 dev eth-a nodad");
    let args = e2e::args(&[], &[KEY1, "interface eth-a key k1"], &["eth-a"]);
    lab.babeld("babeld-b2", &b, &args);
    lab.wait_routes(&a, &["10.255.0.2", "fd00:255::2"]);
}
