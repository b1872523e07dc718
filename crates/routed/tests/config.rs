//! Configuration parsing as a babeld 1.12 user sees it: configuration files, `-C` statements
//! and command lines.

use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use routed::config::*;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh file in the temporary directory holding `text`.
fn temp_file(name: &str, text: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("routed-config-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn parse_file_text(text: &str) -> Result<Config, ConfigError> {
    let mut c = Config::default();
    c.apply_text(text, Path::new("babeld.conf"))?;
    Ok(c)
}

fn error_of(text: &str) -> String {
    parse_file_text(text).unwrap_err().to_string()
}

fn run(args: &[&str]) -> CommandLine {
    match parse_args(args.iter().copied()) {
        Ok(Invocation::Run(cl)) => *cl,
        other => panic!("expected a run invocation, got {other:?}"),
    }
}

fn prefix(s: &str) -> babel_core::wire::Prefix {
    s.parse().unwrap()
}

/// A configuration using every global statement of babeld 1.12.
const GLOBALS_CONF: &str = r#"
# Every global option babeld 1.12 documents.
protocol-group ff02::1:6
protocol-port 6697
kernel-priority 10
reflect-kernel-metric true
allow-duplicates 64
random-id yes
ipv6-subtrees true
debug 2
export-table 200
import-table 100
import-table 101
link-detect true
diversity true
diversity-factor 64
smoothing-half-life 8
daemonise false
skip-kernel-setup true
router-id 02:00:00:00:00:00:00:01
state-file "/tmp/routed state"
log-file /tmp/routed.log
pid-file ""
first-table-number 20
first-rule-priority 200
local-port 33123
"#;

#[test]
fn every_global_statement() {
    let c = parse_file_text(GLOBALS_CONF).unwrap();
    let g = &c.globals;
    assert_eq!(
        g.protocol_group,
        Some(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 6))
    );
    assert_eq!(g.protocol_port, Some(6697));
    assert_eq!(g.kernel_priority, Some(10));
    assert_eq!(g.reflect_kernel_metric, Some(true));
    assert_eq!(g.allow_duplicates, Some(64));
    assert_eq!(g.random_id, Some(true));
    assert_eq!(g.ipv6_subtrees, Some(true));
    assert_eq!(g.debug, Some(2));
    assert_eq!(g.export_table, Some(200));
    assert_eq!(g.import_tables, vec![100, 101]);
    assert_eq!(g.link_detect, Some(true));
    assert_eq!(g.diversity, Some(3));
    assert_eq!(g.diversity_factor, Some(64));
    assert_eq!(g.smoothing_half_life, Some(8));
    assert_eq!(g.daemonise, Some(false));
    assert_eq!(g.skip_kernel_setup, Some(true));
    assert_eq!(g.router_id.unwrap().to_string(), "02:00:00:00:00:00:00:01");
    assert_eq!(
        g.state_file,
        Some(FileSetting::Path(PathBuf::from("/tmp/routed state")))
    );
    assert_eq!(g.log_file(), Some(PathBuf::from("/tmp/routed.log")));
    assert_eq!(g.pid_file, Some(FileSetting::Off));
    assert_eq!(g.pid_file(), None, "pid-file \"\" means no pid file");
    assert_eq!(g.first_table_number, Some(20));
    assert_eq!(g.first_rule_priority, Some(200));
    assert_eq!(
        g.local_server,
        Some(LocalServer {
            endpoint: LocalEndpoint::Port(33123),
            read_write: false
        })
    );
}

#[test]
fn defaults_apply_when_nothing_is_set() {
    let g = Globals::default();
    assert_eq!(g.protocol_port(), 6696);
    assert_eq!(g.protocol_group().to_string(), "ff02::1:6");
    assert_eq!(g.state_file(), Some(PathBuf::from("/var/lib/babel-state")));
    assert_eq!(g.pid_file(), Some(PathBuf::from("/var/run/babeld.pid")));
    assert_eq!(g.log_file(), None);
    let daemon = Globals {
        daemonise: Some(true),
        ..Globals::default()
    };
    assert_eq!(
        daemon.log_file(),
        Some(PathBuf::from("/var/log/babeld.log"))
    );
}

#[test]
fn local_server_last_statement_wins() {
    let c = parse_file_text("local-port 33123\nlocal-path-readwrite /run/babeld.sock\n").unwrap();
    assert_eq!(
        c.globals.local_server,
        Some(LocalServer {
            endpoint: LocalEndpoint::Path(PathBuf::from("/run/babeld.sock")),
            read_write: true
        })
    );
    let c = parse_file_text("local-path /run/b.sock\nlocal-port-readwrite 999\n").unwrap();
    assert_eq!(
        c.globals.local_server,
        Some(LocalServer {
            endpoint: LocalEndpoint::Port(999),
            read_write: true
        })
    );
}

