//! Start-up and shutdown: leftover protocol-42 routes purged at start, routes retracted and
//! removed on SIGTERM (and SIGHUP), the tables written to the log on SIGUSR1, the state file
//! keeping router-id and seqno across restarts, and configuration errors stopping start-up.

use std::time::Duration;

use e2e::{parse_dump, Lab};
use nix::sys::signal::Signal;

const ROUTED: &str = env!("CARGO_BIN_EXE_routed");
const PORT: u16 = 33123;

fn seqno_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

/// Router-id and seqno from routed's start-up log line `router-id X, seqno N` (the last one).
fn started_with(log: &str) -> (String, u16) {
    let l = log
        .lines()
        .rev()
        .find(|l| l.contains("router-id ") && l.contains(", seqno "))
        .expect("start-up line");
    let rest = &l[l.find("router-id ").unwrap_or(0) + 10..];
    let (id, seq) = rest.split_once(", seqno ").expect("format");
    (id.to_string(), seq.trim().parse().expect("seqno"))
}

fn state(lab: &Lab, name: &str) -> (String, u16) {
    let text = std::fs::read_to_string(lab.state_file(name)).expect("state file");
    let mut w = text.split_whitespace();
    let id = w.next().expect("id").to_string();
    (id, w.next().expect("seqno").parse().expect("seqno"))
}

#[test]
fn sigterm_retracts_and_removes_every_route_and_leftovers_are_purged() {
    let Some(mut lab) = Lab::new("sigterm", true) else {
        return;
    };
    let a = lab.node("a", &["10.255.0.1/32", "fd00:255::1/128"]);
    let b = lab.node("b", &["10.255.0.2/32", "fd00:255::2/128"]);
    lab.link(&a, "eth-b", &b, "eth-a");
    // A leftover of an earlier run, in the main table and in the export table.
    lab.ip(&a, "route add 10.99.0.0/16 dev lo proto 42");
    lab.ip(&a, "-6 route add fd99::/64 dev lo proto 42");
    lab.ip(&a, "route add 10.98.0.0/16 dev lo proto static");
    let port = PORT.to_string();
    let r = lab.routed(ROUTED, "routed-a", &a, &["-H", "1", "eth-b"]);
    lab.babeld("babeld-b", &b, &["-g", &port, "eth-a"]);
    lab.wait_routes(&a, &["10.255.0.2", "fd00:255::2"]);
    lab.wait_routes(&b, &["10.255.0.1", "fd00:255::1"]);
    let routes = lab.all_babel_routes(&a);
    assert!(
        !routes.contains("10.99.0.0/16") && !routes.contains("fd99::/64"),
        "leftovers not purged: {routes}"
    );
    assert!(
        lab.ip(&a, "route show proto static")
            .contains("10.98.0.0/16"),
        "a foreign route was removed"
    );

    let status = lab
        .stop(r, Duration::from_secs(10))
        .expect("routed did not exit after SIGTERM");
    assert!(status.success(), "exit status {status}\n{}", lab.logs());
    assert_eq!(
        lab.all_babel_routes(&a).trim(),
        "",
        "protocol-42 routes left behind"
    );
    // babeld hears the retractions at once, long before its routes would expire (about
    // 14 s with 1 s hellos).
    let gone = lab.wait_for(Duration::from_secs(5), || {
        let d = parse_dump(&lab.wait_control(&b, PORT, "dump"));
        let from_a: Vec<_> = d
            .iter()
            .filter(|l| l.object == "route" && l.fields["prefix"].starts_with("10.255.0.1/"))
            .collect();
        from_a.iter().all(|l| l.fields["metric"] == "65535")
            && !lab
                .babel_routes(&b, "-4")
                .lines()
                .any(|l| l.starts_with("10.255.0.1 "))
    });
    assert!(
        gone.is_some(),
        "babeld did not see a retraction: {}\n{}",
        lab.wait_control(&b, PORT, "dump"),
        lab.logs()
    );
    eprintln!(
        "babeld saw the retraction {:?} after SIGTERM",
        gone.unwrap_or_default()
    );
}

