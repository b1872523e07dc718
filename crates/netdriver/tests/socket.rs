//! BabelSocket between two namespaces joined by a veth pair.

mod common;

use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::Duration;

use common::{veth, Netns};
use netdriver::{BabelSocket, SocketConfig, BABEL_GROUP, BABEL_PORT};
use tokio::time::timeout;

#[test]
fn multicast_and_unicast_between_namespaces_report_ifindex_src_and_dst() {
    let (Some(a), Some(b)) = (Netns::new(), Netns::new()) else {
        return;
    };
    veth(&a, "va", &b, "vb");
    let (ia, ib) = (a.ifindex("va"), b.ifindex("vb"));
    let (lla, llb) = (a.link_local("va"), b.link_local("vb"));

    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    // B: join the group, take one multicast packet, answer it by unicast.
    let receiver = b.spawn(move || async move {
        let sock = BabelSocket::bind(SocketConfig::default()).expect("bind B");
        sock.join(ib).expect("join");
        sock.join(ib).expect("a second join is harmless");
        ready_tx.send(()).unwrap();
        let mut buf = [0u8; 1500];
        let got = timeout(Duration::from_secs(10), sock.recv(&mut buf))
            .await
            .expect("B received nothing")
            .expect("recv");
        let payload = buf[..got.len].to_vec();
        sock.send_to(b"pong", got.src.ip().to_owned(), got.ifindex, None)
            .await
            .expect("unicast reply");
        (got, payload)
    });

    let sender = a.spawn(move || async move {
        let sock = BabelSocket::bind(SocketConfig::default()).expect("bind A");
        assert_eq!(sock.local_addr().unwrap().port(), BABEL_PORT);
        ready_rx.recv().unwrap();
        let mut buf = [0u8; 1500];
        // Multicast is sent until the unicast answer comes back (the first packet can go out
        // before B's membership report settles).
        for _ in 0..50 {
            sock.send_to(b"ping", BABEL_GROUP, ia, None)
                .await
                .expect("send");
            if let Ok(r) = timeout(Duration::from_millis(200), sock.recv(&mut buf)).await {
                let r = r.expect("recv");
                return (r, buf[..r.len].to_vec());
            }
        }
        panic!("A got no unicast answer");
    });

    let (mcast, payload) = receiver.join().expect("B thread");
    assert_eq!(payload, b"ping");
    assert_eq!(mcast.ifindex, ib, "arrival interface");
    assert_eq!(mcast.dst, BABEL_GROUP);
    assert!(mcast.is_multicast());
    assert_eq!(*mcast.src.ip(), lla, "sender is A's link-local address");
    assert_eq!(mcast.src.port(), BABEL_PORT);

    let (ucast, payload) = sender.join().expect("A thread");
    assert_eq!(payload, b"pong");
    assert_eq!(ucast.ifindex, ia);
    assert_eq!(ucast.dst, lla, "unicast to A's link-local address");
    assert!(!ucast.is_multicast());
    assert_eq!(ucast.src, SocketAddrV6::new(llb, BABEL_PORT, 0, ia));
}

/// A neighbour's full dump arrives as a burst of datagrams; while the daemon is busy none of
/// them may be lost to a small receive buffer (the kernel's default holds about 200 of them).
#[test]
fn a_burst_of_datagrams_waits_in_the_receive_buffer() {
    let Some(a) = Netns::new() else { return };
    a.block_on(|| async move {
        let cfg = SocketConfig {
            port: 16697,
            group: BABEL_GROUP,
        };
        let sock = BabelSocket::bind(cfg).expect("bind");
        let peer = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let to = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 16697, 0, 0);
        const BURST: usize = 1500;
        for i in 0..BURST {
            peer.send_to(&[(i % 251) as u8; 1000], to).unwrap();
        }
        let mut buf = [0u8; 1500];
        // The first one through the reactor, the rest without waiting.
        let first = timeout(Duration::from_secs(5), sock.recv(&mut buf))
            .await
            .expect("nothing received")
            .expect("recv");
        assert_eq!((first.len, buf[0]), (1000, 0));
        let mut got = 1;
        while let Some(r) = sock.try_recv(&mut buf).unwrap() {
            assert_eq!(r.len, 1000);
            assert_eq!(buf[0], (got % 251) as u8, "datagrams come in order");
            got += 1;
        }
        assert_eq!(got, BURST, "datagrams lost in the receive buffer");
    });
}

#[test]
fn oversized_datagram_is_dropped_and_counted_not_returned() {
    let Some(a) = Netns::new() else { return };
    a.block_on(|| async move {
        let cfg = SocketConfig {
            port: 16696,
            group: BABEL_GROUP,
        };
        let sock = BabelSocket::bind(cfg).expect("bind");
        let peer = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let to = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 16696, 0, 0);
        peer.send_to(&[7u8; 100], to).unwrap();
        peer.send_to(&[9u8; 10], to).unwrap();
        let mut small = [0u8; 50];
        let got = timeout(Duration::from_secs(5), sock.recv(&mut small))
            .await
            .expect("nothing received")
            .expect("recv");
        // The 100-byte datagram did not fit: skipped, counted; the next one is returned.
        assert_eq!(got.len, 10);
        assert_eq!(&small[..10], &[9u8; 10]);
        assert_eq!(got.dst, Ipv6Addr::LOCALHOST);
        assert_eq!(sock.stats().truncated, 1);
        assert_eq!(sock.try_recv(&mut small).unwrap(), None);
    });
}