/// A mesh router: wireless and wired interfaces, a tunnel with RTT, keys and filters.
const MESH_CONF: &str = include_str!("data/mesh.conf");

#[test]
fn mesh_configuration_interfaces() {
    let c = parse_file_text(MESH_CONF).unwrap();
    let names: Vec<&str> = c.interfaces.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["wlan0", "eth0", "wg0", "mesh0", "lo0", "odd name"]);

    assert_eq!(c.default_interface.enable_timestamps, Some(true));
    assert_eq!(
        c.default_interface.link_quality, None,
        "auto leaves it unset"
    );

    let wlan = c.interface("wlan0");
    assert_eq!(wlan.kind, Some(InterfaceType::Wireless));
    assert_eq!(wlan.hello_interval, Some(Duration::from_secs(2)));
    assert_eq!(wlan.update_interval, Some(Duration::from_secs(8)));
    assert_eq!(wlan.channel, Some(Channel::Number(6)));
    assert_eq!(wlan.enable_timestamps, Some(true), "inherited from default");

    let eth = c.interface("eth0");
    assert_eq!(eth.kind, Some(InterfaceType::Wired));
    assert_eq!(eth.rxcost, Some(96));
    assert_eq!(eth.split_horizon, Some(true));

    // Two statements for wg0 merge.
    let wg = c.interface("wg0");
    assert_eq!(wg.kind, Some(InterfaceType::Tunnel));
    assert_eq!(wg.rtt_decay, Some(42));
    assert_eq!(wg.rtt_min, Some(Duration::from_millis(10)));
    assert_eq!(wg.rtt_max, Some(Duration::from_millis(120)));
    assert_eq!(wg.max_rtt_penalty, Some(96));
    assert_eq!(wg.faraway, Some(true));
    assert_eq!(wg.key.as_deref(), Some("tun"));
    assert_eq!(wg.accept_bad_signatures, Some(false));
    assert_eq!(wg.unicast, Some(true));

    let mesh = c.interface("mesh0");
    assert_eq!(mesh.link_quality, Some(true));
    assert_eq!(mesh.v4_via_v6, Some(true));
    assert_eq!(mesh.rfc6126_compatible, Some(false));
    assert_eq!(mesh.channel, Some(Channel::NonInterfering));

    let lo = c.interface("lo0");
    assert_eq!(lo.channel, Some(Channel::Interfering));
    assert_eq!(lo.hello_interval, Some(Duration::from_millis(500)));
    assert_eq!(lo.update_interval, Some(Duration::from_millis(655_350)));

    assert_eq!(c.interface("odd name").kind, Some(InterfaceType::Wired));
    // An interface without a statement gets the defaults.
    assert_eq!(c.interface("eth9"), c.default_interface);
}

#[test]
fn mesh_configuration_keys() {
    let c = parse_file_text(MESH_CONF).unwrap();
    let k = c.key("mesh-key").unwrap();
    assert_eq!(k.kind, KeyType::HmacSha256);
    assert_eq!(
        k.value.len(),
        64,
        "hmac-sha256 keys are zero-padded to 64 bytes"
    );
    assert_eq!(&k.value[..4], &[0x01, 0x23, 0x45, 0x67]);
    assert!(k.value[16..].iter().all(|&b| b == 0));
    // Without a value, an all-zero HMAC key as in babeld (the daemon warns about it).
    let z = parse_file_text("key id z type hmac-sha256\n").unwrap();
    assert_eq!(z.key("z").unwrap().value, vec![0; 64]);
    let t = c.key("tun").unwrap();
    assert_eq!(t.kind, KeyType::Blake2s128);
    assert_eq!(t.value.len(), 16);
    assert!(
        !format!("{t:?}").contains("0011"),
        "Debug must not print the secret"
    );
}