/// babeld's other signals: SIGUSR1 writes the tables to the log (at any `-d` level) and the
/// daemon keeps running; SIGHUP stops it as cleanly as SIGTERM, where its default action
/// would kill it with its routes left in the kernel and no retraction sent.
#[test]
fn sigusr1_dumps_the_tables_to_the_log_and_sighup_shuts_down_cleanly() {
    let Some(mut lab) = Lab::new("sighup", true) else {
        return;
    };
    let (a, b) = lab.pair();
    let port = PORT.to_string();
    // -d 0: warnings only; the dump is written all the same.
    let r = lab.routed(ROUTED, "routed-a", &a, &["-H", "1", "-d", "0", "eth-b"]);
    lab.babeld("babeld-b", &b, &["-g", &port, "eth-a"]);
    lab.wait_routes(&a, &["10.255.0.2", "fd00:255::2"]);
    lab.wait_routes(&b, &["10.255.0.1", "fd00:255::1"]);

    lab.signal(r, Signal::SIGUSR1);
    let dumped = lab.wait_for(Duration::from_secs(5), || {
        lab.log(r).contains("SIGUSR1: end of dump")
    });
    assert!(dumped.is_some(), "no dump in the log:\n{}", lab.logs());
    std::thread::sleep(Duration::from_millis(500));
    assert!(lab.running(r), "routed stopped on SIGUSR1:\n{}", lab.logs());
    let log = lab.log(r);
    let start = log
        .find("SIGUSR1: dump of router-id ")
        .expect("dump header");
    let dump = parse_dump(&log[start..]);
    let has = |object: &str, field: &str, value: &str| {
        dump.iter()
            .any(|l| l.object == object && l.fields.get(field).is_some_and(|v| v == value))
    };
    assert!(has("interface", "up", "true"), "{log}");
    assert!(dump.iter().any(|l| l.object == "neighbour"), "{log}");
    assert!(has("route", "prefix", "10.255.0.2/32"), "{log}");
    assert!(has("route", "prefix", "fd00:255::2/128"), "{log}");
    assert!(has("xroute", "prefix", "10.255.0.1/32"), "{log}");
    assert!(
        lab.babel_routes(&a, "-4").contains("10.255.0.2"),
        "routes gone after SIGUSR1"
    );

    let status = lab
        .stop_with(r, Signal::SIGHUP, Duration::from_secs(10))
        .expect("routed did not exit after SIGHUP");
    assert!(status.success(), "exit status {status}\n{}", lab.logs());
    assert_eq!(
        lab.all_babel_routes(&a).trim(),
        "",
        "protocol-42 routes left behind"
    );
    let nexthops = std::process::Command::new("ip")
        .args(["-n", &a, "nexthop", "show", "protocol", "42"])
        .output()
        .expect("ip nexthop");
    assert_eq!(
        String::from_utf8_lossy(&nexthops.stdout).trim(),
        "",
        "protocol-42 nexthop objects left behind"
    );
    // The neighbour hears the retraction at once, long before the route would expire.
    let gone = lab.wait_for(Duration::from_secs(5), || {
        !lab.babel_routes(&b, "-4")
            .lines()
            .any(|l| l.starts_with("10.255.0.1 "))
    });
    assert!(
        gone.is_some(),
        "babeld kept routed's route after SIGHUP:\n{}",
        lab.logs()
    );
}

