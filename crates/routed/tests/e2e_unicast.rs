//! babeld's `unicast` interface option, with babeld 1.12 on the other end: routed sends its
//! hellos to ff02::1:6 and everything else (IHUs, updates) to babeld's link-local address,
//! and the two learn each other's routes. The traffic is read back with tshark.

use std::time::Duration;

use e2e::{babel_fields, have_tshark, Lab};

const ROUTED: &str = env!("CARGO_BIN_EXE_routed");

#[test]
fn with_unicast_only_hellos_go_to_the_group_and_babeld_still_learns_the_routes() {
    if !have_tshark() {
        e2e::skip("no tshark");
        return;
    }
    let Some(mut lab) = Lab::new("unicast", true) else {
        return;
    };
    let a = lab.node("a", &["10.255.0.1/32", "fd00:255::1/128"]);
    let b = lab.node("b", &["10.255.0.2/32", "fd00:255::2/128"]);
    lab.link(&a, "eth-b", &b, "eth-a");
    let (cap, pcap) = lab.capture(&b, "eth-a");
    lab.routed(
        ROUTED,
        "routed-a",
        &a,
        &["-H", "1", "-C", "interface eth-b unicast true"],
    );
    lab.babeld("babeld-b", &b, &["eth-a"]);
    lab.wait_routes(&b, &["10.255.0.1", "fd00:255::1"]);
    lab.wait_routes(&a, &["10.255.0.2", "fd00:255::2"]);
    // A few more hellos, IHUs and a periodic dump.
    std::thread::sleep(Duration::from_secs(3));
    lab.stop(cap, Duration::from_secs(5));
    let routed_ll = lab.link_local(&a, "eth-b");
    let babeld_ll = lab.link_local(&b, "eth-a");

    let fields = babel_fields(&pcap, &["ipv6.src", "ipv6.dst", "babel.message.type"]);
    // (source, destination, TLV types) of each of routed's packets.
    let ours: Vec<Vec<&str>> = fields
        .lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|p| p.len() >= 3 && p[0] == routed_ll)
        .collect();
    let types = |p: &[&str]| p[2].split(',').map(str::to_string).collect::<Vec<_>>();
    // TLV types: 4 Hello, 5 IHU, 8 Update.
    let to_group = |t: &str| {
        ours.iter()
            .filter(|p| p[1] == "ff02::1:6" && types(p).iter().any(|x| x == t))
            .count()
    };
    let to_babeld = |t: &str| {
        ours.iter()
            .filter(|p| p[1] == babeld_ll && types(p).iter().any(|x| x == t))
            .count()
    };
    assert!(to_group("4") >= 3, "hellos to the group:\n{fields}");
    assert_eq!(to_group("5"), 0, "no IHU to the group:\n{fields}");
    assert_eq!(to_group("8"), 0, "no update to the group:\n{fields}");
    assert!(to_babeld("5") >= 1, "IHUs to babeld:\n{fields}");
    assert!(to_babeld("8") >= 1, "updates to babeld:\n{fields}");
}