#[test]
fn mesh_configuration_filters() {
    let c = parse_file_text(MESH_CONF).unwrap();
    let f = &c.filters;
    assert_eq!(
        (
            f.input.len(),
            f.output.len(),
            f.redistribute.len(),
            f.install.len()
        ),
        (3, 2, 5, 2)
    );

    let in0 = &f.input[0];
    assert_eq!(in0.prefix, Some(prefix("10.0.0.0/8")));
    assert_eq!(in0.family, Some(Family::V4));
    assert_eq!(in0.plen_le, Some(24));
    assert_eq!(in0.action.verdict, Verdict::Allow);

    let in1 = &f.input[1];
    assert_eq!(in1.neigh, Some("fe80::1".parse::<IpAddr>().unwrap()));
    assert_eq!(in1.ifname.as_deref(), Some("wlan0"));
    assert_eq!(in1.action.verdict, Verdict::Metric(128));
    assert_eq!(in1.family, None);

    let in2 = &f.input[2];
    assert_eq!(in2.id.unwrap().to_string(), "02:11:22:ff:fe:33:44:55");
    assert_eq!(in2.action.verdict, Verdict::Deny);
    assert_eq!(in2.action.verdict.add_metric(), 0xFFFF);

    let out0 = &f.output[0];
    assert_eq!(out0.ifname.as_deref(), Some("eth0"));
    assert_eq!(out0.plen_ge, Some(24));
    let out1 = &f.output[1];
    assert_eq!(out1.src_prefix, Some(prefix("2001:db8::/32")));
    assert_eq!((out1.src_plen_ge, out1.src_plen_le), (Some(52), Some(52)));

    let r = &f.redistribute;
    assert_eq!(r[0].proto, Some(ProtoMatch::Kernel(11)));
    assert_eq!(r[0].prefix, Some(prefix("::/0")));
    assert_eq!(r[0].plen_le, Some(64));
    assert_eq!(r[0].action.verdict, Verdict::Metric(256));
    assert_eq!(r[1].family, Some(Family::V4));
    assert_eq!(r[2].action.src_prefix, Some(prefix("2001:db8:0:1::/64")));
    assert_eq!(r[2].action.verdict, Verdict::Allow, "no action means allow");
    assert_eq!(
        r[3].prefix,
        Some(prefix("::/0")),
        "`default` is ::/0 as in babeld"
    );
    assert_eq!(r[3].proto, Some(ProtoMatch::Kernel(3)));
    assert_eq!(r[4].proto, Some(ProtoMatch::Local));
    assert_eq!(r[4].action.verdict, Verdict::Deny);

    let i = &f.install;
    assert_eq!(i[0].action.table, Some(100));
    assert_eq!(
        i[0].action.pref_src,
        Some("2001:db8::1".parse::<IpAddr>().unwrap())
    );
    assert_eq!(i[1].family, Some(Family::V4));
}

#[test]
fn later_statements_override_earlier_ones() {
    let c = parse_file_text(
        "debug 1\ndebug 3\n\
         interface eth0 rxcost 10 hello-interval 4\n\
         interface eth0 rxcost 20 split-horizon auto\n\
         interface eth0 split-horizon false\n\
         interface eth0 split-horizon auto\n\
         default rxcost 300\ndefault hello-interval 1\n",
    )
    .unwrap();
    assert_eq!(c.globals.debug, Some(3));
    assert_eq!(c.interfaces.len(), 1);
    let e = c.interface("eth0");
    assert_eq!(e.rxcost, Some(20));
    assert_eq!(e.hello_interval, Some(Duration::from_secs(4)));
    // babeld: `auto` does not undo an explicit value for the same interface.
    assert_eq!(e.split_horizon, Some(false));
    assert_eq!(c.default_interface.rxcost, Some(300));
    assert_eq!(
        c.default_interface.hello_interval,
        Some(Duration::from_secs(1))
    );
    let other = c.interface("eth1");
    assert_eq!(other.rxcost, Some(300));
}

#[test]
fn tokens_quotes_comments_and_crlf() {
    let c = parse_file_text(
        "interface \"eth\\\"0\" rxcost 5 # comment with \"quote\r\n\
         \t  # indented comment\r\n\
         log-file \"/var/log/with # hash\"\r\n\
         state-file /tmp/s#tate\r\n",
    )
    .unwrap();
    assert_eq!(c.interfaces[0].0, "eth\"0");
    assert_eq!(
        c.globals.log_file,
        Some(FileSetting::Path(PathBuf::from("/var/log/with # hash")))
    );
    assert_eq!(
        c.globals.state_file,
        Some(FileSetting::Path(PathBuf::from("/tmp/s")))
    );
}

#[test]
fn boolean_and_number_spellings() {
    let c = parse_file_text(
        "random-id no\nlink-detect auto\nskip-kernel-setup yes\ndaemonise default\n\
         protocol-port 0x1A2B\nkernel-priority 010\ndiversity 2\n",
    )
    .unwrap();
    let g = c.globals;
    assert_eq!(g.random_id, Some(false));
    assert_eq!(g.link_detect, Some(false), "auto is false for global flags");
    assert_eq!(g.skip_kernel_setup, Some(true));
    assert_eq!(g.daemonise, Some(false));
    assert_eq!(g.protocol_port, Some(0x1a2b));
    assert_eq!(
        g.kernel_priority,
        Some(8),
        "a leading 0 is octal, as with strtol"
    );
    assert_eq!(g.diversity, Some(2));
}