#[test]
fn state_file_keeps_router_id_and_seqno_across_restarts() {
    let Some(mut lab) = Lab::new("state", true) else {
        return;
    };
    let a = lab.node("a", &["10.255.0.1/32"]);
    let b = lab.node("b", &["10.255.0.2/32"]);
    lab.link(&a, "eth-b", &b, "eth-a");
    let port = PORT.to_string();
    lab.babeld("babeld-b", &b, &["-g", &port, "eth-a"]);
    let r1 = lab.routed(ROUTED, "routed-a", &a, &["-H", "1", "eth-b"]);
    lab.wait_routes(&b, &["10.255.0.1"]);
    let (id1, seq1) = started_with(&lab.log(r1));
    // The harness runs routed with `-d 2`: its debug lines reach the log.
    assert!(
        lab.log(r1).contains("configured interface eth-b"),
        "no debug line with -d 2:\n{}",
        lab.log(r1)
    );
    assert!(lab
        .stop(r1, Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    let (sid, sseq) = state(&lab, "routed-a");
    assert_eq!(sid, id1, "the state file holds our router-id");
    assert!(
        sseq == seq1 || seqno_newer(sseq, seq1),
        "state file seqno {sseq} behind {seq1}"
    );
    lab.wait_for(Duration::from_secs(5), || {
        !lab.babel_routes(&b, "-4").contains("10.255.0.1")
    });

    // Restart with the state file: same router-id, a newer seqno, and babeld takes the routes.
    let r2 = lab.routed(ROUTED, "routed-a", &a, &["-H", "1", "eth-b"]);
    let t = lab.wait_routes(&b, &["10.255.0.1"]);
    let (id2, seq2) = started_with(&lab.log(r2));
    assert_eq!(id2, id1);
    assert!(seqno_newer(seq2, sseq), "seqno went from {sseq} to {seq2}");
    let d = parse_dump(&lab.wait_control(&b, PORT, "dump"));
    assert!(d.iter().any(|l| l.object == "route"
        && l.fields["prefix"] == "10.255.0.1/32"
        && l.fields["id"] == id1));
    eprintln!(
        "restart with state file: seqno {sseq} -> {seq2}, babeld installed the route in {t:?}"
    );
    assert!(lab
        .stop(r2, Duration::from_secs(10))
        .is_some_and(|s| s.success()));

    // Without a state file (-S ""): the same router-id (from the MAC address) and a random
    // seqno. babeld, like the RFC, refuses a seqno far behind what it remembers until the
    // source expires (minutes), so only routed's side is checked here: it learns babeld's
    // routes.
    lab.wait_for(Duration::from_secs(5), || {
        !lab.babel_routes(&b, "-4").contains("10.255.0.1")
    });
    let r3 = lab.routed(ROUTED, "routed-a", &a, &["-H", "1", "-S", "", "eth-b"]);
    let t = lab.wait_routes(&a, &["10.255.0.2"]);
    let (id3, _) = started_with(&lab.log(r3));
    assert_eq!(id3, id1, "router-id from the MAC address");
    assert!(lab
        .stop(r3, Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    eprintln!("restart without state file: routed installed babeld's route in {t:?}");
    // With -r (random-id) and no state file: a new router-id, which babeld takes at once.
    let r4 = lab.routed(
        ROUTED,
        "routed-a",
        &a,
        &["-H", "1", "-S", "", "-r", "eth-b"],
    );
    let t = lab.wait_routes(&b, &["10.255.0.1"]);
    let (id4, _) = started_with(&lab.log(r4));
    assert_ne!(id4, id1);
    let d = parse_dump(&lab.wait_control(&b, PORT, "dump"));
    assert!(d.iter().any(|l| l.object == "route"
        && l.fields["prefix"] == "10.255.0.1/32"
        && l.fields["id"] == id4));
    eprintln!("restart with a random router-id: babeld installed the route in {t:?}");
}

#[test]
fn bad_configuration_stops_start_up_with_file_line_and_reason() {
    let Some(mut lab) = Lab::new("badconf", false) else {
        return;
    };
    let a = lab.node("a", &[]);
    let conf = lab.dir.join("bad.conf");
    std::fs::write(
        &conf,
        "default hello-interval 1\ninterface eth0 frobnicate 3\n",
    )
    .expect("write");
    let r = lab.routed(
        ROUTED,
        "routed-a",
        &a,
        &["-c", &conf.display().to_string(), "eth0"],
    );
    let start = std::time::Instant::now();
    while lab.running(r) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !lab.running(r),
        "routed kept running with a bad configuration"
    );
    let log = lab.log(r);
    assert!(log.contains(&format!("{}:2:", conf.display())), "{log}");
    assert!(log.contains("frobnicate"), "{log}");
    assert!(lab.all_babel_routes(&a).is_empty());
}

#[test]
fn daemonise_with_pid_and_log_files_and_a_private_unix_control_socket() {
    use std::os::unix::fs::PermissionsExt;
    let Some(mut lab) = Lab::new("daemonise", false) else {
        return;
    };
    let a = lab.node("a", &["10.255.0.1/32"]);
    let b = lab.node("b", &[]);
    lab.link(&a, "eth-b", &b, "eth-a");
    let pid_file = lab.dir.join("d.pid");
    let log_file = lab.dir.join("d.log");
    let sock = lab.dir.join("ctl.sock");
    let state = lab.dir.join("d.state");
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &a, ROUTED, "-D", "-d", "1"])
        .arg("-L")
        .arg(&log_file)
        .arg("-I")
        .arg(&pid_file)
        .arg("-S")
        .arg(&state)
        .arg("-g")
        .arg(&sock)
        .arg("eth-b")
        .output()
        .expect("routed -D");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut pid = 0u32;
    let found = lab.wait_for(Duration::from_secs(10), || {
        pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        pid != 0 && sock.exists()
    });
    assert!(
        found.is_some(),
        "no pid file or control socket; log:\n{}",
        std::fs::read_to_string(&log_file).unwrap_or_default()
    );
    lab.adopt(pid);
    let mode = std::fs::metadata(&sock)
        .expect("socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "control socket mode {mode:o}");
    let dump = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &a,
            env!("CARGO_BIN_EXE_babelctl"),
            "dump",
            "-s",
        ])
        .arg(&sock)
        .output()
        .expect("babelctl");
    let text = String::from_utf8_lossy(&dump.stdout);
    assert!(text.contains("add interface eth-b "), "{text}");
    // The daemon runs in its own session, detached from ours.
    let sid = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = sid
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        fields.get(3).copied(),
        Some(pid.to_string().as_str()),
        "not a session leader: {sid}"
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let gone = lab.wait_for(Duration::from_secs(10), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
    });
    assert!(gone.is_some(), "daemon did not exit on SIGTERM");
    assert!(!pid_file.exists(), "pid file left behind");
    assert!(!sock.exists(), "control socket left behind");
    let log = std::fs::read_to_string(&log_file).expect("log file");
    assert!(
        log.contains("router-id") && log.contains("SIGTERM"),
        "{log}"
    );
}
