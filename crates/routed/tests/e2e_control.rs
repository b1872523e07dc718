//! The control socket: routed's `dump` read by the same parser as babeld's in the same
//! topology, the two agreeing on neighbours and routes; `babelctl dump` and `monitor`;
//! read-only and read-write sockets.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::{parse_dump, DumpLine, Lab};

const ROUTED: &str = env!("CARGO_BIN_EXE_routed");
const BABELCTL: &str = env!("CARGO_BIN_EXE_babelctl");
const PORT: u16 = 33123;

fn of<'a>(lines: &'a [DumpLine], object: &str) -> Vec<&'a DumpLine> {
    lines.iter().filter(|l| l.object == object).collect()
}

fn field_names(lines: &[&DumpLine]) -> BTreeSet<String> {
    lines
        .iter()
        .flat_map(|l| l.fields.keys().cloned())
        .collect()
}

fn my_id(lab: &Lab, ns: &str) -> String {
    let ns = ns.to_string();
    let banner = lab.in_ns(&ns, move || {
        let s = std::net::TcpStream::connect(("::1", PORT)).expect("connect");
        let mut r = BufReader::new(s);
        let mut out = String::new();
        loop {
            let mut l = String::new();
            if r.read_line(&mut l).unwrap_or(0) == 0 || l == "ok\n" {
                break;
            }
            out.push_str(&l);
        }
        out
    });
    assert!(banner.starts_with("BABEL 1.0\nversion "), "{banner}");
    assert!(banner.contains("\nhost "), "{banner}");
    banner
        .lines()
        .find_map(|l| l.strip_prefix("my-id "))
        .expect("my-id")
        .to_string()
}

#[test]
fn dump_of_routed_and_babeld_agree() {
    let Some(mut lab) = Lab::new("dump", true) else {
        return;
    };
    let (a, b) = lab.pair();
    let port = PORT.to_string();
    lab.routed(ROUTED, "routed-a", &a, &["-H", "1", "-g", &port, "eth-b"]);
    lab.babeld("babeld-b", &b, &["-g", &port, "eth-a"]);
    lab.wait_routes(&a, &["10.255.0.2", "fd00:255::2"]);
    lab.wait_routes(&b, &["10.255.0.1", "fd00:255::1"]);
    let id_a = my_id(&lab, &a);
    let id_b = my_id(&lab, &b);
    // Both ends have heard each other (reach and costs settled) before comparing.
    let (mut da, mut db) = (Vec::new(), Vec::new());
    let ok = lab.wait_for(Duration::from_secs(15), || {
        let ta = lab.wait_control(&a, PORT, "dump");
        let tb = lab.wait_control(&b, PORT, "dump");
        da = parse_dump(&ta);
        db = parse_dump(&tb);
        let na = of(&da, "neighbour");
        let nb = of(&db, "neighbour");
        na.len() == 1
            && nb.len() == 1
            && na[0].fields.get("txcost").is_some_and(|c| c != "65535")
            && nb[0].fields.get("txcost").is_some_and(|c| c != "65535")
    });
    assert!(
        ok.is_some(),
        "neighbours did not settle:\n{da:#?}\n{db:#?}\n{}",
        lab.logs()
    );
    eprintln!("routed dump: {da:#?}\nbabeld dump: {db:#?}");

    // Field for field: each kind of line carries the same fields in both daemons.
    for object in ["interface", "neighbour", "xroute", "route"] {
        let fa = field_names(&of(&da, object));
        let fb = field_names(&of(&db, object));
        assert_eq!(fa, fb, "{object} lines differ in their fields");
    }
    // Neighbours: each sees the other's link-local address on its interface.
    let ll_a = lab.ip(&a, "-6 addr show dev eth-b scope link");
    let ll_b = lab.ip(&b, "-6 addr show dev eth-a scope link");
    let na = &of(&da, "neighbour")[0];
    let nb = &of(&db, "neighbour")[0];
    assert!(
        ll_b.contains(&format!("inet6 {}/", na.fields["address"])),
        "{ll_b} vs {na:?}"
    );
    assert!(
        ll_a.contains(&format!("inet6 {}/", nb.fields["address"])),
        "{ll_a} vs {nb:?}"
    );
    assert_eq!(na.fields["if"], "eth-b");
    assert_eq!(nb.fields["if"], "eth-a");
    assert_eq!(
        na.fields["rxcost"], nb.fields["txcost"],
        "a's rxcost is what b reports as its txcost"
    );
    assert_eq!(nb.fields["rxcost"], na.fields["txcost"]);

    // Routes: what one exports (xroutes) the other has learned with the exporter's id.
    let routes_from = |d: &[DumpLine], id: &str| -> BTreeSet<String> {
        of(d, "route")
            .iter()
            .filter(|r| r.fields["id"] == id && r.fields["installed"] == "yes")
            .map(|r| r.fields["prefix"].clone())
            .collect()
    };
    let xroutes = |d: &[DumpLine]| -> BTreeSet<String> {
        of(d, "xroute")
            .iter()
            .map(|r| r.fields["prefix"].clone())
            .collect()
    };
    assert!(xroutes(&da).contains("10.255.0.1/32"), "{da:?}");
    assert!(xroutes(&db).contains("10.255.0.2/32"), "{db:?}");
    assert_eq!(
        routes_from(&db, &id_a),
        xroutes(&da),
        "babeld learned what routed exports"
    );
    assert_eq!(
        routes_from(&da, &id_b),
        xroutes(&db),
        "routed learned what babeld exports"
    );
    for r in of(&da, "route") {
        assert_eq!(
            r.fields["via"],
            nb.fields["address"]
                .clone()
                .replace(&nb.fields["address"], &na.fields["address"])
        );
        assert_eq!(r.fields["if"], "eth-b");
    }
    // The metric of a one-hop route is the link cost plus the exporter's metric (0).
    for (d, n) in [(&da, na), (&db, nb)] {
        for r in of(d, "route") {
            assert_eq!(r.fields["metric"], n.fields["cost"], "{r:?}");
            assert_eq!(r.fields["refmetric"], "0", "{r:?}");
        }
    }

    // babelctl dump reads either daemon.
    for ns in [&a, &b] {
        let text = lab.babelctl(BABELCTL, ns, &["dump", "-p", &port]);
        assert!(
            parse_dump(&text).iter().any(|l| l.object == "route"),
            "{text}"
        );
        assert!(!text.contains("\nok\n"), "the final ok is not printed");
    }

    // Read-only sockets: every statement is `bad`, requests are answered, also with a
    // comment; routed's final line is babeld's.
    assert_eq!(
        lab.wait_control(&a, PORT, "interface eth-b hello-interval 2"),
        "bad\n"
    );
    assert_eq!(lab.wait_control(&a, PORT, "frobnicate"), "bad\n");
    assert_eq!(lab.wait_control(&a, PORT, "unmonitor"), "ok\n");
    same_final_lines(
        &lab,
        (&a, &b),
        &[
            "interface eth-b hello-interval 2",
            "flush interface eth-b",
            "flush interface nosuch",
            "reopen-logfile",
            "in deny",
            "debug 2",
            "dump # comment",
            "monitor # comment",
            "unmonitor # comment",
            "dump now",
            "# comment",
        ],
    );
}