#[test]
fn errors_carry_file_and_line() {
    assert_eq!(
        error_of("debug 1\n\nfrobnicate 3\n"),
        "babeld.conf:3: unknown statement \"frobnicate\""
    );
    assert_eq!(
        error_of("debug 1\ninterface eth0 rxcost ten\n"),
        "babeld.conf:2: rxcost: bad value \"ten\" (expected an integer from 1 to 65535)"
    );
    assert_eq!(
        error_of("interface eth0 hello-interval\n"),
        "babeld.conf:1: hello-interval: missing value (expected an interval in seconds)"
    );
    assert_eq!(
        error_of("# header\nin ip 10.0.0.0/33 deny\n"),
        "babeld.conf:2: ip: bad prefix \"10.0.0.0/33\": prefix length 33 is longer than 32"
    );
    assert_eq!(
        error_of("out ip 10.0.0/8\n"),
        "babeld.conf:1: ip: bad prefix \"10.0.0/8\": invalid prefix \"10.0.0/8\""
    );
    assert_eq!(
        error_of("\n\n\ninterface eth0 rxcost 1 bogus 2\n"),
        "babeld.conf:4: unknown interface parameter \"bogus\""
    );
    assert_eq!(
        error_of("debug 1 2\n"),
        "babeld.conf:1: debug: unexpected \"2\" at end of statement"
    );
    assert_eq!(
        error_of("interface \"eth0\n"),
        "babeld.conf:1: unterminated quoted string"
    );
    assert_eq!(
        error_of("interface\n"),
        "babeld.conf:1: interface: missing value (expected an interface name)"
    );
    assert_eq!(
        error_of("interface wg0 key nokey\n"),
        "babeld.conf:1: key: unknown key \"nokey\" (define it with a key statement first)"
    );
    assert_eq!(
        error_of("in ip 10.0.0.0/8 src-ip 2001:db8::/32\n"),
        "babeld.conf:1: src-ip: mixes IPv4 and IPv6 in one filter"
    );
    assert_eq!(
        error_of("redistribute metric 0\n"),
        "babeld.conf:1: metric: value 0 out of range (expected 1 to 65535)"
    );
    assert_eq!(
        error_of("dump\n"),
        "babeld.conf:1: dump is a control-socket request, not a configuration statement"
    );
    assert_eq!(
        error_of("debug \"1\"\n"),
        "babeld.conf:1: debug: quoted string \"1\" where an integer from 0 to 2147483647 was expected"
    );
}

#[test]
fn values_out_of_babeld_ranges_are_refused() {
    for bad in [
        "protocol-port 0",
        "protocol-port 65535",
        "kernel-priority 0",
        "interface e rxcost 0",
        "interface e rxcost 65536",
        "interface e hello-interval 0",
        "interface e hello-interval 655.351",
        "interface e update-interval -1",
        "interface e rtt-decay 0",
        "interface e rtt-decay 257",
        "interface e rtt-min 0",
        "interface e max-rtt-penalty 0",
        "interface e channel 0",
        "interface e channel 256",
        "interface e type ethernet",
        "interface e link-quality maybe",
        "diversity-factor 257",
        "smoothing-half-life -1",
        "debug -1",
        "router-id 00:11:22",
        "protocol-group not-an-address",
        "install table 0",
        "in proto 256",
        "in le 129",
        "key id k type none value 00",
        "key id k type blake2s128",
        "key type blake2s128 value 00",
        "key id k type blake2s128 value 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00",
        "key id k type hmac-sha256 value 0g",
        "local-path \"\"",
        "flush interface eth0",
    ] {
        assert!(
            parse_file_text(bad).is_err(),
            "{bad:?} must be refused"
        );
    }
}

#[test]
fn import_tables_are_bounded() {
    let text: String = (1..=10).map(|t| format!("import-table {t}\n")).collect();
    assert_eq!(
        parse_file_text(&text).unwrap().globals.import_tables.len(),
        10
    );
    let err = error_of(&format!("{text}import-table 11\n"));
    assert_eq!(
        err,
        "babeld.conf:11: import-table: at most 10 import tables"
    );
}

