//! Differential test: routed must accept exactly the `-C` statements babeld 1.12 accepts,
//! except for a short list of deliberate differences that are checked to still hold.
//!
//! babeld parses `-C` statements while reading its options, so `babeld -C STATEMENT -Q` either
//! complains about the statement or stops at the unknown option `-Q`, in both cases before it
//! touches the system.

use std::path::PathBuf;
use std::process::Command;

use routed::config::{parse_args, Invocation};

/// Statements both parsers must agree on.
const AGREE: &[&str] = &[
    // globals
    "debug 1",
    "debug 0x2",
    "debug x",
    "debug",
    "debug 1 2",
    "debug \"1\"",
    "protocol-port 6696",
    "protocol-port 0",
    "protocol-port 65534",
    "protocol-port 65535",
    "protocol-group ff02::1:6",
    "protocol-group 224.0.0.1",
    "protocol-group nowhere",
    "kernel-priority 0",
    "kernel-priority 10",
    "reflect-kernel-metric true",
    "reflect-kernel-metric perhaps",
    "random-id yes",
    "ipv6-subtrees no",
    "link-detect auto",
    "daemonise false",
    "skip-kernel-setup true",
    "local-port 33123",
    "local-port-readwrite 33123",
    "local-path /run/babeld.sock",
    "local-path-readwrite \"/run/babeld sock\"",
    "export-table 100",
    "import-table 100",
    "import-table 0",
    "diversity true",
    "diversity 1",
    "diversity-factor 0",
    "diversity-factor 256",
    "diversity-factor 257",
    "smoothing-half-life 0",
    "smoothing-half-life -1",
    "router-id 02:00:00:00:00:00:00:01",
    "router-id 02-00-00-00-00-00-00-01",
    "router-id 00:11:22:33:44:55",
    "router-id 00:11:22",
    "state-file /tmp/state",
    "log-file \"\"",
    "pid-file \"\"",
    "pid-file \"unterminated",
    "frobnicate 1",
    "# just a comment",
    "   ",
    // interfaces
    "interface eth0",
    "interface",
    "interface \"eth 0\" rxcost 5",
    "interface eth0 rxcost 10",
    "interface eth0 rxcost 0",
    "interface eth0 rxcost 65535",
    "interface eth0 rxcost 65536",
    "interface eth0 hello-interval 4",
    "interface eth0 hello-interval 0.5",
    "interface eth0 hello-interval 0",
    "interface eth0 hello-interval 655.35",
    "interface eth0 hello-interval 655.351",
    "interface eth0 hello-interval 4s",
    "interface eth0 update-interval 16",
    "interface eth0 type wired",
    "interface eth0 type wireless",
    "interface eth0 type tunnel",
    "interface eth0 type auto",
    "interface eth0 type ethernet",
    "interface eth0 wired true",
    "interface eth0 link-quality true",
    "interface eth0 link-quality maybe",
    "interface eth0 split-horizon false",
    "interface eth0 faraway true",
    "interface eth0 unicast true",
    "interface eth0 enable-timestamps true",
    "interface eth0 rfc6126-compatible true",
    "interface eth0 rtt-decay 42",
    "interface eth0 rtt-decay 0",
    "interface eth0 rtt-decay 257",
    "interface eth0 rtt-min 10",
    "interface eth0 rtt-min 0",
    "interface eth0 rtt-max 120.5",
    "interface eth0 max-rtt-penalty 96",
    "interface eth0 max-rtt-penalty 0",
    "interface eth0 v4-via-v6 true",
    "interface eth0 v4viav6 true",
    "interface eth0 accept-bad-signatures true",
    "interface eth0 channel 6",
    "interface eth0 channel 0",
    "interface eth0 channel 255",
    "interface eth0 channel 256",
    "interface eth0 channel -1",
    "interface eth0 channel interfering",
    "interface eth0 channel noninterfering",
    "interface eth0 key nokey",
    "interface eth0 probe-mtu true",
    "interface eth0 bogus 1",
    "interface eth0 rxcost 10 # comment",
    "default rxcost 300 hello-interval 2",
    "default bogus",
    // filters
    "in deny",
    "in ip 10.0.0.0/8 le 24 allow",
    "in ip 10.0.0.0/33",
    "in ip default deny",
    "in ip 2001:db8::1",
    "in neigh fe80::1 if wlan0 metric 128",
    "in neigh nowhere",
    "in id 02:11:22:ff:fe:33:44:55 deny",
    "in metric 0",
    "in metric 65535",
    "in metric 65536",
    "in ip 10.0.0.0/8 src-ip 2001:db8::/32",
    "out if \"eth 0\" deny",
    "out src-ip 2001:db8::/32 src-ge 48 src-le 56 src-eq 52",
    "redistribute metric 256",
    "redistribute proto 11 ip ::/0 le 64 metric 256",
    "redistribute proto 11 ip 0.0.0.0/0 le 24 metric 256",
    "redistribute src-prefix 2001:DB8:0:1::/64",
    "redistribute local deny",
    "redistribute proto 0",
    "redistribute ip 10.0.0.0/8 src-prefix 2001:db8::/64",
    "install ip 2001:db8::/32 table 100 pref-src 2001:db8::1",
    "install table 0",
    "install pref-src 10.0.0.1 ip 2001:db8::/32",
    "install frobnicate",
    // keys
    "key id k1 type hmac-sha256 value 0123456789abcdef",
    "key id k1 type hmac-sha256",
    "key id k1 type blake2s128 value 00112233",
    "key id k1 type blake2s128 value 001",
    "key id k1 type none value 00",
    "key id k1 type md5 value 00",
    "key type hmac-sha256 value 00",
    "key id k1 type hmac-sha256 value 0g",
    // control requests are refused on the command line
    "dump",
    "monitor",
    "quit",
    "flush interface eth0",
    "",
];