#[test]
fn multicast_leaves_by_the_chosen_interface_only() {
    // A has two links: va1 to B and va2 to C. A packet for the group sent with va2's index
    // reaches C and not B.
    let (Some(a), Some(b), Some(c)) = (Netns::new(), Netns::new(), Netns::new()) else {
        return;
    };
    veth(&a, "va1", &b, "vb");
    veth(&a, "va2", &c, "vc");
    let ia2 = a.ifindex("va2");
    let (ib, ic) = (b.ifindex("vb"), c.ifindex("vc"));
    a.link_local("va1");
    a.link_local("va2");
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let tx2 = tx.clone();
    let listen = |ifindex: u32, ready: std::sync::mpsc::Sender<()>| {
        move || async move {
            let sock = BabelSocket::bind(SocketConfig::default()).expect("bind");
            sock.join(ifindex).expect("join");
            ready.send(()).unwrap();
            let mut buf = [0u8; 64];
            let mut got = 0;
            // Listen for 1.5 s and count what arrives.
            let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
            while let Ok(r) = tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                let r = r.expect("recv");
                assert_eq!(r.ifindex, ifindex);
                got += 1;
            }
            got
        }
    };
    let on_b = b.spawn(listen(ib, tx));
    let on_c = c.spawn(listen(ic, tx2));
    rx.recv().unwrap();
    rx.recv().unwrap();
    a.block_on(move || async move {
        let sock = BabelSocket::bind(SocketConfig::default()).expect("bind");
        for _ in 0..5 {
            sock.send_to(b"hello", BABEL_GROUP, ia2, None)
                .await
                .expect("send");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let (got_b, got_c) = (on_b.join().unwrap(), on_c.join().unwrap());
    assert_eq!(got_b, 0, "nothing leaves by va1");
    assert!(got_c >= 1, "C heard nothing");
}

/// With two link-local addresses on an interface, a datagram leaves from the one the caller
/// names, whichever the kernel would have chosen (the newest): the daemon signs packets
/// (RFC 8967, the MAC covers the source address) and announces its next hop with that address.
#[test]
fn datagrams_leave_from_the_named_one_of_two_link_local_addresses() {
    let (Some(a), Some(b)) = (Netns::new(), Netns::new()) else {
        return;
    };
    veth(&a, "va", &b, "vb");
    let ia = a.ifindex("va");
    let ib = b.ifindex("vb");
    let first = a.link_local("va");
    let llb = b.link_local("vb");
    // A second link-local address, added later (the kernel's choice on a tie) and above the
    // first one (not the lowest, which the daemon would take).
    let second: Ipv6Addr = "fe80::ffff:0:0:1".parse().unwrap();
    assert!(second > first);
    a.ip(&format!("addr add {second}/64 dev va nodad"));

    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let receiver = b.spawn(move || async move {
        let sock = BabelSocket::bind(SocketConfig::default()).expect("bind B");
        sock.join(ib).expect("join");
        ready_tx.send(()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while let Ok(r) = tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            let r = r.expect("recv");
            got.push((buf[..r.len].to_vec(), *r.src.ip(), r.is_multicast()));
        }
        got
    });
    ready_rx.recv().unwrap();
    let not_ours = a.block_on(move || async move {
        let sock = BabelSocket::bind(SocketConfig::default()).expect("bind A");
        for _ in 0..10 {
            for (tag, src) in [(b"1", first), (b"2", second)] {
                sock.send_to(tag, BABEL_GROUP, ia, Some(src))
                    .await
                    .expect("multicast");
                sock.try_send_to(tag, llb, ia, Some(src)).expect("unicast");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        sock.send_to(b"3", BABEL_GROUP, ia, Some("fe80::dead".parse().unwrap()))
            .await
    });
    let got = receiver.join().expect("B thread");
    for (tag, want) in [(&b"1"[..], first), (&b"2"[..], second)] {
        for multicast in [true, false] {
            let srcs: Vec<Ipv6Addr> = got
                .iter()
                .filter(|(p, _, m)| p == tag && *m == multicast)
                .map(|(_, s, _)| *s)
                .collect();
            assert!(!srcs.is_empty(), "nothing with tag {tag:?} ({multicast})");
            assert!(
                srcs.iter().all(|s| *s == want),
                "sent from {want}, received from {srcs:?} (multicast {multicast})"
            );
        }
    }
    // An address that is not on the interface is refused, not replaced by another.
    let err = not_ours.expect_err("sent from an address that is not ours");
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
    assert!(!got.iter().any(|(p, _, _)| p == b"3"));
}