#[test]
fn single_statement_lines_for_the_control_socket() {
    assert_eq!(parse_statement("   ").unwrap(), None);
    assert_eq!(
        parse_statement("interface eth0 rxcost 42\n").unwrap(),
        Some(Statement::Interface {
            name: "eth0".into(),
            params: InterfaceConfig {
                rxcost: Some(42),
                ..InterfaceConfig::default()
            }
        })
    );
    assert_eq!(
        parse_statement("smoothing-half-life 0").unwrap(),
        Some(Statement::Global(Global::SmoothingHalfLife(0)))
    );
    assert_eq!(
        parse_statement("monitor").unwrap(),
        Some(Statement::Monitor)
    );
    assert!(parse_statement("debug 1\ndebug 2").is_err());

    let mut c = Config::default();
    c.apply_line("interface eth0 rxcost 42").unwrap();
    c.apply_line("interface eth0 hello-interval 1").unwrap();
    let e = c.interface("eth0");
    assert_eq!(
        (e.rxcost, e.hello_interval),
        (Some(42), Some(Duration::from_secs(1)))
    );
    assert!(c.apply_line("bogus").is_err());
}

// ---- -C statements ----

#[test]
fn man_page_command_line_examples() {
    let cl = run(&["-C", "redistribute metric 256", "wlan0"]);
    let c = cl
        .load_with_default(Path::new("/nonexistent/babeld.conf"))
        .unwrap();
    assert_eq!(
        c.filters.redistribute[0].action.verdict,
        Verdict::Metric(256)
    );
    assert_eq!(c.interfaces[0].0, "wlan0");

    let cl = run(&[
        "-C",
        "redistribute proto 11 ip ::/0 le 64 metric 256",
        "-C",
        "redistribute proto 11 ip 0.0.0.0/0 le 24 metric 256",
        "wlan0",
    ]);
    let r = &cl.config.filters.redistribute;
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].prefix, Some(prefix("0.0.0.0/0")));
    assert_eq!(r[1].plen_le, Some(24));
}