/// Each of `requests` gets the same final line (`ok`, `bad`, `no ...`) from the control
/// sockets of routed (in `a`) and babeld (in `b`).
fn same_final_lines(lab: &Lab, (a, b): (&str, &str), requests: &[&str]) {
    for request in requests {
        let last = |ns: &str| {
            let reply = lab.wait_control(ns, PORT, request);
            reply.lines().last().unwrap_or_default().to_string()
        };
        assert_eq!(
            last(a),
            last(b),
            "routed's and babeld's answers to {request:?}"
        );
    }
}

#[test]
fn babelctl_monitor_follows_changes_and_read_write_statements_apply() {
    let Some(mut lab) = Lab::new("monitor", true) else {
        return;
    };
    let a = lab.node("a", &["10.255.0.1/32"]);
    let b = lab.node("b", &["10.255.0.2/32"]);
    lab.link(&a, "eth-b", &b, "eth-a");
    let port = PORT.to_string();
    // -G: read-write.
    lab.routed(ROUTED, "routed-a", &a, &["-H", "1", "-G", &port, "eth-b"]);
    lab.babeld("babeld-b", &b, &["-G", &port, "eth-a"]);
    lab.wait_routes(&a, &["10.255.0.2"]);
    // Read-write sockets: start-up-only statements are `bad`, an unknown interface is
    // `no No such interface`, requests take a comment; routed's final line is babeld's.
    assert_eq!(
        lab.wait_control(&a, PORT, "flush interface nosuch"),
        "no No such interface\n"
    );
    assert!(lab
        .wait_control(&a, PORT, "dump # comment")
        .ends_with("\nok\n"));
    same_final_lines(
        &lab,
        (&a, &b),
        &[
            "flush interface nosuch",
            "in ip 10.0.0.0/8 deny",
            "debug 2",
            "export-table 20",
            "dump # comment",
            "monitor # comment",
            "unmonitor # comment",
            "dump now",
            "frobnicate",
        ],
    );
    let mut mon = Command::new("ip")
        .args(["netns", "exec", &a, BABELCTL, "monitor", "-p", &port])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("babelctl monitor");
    let stdout = mon.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let wait_line = |pred: &dyn Fn(&str) -> bool, what: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
                if pred(&l) {
                    return l;
                }
                seen.push(l);
            }
        }
        panic!("monitor never printed {what}; saw {seen:#?}");
    };
    // The initial state comes first.
    wait_line(
        &|l| l.starts_with("add route ") && l.contains("prefix 10.255.0.2/32"),
        "the initial route",
    );
    // A new prefix at babeld appears as an added route, its removal as a flush.
    lab.ip(&b, "addr add 10.255.0.99/32 dev lo");
    let l = wait_line(
        &|l| l.starts_with("add route ") && l.contains("prefix 10.255.0.99/32"),
        "the new route",
    );
    assert!(
        l.contains(" installed yes ") || l.contains(" installed no "),
        "{l}"
    );
    lab.ip(&b, "addr del 10.255.0.99/32 dev lo");
    wait_line(
        &|l| {
            l.contains("route ")
                && l.contains("prefix 10.255.0.99/32")
                && (l.starts_with("flush") || l.contains("metric 65535"))
        },
        "the retraction",
    );
    // A new local address of routed's appears as an exported route.
    lab.ip(&a, "addr add 10.255.0.50/32 dev lo");
    wait_line(
        &|l| {
            l.starts_with(
                "add xroute 10.255.0.50/32-0.0.0.0/0 prefix 10.255.0.50/32 from 0.0.0.0/0 metric 0",
            )
        },
        "the new xroute",
    );
    // Read-write: a new interface statement takes effect at once.
    assert_eq!(
        lab.wait_control(&a, PORT, "interface eth-b rxcost 200"),
        "ok\n"
    );
    wait_line(
        &|l| l.starts_with("change neighbour") && l.contains(" rxcost 200 "),
        "the new rxcost",
    );
    assert_eq!(
        lab.wait_control(&a, PORT, "in deny"),
        "bad\n",
        "filters need a restart, as in babeld"
    );
    assert_eq!(lab.wait_control(&a, PORT, "flush interface eth-b"), "ok\n");
    wait_line(
        &|l| l.starts_with("flush interface eth-b"),
        "the flushed interface",
    );
    let _ = mon.kill();
    let _ = mon.wait();
}