/// Statements where routed deliberately differs: (statement, babeld accepts, why).
const DIFFER: &[(&str, bool, &str)] = &[
    (
        "first-rule-priority 100",
        false,
        "in the 1.12 manual but not in the 1.12.1 binary; routed accepts it",
    ),
    (
        "first-table-number 10",
        false,
        "older babeld statement; routed accepts it",
    ),
    (
        "allow-duplicates 64",
        false,
        "babeld 1.12.1 aborts on it (a typo in its option table); routed accepts it",
    ),
    (
        "interface eth0 channel -2",
        true,
        "babeld's internal code for noninterfering; routed wants the word",
    ),
    ("diversity 5", true, "routed only takes kinds 0 to 3"),
    ("in le 200", true, "routed refuses prefix lengths over 128"),
    ("in le -1", true, "routed refuses negative prefix lengths"),
    (
        "router-id 00:11:22:33:44:55:66:77xyz",
        true,
        "routed refuses trailing garbage",
    ),
    (
        "interface \"\"",
        true,
        "routed refuses an empty interface name",
    ),
    (
        "local-path \"\"",
        true,
        "routed refuses an empty socket path",
    ),
];

fn babeld() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into(), "/sbin".into()])
        .map(|d| d.join("babeld"))
        .find(|p| p.is_file())
}

/// babeld 1.12, or `None` after printing why the comparison is skipped. Under CI a missing or
/// different babeld fails the test instead.
fn babeld_1_12() -> Option<PathBuf> {
    let ci = std::env::var_os("CI").is_some();
    let Some(babeld) = babeld() else {
        assert!(
            !ci,
            "babeld is not installed: the differential config tests need babeld 1.12"
        );
        eprintln!("skipping: babeld is not installed (needed to compare configuration parsing)");
        return None;
    };
    let version = Command::new(&babeld).arg("-V").output().expect("babeld -V");
    let version = String::from_utf8_lossy(&version.stderr).trim().to_string();
    if !version.starts_with("babeld-1.12") {
        assert!(
            !ci,
            "the differential config tests need babeld 1.12, found {version:?}"
        );
        eprintln!("skipping: found {version:?}, the comparison is for babeld 1.12");
        return None;
    }
    Some(babeld)
}

/// Whether babeld 1.12 accepts `stmt` as a `-C` statement (a crash counts as refusal).
fn babeld_accepts(babeld: &PathBuf, stmt: &str) -> bool {
    let out = Command::new(babeld)
        .args(["-C", stmt, "-Q"])
        .output()
        .expect("run babeld");
    let err = String::from_utf8_lossy(&out.stderr);
    let crashed = out.status.code().is_none();
    if crashed || err.contains("Couldn't parse configuration from command line") {
        false
    } else if err.contains("Syntax:") {
        true
    } else {
        panic!("unexpected babeld output for {stmt:?}: {err}")
    }
}

fn routed_accepts(stmt: &str) -> bool {
    matches!(parse_args(["-C", stmt, "eth0"]), Ok(Invocation::Run(_)))
}