#[test]
fn command_statement_errors_quote_the_statement() {
    let e = parse_args(["-C", "interface eth0 rxcost", "eth0"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "-C 'interface eth0 rxcost': rxcost: missing value (expected an integer from 1 to 65535)"
    );
    let e = parse_args(["-C", "", "eth0"]).unwrap_err();
    assert_eq!(e.to_string(), "-C '': empty statement");
    let e = parse_args(["-C", "quit", "eth0"]).unwrap_err();
    assert!(e.to_string().starts_with("-C 'quit': "));
    // A comment alone is accepted, as by babeld.
    assert!(parse_args(["-C", "# nothing", "eth0"]).is_ok());
}

// ---- getopt-style options ----

#[test]
fn attached_and_separate_arguments() {
    for args in [
        &["-d1", "eth0"][..],
        &["-d", "1", "eth0"],
        &["eth0", "-d", "1"],
        &["-sd1", "eth0"],
    ] {
        let cl = run(args);
        assert_eq!(cl.config.globals.debug, Some(1), "{args:?}");
        assert_eq!(cl.interfaces, ["eth0"], "{args:?}");
    }
    let cl = run(&["-sw", "-lrD", "eth0"]);
    let g = &cl.config.globals;
    assert_eq!(g.split_horizon, Some(false));
    assert_eq!(g.all_wireless, Some(true));
    assert_eq!(g.link_detect, Some(true));
    assert_eq!(g.random_id, Some(true));
    assert_eq!(g.daemonise, Some(true));

    let cl = run(&["-Credistribute local deny", "eth0"]);
    assert_eq!(cl.config.filters.redistribute.len(), 1);
    // An option's argument may start with '-'.
    let cl = run(&["-L", "-weird-log", "eth0"]);
    assert_eq!(
        cl.config.globals.log_file,
        Some(FileSetting::Path(PathBuf::from("-weird-log")))
    );
}

#[test]
fn every_option() {
    let cl = run(&[
        "-m",
        "ff02::1:7",
        "-p",
        "6697",
        "-S",
        "/tmp/state",
        "-h",
        "2",
        "-H",
        "0.5",
        "-z",
        "2,64",
        "-M",
        "10",
        "-k",
        "5",
        "-A",
        "7",
        "-t",
        "100",
        "-T",
        "101",
        "-T",
        "102",
        "-c",
        "/tmp/a.conf",
        "-c",
        "/tmp/b.conf",
        "-L",
        "/tmp/log",
        "-I",
        "/tmp/pid",
        "-d",
        "3",
        "-G",
        "/run/babeld.sock",
        "wlan0",
        "eth0",
    ]);
    let g = &cl.config.globals;
    assert_eq!(g.protocol_group, Some("ff02::1:7".parse().unwrap()));
    assert_eq!(g.protocol_port, Some(6697));
    assert_eq!(g.state_file, Some(FileSetting::Path("/tmp/state".into())));
    assert_eq!(g.wireless_hello_interval, Some(Duration::from_secs(2)));
    assert_eq!(g.wired_hello_interval, Some(Duration::from_millis(500)));
    assert_eq!((g.diversity, g.diversity_factor), (Some(2), Some(64)));
    assert_eq!(g.smoothing_half_life, Some(10));
    assert_eq!((g.kernel_priority, g.allow_duplicates), (Some(5), Some(7)));
    assert_eq!(g.export_table, Some(100));
    assert_eq!(g.import_tables, [101, 102]);
    assert_eq!(
        cl.config_files,
        [PathBuf::from("/tmp/a.conf"), PathBuf::from("/tmp/b.conf")]
    );
    assert_eq!(g.log_file, Some(FileSetting::Path("/tmp/log".into())));
    assert_eq!(g.pid_file, Some(FileSetting::Path("/tmp/pid".into())));
    assert_eq!(g.debug, Some(3));
    assert_eq!(
        g.local_server,
        Some(LocalServer {
            endpoint: LocalEndpoint::Path("/run/babeld.sock".into()),
            read_write: true
        })
    );
    assert_eq!(cl.interfaces, ["wlan0", "eth0"]);

    let cl = run(&["-g", "33123", "-z", "1", "eth0"]);
    let g = &cl.config.globals;
    assert_eq!(
        g.local_server,
        Some(LocalServer {
            endpoint: LocalEndpoint::Port(33123),
            read_write: false
        })
    );
    assert_eq!((g.diversity, g.diversity_factor), (Some(1), Some(128)));
}

#[test]
fn version_help_and_double_dash() {
    assert_eq!(parse_args(["-V"]).unwrap(), Invocation::Version);
    // babeld exits at -V, before looking at later options.
    assert_eq!(
        parse_args(["-d1", "-V", "-Q"]).unwrap(),
        Invocation::Version
    );
    assert_eq!(parse_args(["--help"]).unwrap(), Invocation::Help);
    assert!(USAGE.contains("--help"));
    let cl = run(&["-d", "1", "--", "-odd-if", "eth0"]);
    assert_eq!(cl.interfaces, ["-odd-if", "eth0"]);
}

#[test]
fn option_errors() {
    let msg = |args: &[&str]| parse_args(args.iter().copied()).unwrap_err().to_string();
    assert_eq!(msg(&["-Q", "eth0"]), "routed: option -Q: unknown option");
    assert_eq!(
        msg(&["eth0", "-d"]),
        "routed: option -d: requires an argument"
    );
    assert_eq!(
        msg(&["-d", "x", "eth0"]),
        "routed: option -d: bad debug level \"x\" (expected 0 to 2147483647)"
    );
    assert_eq!(
        msg(&["-p", "70000"]),
        "routed: option -p: bad port \"70000\" (expected 1 to 65535)"
    );
    assert_eq!(
        msg(&["-m", "2001:db8::1"]),
        "routed: option -m: 2001:db8::1 is not a multicast address"
    );
    assert_eq!(
        msg(&["-h", "0"]),
        "routed: option -h: bad hello interval \"0\" (expected seconds, e.g. 4 or 0.5, at most 655.35)"
    );
    assert_eq!(
        msg(&["-z", "1,0"]),
        "routed: option -z: bad diversity factor \"0\" (expected 1 to 256)"
    );
    assert_eq!(
        msg(&["-M", "3601"]),
        "routed: option -M: bad half-life \"3601\" (expected 0 to 3600)"
    );
    assert!(msg(&["-i", "1"]).starts_with("routed: option -i: not supported"));
    assert!(msg(&["--verbose"]).starts_with("routed: option --verbose: unknown option"));
    let many: Vec<String> = (0..11)
        .flat_map(|t| ["-T".to_string(), t.to_string()])
        .collect();
    assert_eq!(
        parse_args(many).unwrap_err().to_string(),
        "routed: option -T: import-table: at most 10 import tables"
    );
}

#[test]
fn non_link_local_group_warns() {
    let cl = run(&["-m", "ff05::1:6", "eth0"]);
    assert_eq!(
        cl.warnings,
        ["ff05::1:6 is not a link-local multicast address"]
    );
}

// ---- files, order and loading ----

#[test]
fn files_apply_after_options_in_order() {
    let a = temp_file("a.conf", "debug 2\ninterface eth0 rxcost 10\n");
    let b = temp_file("b.conf", "interface eth0 hello-interval 1\nlog-file \"\"\n");
    let cl = run(&[
        "-d",
        "1",
        "-C",
        "debug 5",
        "-L",
        "/tmp/x.log",
        "-c",
        a.to_str().unwrap(),
        "-c",
        b.to_str().unwrap(),
        "eth0",
        "eth1",
    ]);
    let c = cl.load().unwrap();
    assert_eq!(c.globals.debug, Some(2), "files are read after the options");
    assert_eq!(c.globals.log_file, Some(FileSetting::Off));
    assert_eq!(c.globals.log_file(), None);
    let e = c.interface("eth0");
    assert_eq!(
        (e.rxcost, e.hello_interval),
        (Some(10), Some(Duration::from_secs(1)))
    );
    let names: Vec<&str> = c.interfaces.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["eth0", "eth1"]);
}