/// `monitor` output as it arrives: a running `babelctl monitor` in a namespace.
struct MonitorLines {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl MonitorLines {
    fn start(ns: &str, port: u16) -> MonitorLines {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                BABELCTL,
                "monitor",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("babelctl monitor");
        let stdout = child.stdout.take().expect("stdout");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { break };
                sink.lock().unwrap().push(l);
            }
        });
        MonitorLines { child, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until a line satisfies `pred`.
    fn wait(&self, lab: &Lab, what: &str, pred: impl Fn(&str) -> bool) {
        let ok = lab.wait_for(Duration::from_secs(60), || {
            self.lines().iter().any(|l| pred(l))
        });
        assert!(
            ok.is_some(),
            "monitor never printed {what}; saw {:#?}\n{}",
            self.lines(),
            lab.logs()
        );
    }
}

impl Drop for MonitorLines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// babeld's `flush route ID` line reuses the id of the route's `add route ID` line and names
/// its interface, whether the route goes because its neighbour was lost (hellos stopped) or
/// because its interface went (`flush interface`); monitoring tools key routes by that id.
#[test]
fn monitor_flushes_routes_under_the_id_and_interface_they_were_added_with() {
    let Some(mut lab) = Lab::new("flushid", true) else {
        return;
    };
    let a = lab.host("a", 1);
    let b = lab.host("b", 2);
    let c = lab.host("c", 3);
    let d = lab.host("d", 4);
    lab.link(&a, "eth-b", &b, "eth-a");
    lab.link(&a, "eth-c", &c, "eth-a");
    lab.link(&a, "eth-d", &d, "eth-a");
    // Link-local addresses usable first: b's first full dump is not lost to a failed send
    // (its next one comes an update interval later).
    let settled = lab.wait_for(Duration::from_secs(10), || {
        [&a, &b, &c, &d]
            .iter()
            .all(|ns| lab.ip(ns, "-6 addr show tentative").trim().is_empty())
    });
    assert!(settled.is_some(), "link-local addresses stay tentative");
    let port = PORT.to_string();
    lab.routed(
        ROUTED,
        "routed-a",
        &a,
        &["-H", "1", "-G", &port, "eth-b", "eth-c", "eth-d"],
    );
    // b's routes are held far longer (3.5 update intervals) than it takes to lose b by its
    // hellos: they go with the neighbour, not by expiring.
    let babeld_b = lab.babeld(
        "babeld-b",
        &b,
        &e2e::args(&[], &["default update-interval 30"], &["eth-a"]),
    );
    lab.babeld("babeld-c", &c, &["eth-a"]);
    lab.babeld("babeld-d", &d, &["eth-a"]);
    let learned = lab.wait_for(Duration::from_secs(60), || {
        let routes = lab.all_babel_routes(&a);
        [
            "10.255.0.2 ",
            "fd00:255::2 ",
            "10.255.0.3 ",
            "fd00:255::3 ",
            "10.255.0.4 ",
            "fd00:255::4 ",
        ]
        .iter()
        .all(|p| routes.lines().any(|l| l.starts_with(p)))
    });
    assert!(
        learned.is_some(),
        "a did not learn b's, c's and d's routes:\n{}\n{}",
        lab.all_babel_routes(&a),
        lab.logs()
    );
    let mon = MonitorLines::start(&a, PORT);
    for p in ["10.255.0.2/32", "10.255.0.3/32", "10.255.0.4/32"] {
        mon.wait(&lab, &format!("the route to {p}"), |l| {
            l.starts_with("add route ") && l.contains(&format!(" prefix {p} "))
        });
    }

    // b dies without a word (no retraction): a loses it when its hellos stop.
    lab.signal(babeld_b, nix::sys::signal::Signal::SIGKILL);
    for p in ["10.255.0.2/32", "fd00:255::2/128"] {
        mon.wait(&lab, &format!("the flush of {p}"), |l| {
            l.starts_with("flush route ") && l.contains(&format!(" prefix {p} "))
        });
    }
    // c's interface is flushed from the read-write socket: its neighbour and routes go.
    assert_eq!(lab.wait_control(&a, PORT, "flush interface eth-c"), "ok\n");
    for p in ["10.255.0.3/32", "fd00:255::3/128"] {
        mon.wait(&lab, &format!("the flush of {p}"), |l| {
            l.starts_with("flush route ") && l.contains(&format!(" prefix {p} "))
        });
    }
    // d's link is deleted from the kernel: the flush lines still name it.
    lab.ip(&a, "link del eth-d");
    for p in ["10.255.0.4/32", "fd00:255::4/128"] {
        mon.wait(&lab, &format!("the flush of {p}"), |l| {
            l.starts_with("flush route ") && l.contains(&format!(" prefix {p} "))
        });
    }

    let lines = mon.lines();
    let parsed = parse_dump(&lines.join("\n"));
    // Route id → (interface, refmetric) of its last add or change line.
    let mut added: std::collections::BTreeMap<String, (String, String)> = Default::default();
    let mut flushes = 0;
    for l in parsed.iter().filter(|l| l.object == "route") {
        let seen = (l.fields["if"].clone(), l.fields["refmetric"].clone());
        match l.kind.as_str() {
            "add" => {
                added.insert(l.id.clone(), seen);
            }
            "change" => {
                assert!(
                    added.contains_key(&l.id),
                    "change of an unknown route: {l:?}"
                );
                added.insert(l.id.clone(), seen);
            }
            _ => {
                flushes += 1;
                // babeld uninstalls a route before it says it is flushed.
                assert_eq!(l.fields["installed"], "no", "{l:?}");
                assert_eq!(
                    added.remove(&l.id),
                    Some(seen),
                    "flush route {} ({:?}) was never added on that interface with that \
                     refmetric; lines: {lines:#?}",
                    l.id,
                    l.fields
                );
            }
        }
    }
    assert!(flushes >= 6, "{lines:#?}");
    assert!(
        !lines.iter().any(|l| l.contains(" if ?")),
        "a line names no interface: {lines:#?}"
    );
}

