#![no_main]
//! Feeds arbitrary bytes to the control-socket protocol as one client session, without
//! sockets: the bytes arrive in chunks of a size chosen by the input, are split into lines
//! by the daemon's own `LineReader`, interpreted by `parse_request` on a read-only or a
//! read-write socket, and answered from a small live node as the daemon does (`dump`,
//! `counters`, statements applied to the configuration and the node's limits).
//!
//! Nothing may panic; the line buffer never holds more than one line; a read-only session
//! never changes the configuration; every statement accepted is one allowed at run time; and
//! the configuration stays bounded however many statements a session sends.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use babel_core::auth::AuthCounters;
use babel_core::wire::{Encoder, Hello, Ihu, Prefix, RouterId, Tlv, Update};
use babel_core::{Command, Config as CoreConfig, InterfaceConfig, InterfaceEvent, Node, Timestamp};
use libfuzzer_sys::fuzz_target;
use routed::config::{Config, Global, Statement};
use routed::control::{self, Input, LineReader, Request, MAX_LINE};

/// A node with one interface and a neighbour that gave it two routes, so that `dump` prints
/// every kind of line.
fn node() -> Node {
    let mut now = Timestamp::from_secs(1);
    let mut node = Node::new(
        CoreConfig::default(),
        RouterId([2, 0, 0, 0, 0, 0, 0, 1]),
        0,
        1,
        now,
    );
    let ll: Ipv6Addr = "fe80::1".parse().unwrap();
    let peer: Ipv6Addr = "fe80::2".parse().unwrap();
    node.handle_interface(
        now,
        InterfaceEvent::Up {
            ifindex: 2,
            name: "eth0".into(),
            config: InterfaceConfig::wired(),
            link_local: Some(ll),
            ipv4: None,
            mtu: 1500,
        },
    );
    let mut tlvs = vec![
        Tlv::Hello(Hello {
            flags: 0,
            seqno: 1,
            interval: 400,
            timestamp: None,
            unknown_subtlvs: vec![],
        }),
        Tlv::Ihu(Ihu {
            rxcost: 96,
            interval: 1200,
            addr: Some(IpAddr::V6(ll)),
            timestamps: None,
            unknown_subtlvs: vec![],
        }),
    ];
    for (p, next_hop) in [
        ("2001:db8:1::/48", None),
        ("10.1.0.0/16", Some(IpAddr::V4("10.0.0.2".parse().unwrap()))),
    ] {
        tlvs.push(Tlv::Update(Update {
            flags: 0,
            interval: 400,
            seqno: 1,
            metric: 96,
            prefix: Some(p.parse::<Prefix>().unwrap()),
            src_prefix: None,
            router_id: Some(RouterId([2, 0, 0, 0, 0, 0, 0, 9])),
            next_hop,
            unknown_subtlvs: vec![],
        }));
    }
    let mut e = Encoder::new(1400, Some(peer));
    for t in &tlvs {
        e.push(t).unwrap();
    }
    for _ in 0..2 {
        for p in e.clone().finish() {
            node.handle_packet(now, 2, peer, true, &p);
        }
        now = now + Duration::from_millis(100);
        node.handle_timeout(now);
    }
    node
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let read_write = flags & 1 == 1;
    let chunk = 1 + (flags >> 1) as usize;
    let mut node = node();
    let mut config = Config::default();
    config.apply_line("interface eth0").unwrap();
    let before = config.clone();
    let auth = AuthCounters::default();
    let mut reader = LineReader::default();
    let mut inputs = Vec::new();
    let mut answered = 0usize;
    'session: for piece in rest.chunks(chunk) {
        reader.push(piece, &mut inputs);
        for input in inputs.drain(..) {
            let line = match input {
                Input::Line(l) => l,
                // Answered `bad`, then the session is closed.
                Input::TooLong => break 'session,
            };
            assert!(line.len() <= MAX_LINE * 3, "a line grew past the buffer");
            let reply = match control::parse_request(&line, read_write) {
                Request::Nothing => "ok\n".to_string(),
                Request::Dump | Request::Monitor => {
                    let mut s = control::dump(&node, &[]);
                    s.push_str("ok\n");
                    s
                }
                Request::Unmonitor => "ok\n".to_string(),
                Request::Quit => break 'session,
                Request::Counters => {
                    let mut s = control::counters(node.stats(), &auth);
                    s.push_str("ok\n");
                    s
                }
                Request::Bad(_) => "bad\n".to_string(),
                Request::Statement(stmt) => {
                    assert!(read_write, "a read-only socket accepted {stmt:?}");
                    assert!(stmt.allowed_at_runtime());
                    assert!(
                        !stmt.is_control_request()
                            || matches!(
                                stmt,
                                Statement::FlushInterface(_) | Statement::ReopenLogfile
                            )
                    );
                    if let Statement::Global(Global::Limit(limit, value)) = &stmt {
                        node.handle_command(
                            Timestamp::from_secs(2),
                            Command::SetLimit(*limit, *value),
                        );
                    }
                    match config.apply(stmt) {
                        Ok(()) => "ok\n".to_string(),
                        Err(_) => "bad\n".to_string(),
                    }
                }
            };
            assert!(
                reply.ends_with("ok\n") || reply == "no\n" || reply == "bad\n",
                "{line:?} answered {reply:?}"
            );
            answered += 1;
        }
    }
    assert!(answered <= rest.len() + 1);
    if !read_write {
        assert_eq!(
            config, before,
            "a read-only session changed the configuration"
        );
    }
    assert!(config.interfaces.len() <= routed::config::MAX_INTERFACES);
    assert!(config.keys.len() <= routed::config::MAX_KEYS);
});