#[test]
fn default_file_is_read_only_without_dash_c() {
    let def = temp_file("babeld.conf", "interface from-default\n");
    let c = run(&[]).load_with_default(&def).unwrap();
    assert_eq!(c.interfaces[0].0, "from-default");

    let other = temp_file("other.conf", "debug 4\n");
    let c = run(&["-c", other.to_str().unwrap(), "eth0"])
        .load_with_default(&def)
        .unwrap();
    assert!(c.interfaces.iter().all(|(n, _)| n != "from-default"));
    assert_eq!(c.globals.debug, Some(4));

    // `-c ""` reads nothing, not even the default file.
    let c = run(&["-c", "", "eth0"]).load_with_default(&def).unwrap();
    assert_eq!(c.interfaces.len(), 1);
    assert_eq!(c.interfaces[0].0, "eth0");

    // A missing default file is fine; a missing -c file is not.
    let missing = def.with_file_name("missing.conf");
    assert!(run(&["eth0"]).load_with_default(&missing).is_ok());
    let e = run(&["-c", missing.to_str().unwrap(), "eth0"])
        .load()
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("{}: cannot read", missing.display())),
        "{e}"
    );
}

#[test]
fn file_errors_name_the_file_and_line() {
    let bad = temp_file("bad.conf", "debug 1\n# fine\ninterface eth0 rxcost -4\n");
    let e = run(&["-c", bad.to_str().unwrap(), "eth0"])
        .load()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3: rxcost: value -4 out of range (expected 1 to 65535)",
            bad.display()
        )
    );
}

#[test]
fn running_needs_an_interface() {
    let e = run(&["-d", "1"])
        .load_with_default(Path::new("/nonexistent/babeld.conf"))
        .unwrap_err();
    assert_eq!(e.to_string(), "routed: asked to run on no interfaces");
    // An interface statement in the configuration is enough, as in babeld.
    assert!(run(&["-C", "interface eth0"])
        .load_with_default(Path::new("/nonexistent/babeld.conf"))
        .is_ok());
}

#[test]
fn pid_and_state_files_switched_off_on_the_command_line() {
    let cl = run(&["-I", "", "-S", "", "eth0"]);
    assert_eq!(cl.config.globals.pid_file(), None);
    assert_eq!(cl.config.globals.state_file(), None);
}

#[test]
fn statements_print_back_to_equal_statements() {
    let extra = "interface \"we#ird \\\"name\" rxcost 7\n\
                 out if \"\" deny\n\
                 local-path-readwrite \"/run/a b.sock\"\n\
                 local-port-readwrite 4\n\
                 log-file \"\"\n\
                 protocol-group 224.0.0.9\n\
                 default split-horizon false rtt-min 0.5\n\
                 flush interface eth0\n\
                 monitor\n";
    let mut lines = 0;
    for line in GLOBALS_CONF
        .lines()
        .chain(MESH_CONF.lines())
        .chain(extra.lines())
    {
        let Some(stmt) = parse_statement(line).unwrap() else {
            continue;
        };
        let printed = stmt.to_string();
        assert_eq!(
            parse_statement(&printed).unwrap(),
            Some(stmt),
            "{line:?} printed as {printed:?}"
        );
        lines += 1;
    }
    assert_eq!(lines, 24 + 22 + 9);
    let Some(stmt) = parse_statement("interface wlan0 hello-interval 0.5 rtt-max 2.25").unwrap()
    else {
        panic!()
    };
    assert_eq!(
        stmt.to_string(),
        "interface wlan0 hello-interval 0.500 rtt-max 2.250"
    );
}

#[test]
fn openwrt_style_configuration() {
    let c = parse_file_text(include_str!("data/openwrt.conf")).unwrap();
    let g = &c.globals;
    assert_eq!(g.ipv6_subtrees, Some(true));
    assert_eq!(g.log_file, Some(FileSetting::Off));
    assert_eq!(
        g.local_server,
        Some(LocalServer {
            endpoint: LocalEndpoint::Port(33123),
            read_write: false
        })
    );
    assert_eq!(
        c.interface("br-lan").update_interval,
        Some(Duration::from_secs(16))
    );
    assert_eq!(c.interface("wlan0").channel, Some(Channel::Number(11)));
    assert_eq!(c.interface("tun0").enable_timestamps, Some(true));
    assert_eq!(c.interface("br-lan").enable_timestamps, Some(false));
    assert_eq!(c.filters.input.len(), 4);
    assert_eq!(
        c.filters.input[3],
        Filter {
            action: FilterAction {
                verdict: Verdict::Deny,
                ..FilterAction::default()
            },
            ..Filter::default()
        }
    );
    let r = &c.filters.redistribute;
    assert_eq!(r[0].ifname.as_deref(), Some("br-lan"));
    assert_eq!(r[2].proto, Some(ProtoMatch::Local));
    assert_eq!(r[2].prefix, Some(prefix("10.0.0.0/8")));
    let i = &c.filters.install[0];
    assert_eq!((i.plen_ge, i.plen_le), (Some(0), Some(0)));
    assert_eq!(i.action.table, Some(254));
}