/// `link-detect`: by default routed uses an interface only while it has carrier (here a veth
/// whose far end is down); with `link-detect false` an interface that is up is used without
/// carrier, as babeld does unless told `-l`.
#[test]
fn an_interface_without_carrier_is_used_only_with_link_detect_false() {
    let Some(mut lab) = Lab::new("carrier", true) else {
        return;
    };
    let (a, b) = lab.pair();
    // The link-local address must be usable (past duplicate address detection) before the
    // carrier goes: the kernel holds it back on a link without carrier.
    lab.wait_link_local(&a, "eth-b");
    lab.ip(&b, "link set eth-a down");
    let port = PORT.to_string();
    for (statements, up) in [(vec![], "false"), (vec!["link-detect false"], "true")] {
        let args = e2e::args(&["-H", "1", "-g", &port], &statements, &["eth-b"]);
        let r = lab.routed(ROUTED, &format!("routed-{up}"), &a, &args);
        let want = format!("add interface eth-b up {up}");
        let mut last = String::new();
        let seen = lab.wait_for(Duration::from_secs(10), || {
            last = lab.control(&a, PORT, "dump").unwrap_or_default();
            last.lines().any(|l| l.starts_with(&want))
        });
        assert!(
            seen.is_some(),
            "{statements:?}: want {want:?}:\n{last}\n{}",
            lab.logs()
        );
        assert_eq!(
            lab.stop(r, Duration::from_secs(5)).map(|s| s.success()),
            Some(true)
        );
    }
}