#[test]
fn command_statements_match_babeld() {
    let Some(babeld) = babeld_1_12() else { return };

    let mut mismatches = Vec::new();
    for stmt in AGREE {
        let (b, r) = (babeld_accepts(&babeld, stmt), routed_accepts(stmt));
        if b != r {
            mismatches.push(format!("{stmt:?}: babeld accepts={b}, routed accepts={r}"));
        }
    }
    for (stmt, b_expected, why) in DIFFER {
        let (b, r) = (babeld_accepts(&babeld, stmt), routed_accepts(stmt));
        if b != *b_expected || r == b {
            mismatches.push(format!(
                "{stmt:?} ({why}): expected babeld accepts={b_expected} and routed the opposite, \
                 got babeld={b}, routed={r}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Option lists both must agree on. None of them leaves an option without its argument, so
/// the trailing `-Q` is always read as an option.
const AGREE_OPTIONS: &[&[&str]] = &[
    &["-d1"],
    &["-d", "1"],
    &["-d", "x"],
    &["-d", "-1"],
    &["-sw", "-lrD"],
    &["-sd1"],
    &["-p", "6697"],
    &["-p", "0"],
    &["-p", "65536"],
    &["-h", "4"],
    &["-h", "0.5"],
    &["-h", "0"],
    &["-H", "655.35"],
    &["-H", "655.351"],
    &["-z", "3"],
    &["-z", "2,64"],
    &["-z", "2,0"],
    &["-z", "2,257"],
    &["-z", "2;64"],
    &["-M", "0"],
    &["-M", "3600"],
    &["-M", "3601"],
    &["-k", "65535"],
    &["-k", "65536"],
    &["-A", "10"],
    &["-t", "254"],
    &["-t", "65536"],
    &["-T", "100", "-T", "101"],
    &["-T", "x"],
    &["-m", "ff02::1:6"],
    &["-m", "ff05::1:6"],
    &["-m", "2001:db8::1"],
    &["-m", "bogus"],
    &["-g", "33123"],
    &["-g", "0"],
    &["-G", "/run/babeld.sock"],
    &["-S", "/tmp/state", "-L", "/tmp/log", "-I", ""],
    &["-c", "/nonexistent.conf"],
    &["-C", "debug 1"],
    &["-Cdebug 1"],
    &["-i", "1"],
    &["-X"],
    &["wlan0", "-d", "2"],
];

/// Whether babeld reaches the trailing `-Q`, i.e. accepted every option before it.
fn babeld_accepts_options(babeld: &PathBuf, opts: &[&str]) -> bool {
    let out = Command::new(babeld)
        .args(opts)
        .arg("-Q")
        .output()
        .expect("run babeld");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some(),
        "babeld crashed on {opts:?}: {err}"
    );
    err.contains("invalid option -- 'Q'")
}

#[test]
fn command_line_options_match_babeld() {
    let Some(babeld) = babeld_1_12() else { return };
    let mut mismatches = Vec::new();
    for opts in AGREE_OPTIONS {
        let b = babeld_accepts_options(&babeld, opts);
        let mut args: Vec<&str> = opts.to_vec();
        args.push("eth0");
        let r = matches!(parse_args(args), Ok(Invocation::Run(_)));
        if b != r {
            mismatches.push(format!("{opts:?}: babeld accepts={b}, routed accepts={r}"));
        }
    }
    // Deliberate difference: babeld takes any diversity kind; routed only 0 to 3.
    assert!(babeld_accepts_options(&babeld, &["-z", "7"]));
    assert!(parse_args(["-z", "7", "eth0"]).is_err());
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Statements sent to a running babeld's read-write socket; babeld answers `ok` to those it
/// takes at run time and `bad` to the others.
const RUNTIME: &[&str] = &[
    "link-detect true",
    "log-file /dev/null",
    "smoothing-half-life 3",
    "diversity 1",
    "diversity-factor 100",
    "debug 1",
    "random-id true",
    "kernel-priority 5",
    "protocol-port 6697",
    "state-file /tmp/x",
    "local-port 4000",
    "export-table 10",
    "import-table 5",
    "ipv6-subtrees true",
    "router-id 02:00:00:00:00:00:00:09",
    "in deny",
    "out deny",
    "redistribute local deny",
    "install deny",
    "interface lo rxcost 50",
    "interface nosuch0 hello-interval 2",
    "default rxcost 70",
    "key id k type blake2s128 value 0011",
    "dump",
    "reopen-logfile",
];

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Sends one request on a fresh connection and returns babeld's final line.
fn ask(sock: &std::path::Path, request: &str) -> String {
    use std::io::{BufRead, BufReader, Write};
    let stream = std::os::unix::net::UnixStream::connect(sock).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    // The greeting ends with "ok".
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "babeld closed");
        if line.trim() == "ok" {
            break;
        }
    }
    (&stream)
        .write_all(format!("{request}\n").as_bytes())
        .unwrap();
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "babeld closed");
        let l = line.trim();
        if l == "ok" || l == "bad" || l == "no" || l.starts_with("no ") {
            return l.to_string();
        }
    }
}

#[test]
fn runtime_statements_match_babeld() {
    let Some(babeld) = babeld_1_12() else { return };
    let ci = std::env::var_os("CI").is_some();
    if !is_root() {
        assert!(
            !ci,
            "the run-time statement comparison needs root (for a network namespace)"
        );
        eprintln!("skipping: needs root to run babeld in a network namespace");
        return;
    }
    let dir = std::env::temp_dir().join(format!("routed-babeld-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("ctl.sock");
    let _ = std::fs::remove_file(&sock);
    // A private network namespace with only lo: babeld touches nothing outside it, and the
    // UNIX-domain socket is reachable from here.
    let child = Command::new("unshare")
        .args(["-n", "sh", "-c"])
        .arg("ip link set lo up && exec \"$0\" -I '' -S \"$1\" -G \"$2\" -L \"$3\" lo")
        .arg(&babeld)
        .arg(dir.join("state"))
        .arg(&sock)
        .arg(dir.join("log"))
        .spawn();
    let child = match child {
        Ok(c) => KillOnDrop(c),
        Err(e) => {
            assert!(!ci, "cannot run unshare: {e}");
            eprintln!("skipping: cannot run unshare: {e}");
            return;
        }
    };
    let start = std::time::Instant::now();
    while !sock.exists() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "babeld did not open its control socket"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut mismatches = Vec::new();
    for stmt in RUNTIME {
        let b = ask(&sock, stmt) == "ok";
        let r =
            matches!(routed::config::parse_statement(stmt), Ok(Some(s)) if s.allowed_at_runtime());
        if b != r {
            mismatches.push(format!("{stmt:?}: babeld takes it={b}, routed says={r}"));
        }
    }
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Whether babeld 1.12 reads the configuration file `path` without complaint. babeld reads
/// its files after the options and then opens its log file; a log file in a missing directory
/// stops it right there, before it touches the system.
fn babeld_accepts_file(babeld: &PathBuf, path: &std::path::Path) -> bool {
    let out = Command::new(babeld)
        .arg("-c")
        .arg(path)
        .args(["-L", "/nonexistent-routed-test-dir/log"])
        .output()
        .expect("run babeld");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some(),
        "babeld crashed on {path:?}: {err}"
    );
    if err.contains("Couldn't parse configuration from file") {
        false
    } else if err.contains("reopen_logfile") {
        true
    } else {
        panic!("unexpected babeld output for {path:?}: {err}")
    }
}

#[test]
fn configuration_files_match_babeld() {
    let Some(babeld) = babeld_1_12() else { return };
    let dir = std::env::temp_dir().join(format!("routed-babeld-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = [
        include_str!("data/mesh.conf"),
        include_str!("data/openwrt.conf"),
        include_str!("data/source-specific.conf"),
        "",
        "\n\n# only comments\n   \n",
        "debug 1\r\ninterface eth0 rxcost 5\r\n",
        "interface eth0 rxcost 5",
    ];
    let bad_tails = [
        "frobnicate 1\n",
        "interface eth0 rxcost\n",
        "in ip 10.0.0.0/33\n",
        "interface eth0 key missing\n",
        "dump\n",
        "reopen-logfile\n",
        "log-file \"unterminated\n",
    ];
    let mut cases: Vec<String> = good.iter().map(|s| s.to_string()).collect();
    for tail in bad_tails {
        cases.push(format!("{}{tail}", include_str!("data/openwrt.conf")));
    }
    let mut mismatches = Vec::new();
    for (i, text) in cases.iter().enumerate() {
        let path = dir.join(format!("case{i}.conf"));
        std::fs::write(&path, text).unwrap();
        let b = babeld_accepts_file(&babeld, &path);
        let mut config = routed::config::Config::default();
        let r = config.apply_text(text, &path).is_ok();
        if b != r {
            mismatches.push(format!(
                "case {i}: babeld accepts={b}, routed accepts={r}\n{text}"
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