#[test]
fn source_specific_configuration() {
    let c = parse_file_text(include_str!("data/source-specific.conf")).unwrap();
    let r = &c.filters.redistribute;
    assert_eq!(r[0].action.src_prefix, Some(prefix("2001:db8:0:1::/64")));
    assert_eq!(r[0].family, Some(Family::V6));
    assert_eq!(r[1].action.verdict, Verdict::Metric(128));
    let o = &c.filters.output[0];
    assert_eq!(o.src_prefix, Some(prefix("2001:db8::/32")));
    assert_eq!(o.src_plen_le, Some(64));
    let e1 = c.interface("eth1");
    assert_eq!(e1.rxcost, Some(128));
    assert_eq!(e1.hello_interval, Some(Duration::from_secs(1)));
    assert_eq!(e1.split_horizon, Some(true));
    assert_eq!(
        c.interface("eth0").update_interval,
        Some(Duration::from_secs(4))
    );
}

// ---- routed's memory limits ----

#[test]
fn limits_have_defaults_and_statements_raise_or_lower_them() {
    use babel_core::Limit;
    let c = Config::default();
    assert_eq!(c.globals.limit(Limit::Neighbours), 1024);
    assert_eq!(c.globals.limit(Limit::Routes), 1_000_000);
    assert_eq!(c.globals.limit(Limit::RoutesPerNeighbour), 250_000);
    let c = parse_file_text(
        "max-neighbours 16\nmax-routes 5000000\nmax-routes-per-neighbour 1000\n\
         max-sources 3000000\nmax-pending-requests 100\nmax-buffered-packets 64\n\
         max-queued-events 128\nmax-routes-per-neighbour 2000 # the last one wins\n",
    )
    .unwrap();
    let g = &c.globals;
    assert_eq!(
        [
            g.limit(Limit::Neighbours),
            g.limit(Limit::Routes),
            g.limit(Limit::RoutesPerNeighbour),
            g.limit(Limit::Sources),
            g.limit(Limit::PendingRequests),
            g.limit(Limit::QueuedPackets),
            g.limit(Limit::QueuedEvents),
        ],
        [16, 5_000_000, 2000, 3_000_000, 100, 64, 128]
    );
    // Each statement prints back as itself.
    for (kw, _, _) in LIMITS {
        let text = format!("{kw} 77");
        let stmt = parse_statement(&text).unwrap().unwrap();
        assert_eq!(stmt.to_string(), text);
        assert!(stmt.allowed_at_runtime(), "{kw} is accepted at run time");
    }
    // On the command line.
    let cl = run(&["-C", "max-routes 42", "eth0"]);
    assert_eq!(cl.config.globals.limit(Limit::Routes), 42);
}

#[test]
fn limit_errors_name_file_line_and_reason() {
    assert_eq!(
        error_of("debug 1\nmax-routes 0\n"),
        "babeld.conf:2: max-routes: value 0 out of range (expected 1 to 4294967295)"
    );
    assert_eq!(
        error_of("max-routes-per-neighbour lots\n"),
        "babeld.conf:1: max-routes-per-neighbour: bad value \"lots\" (expected an integer from 1 to 4294967295)"
    );
    assert_eq!(
        error_of("\nmax-neighbours 3 4\n"),
        "babeld.conf:2: max-neighbours: unexpected \"4\" at end of statement"
    );
    let e = parse_args(["-C", "max-sources", "eth0"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "-C 'max-sources': max-sources: missing value (expected an integer from 1 to 4294967295)"
    );
}

#[test]
fn a_configuration_holds_a_bounded_number_of_interfaces_and_keys() {
    let mut c = Config::default();
    for i in 0..MAX_INTERFACES {
        c.apply_line(&format!("interface if{i}")).unwrap();
    }
    assert!(c.apply_line("interface one-too-many").is_err());
    // An interface already named can still be changed.
    c.apply_line("interface if0 rxcost 300").unwrap();
    assert_eq!(c.interfaces.len(), MAX_INTERFACES);
}
