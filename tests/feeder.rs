//! A synthetic Babel neighbour: it says hello on one interface, tells everyone it hears them
//! (a wildcard IHU), then advertises N prefixes from one router-id, in prefix order or
//! shuffled, and sends that full dump again every `interval`, like a real neighbour's
//! periodic updates, until `hold` runs out or it is told to stop.
//!
//! Used by the `babel_feeder` bench binary and by the flood test. It must run inside the
//! namespace that holds the interface (a thread that entered it, or `ip netns exec`).

use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use babel_core::wire::{
    max_payload_for_mtu, Encoder, Hello, Ihu, Prefix, RouterId, Tlv, Update, MULTICAST_GROUP, PORT,
};

/// What to send.
#[derive(Debug, Clone)]
pub struct Feed {
    pub iface: String,
    pub prefixes: u32,
    pub shuffled: bool,
    /// Time between full dumps.
    pub interval: Duration,
    /// Stop after this long.
    pub hold: Duration,
    pub metric: u16,
    /// Every dump after the first alternates the metric between `metric` and this one and
    /// carries a new seqno (so the change is feasible at once): the receiver switches all
    /// its routes at every dump.
    pub flap: Option<u16>,
    /// The last octet of the router-id (1 to 255), so that several feeders differ.
    pub router_id: u8,
    /// Pacing of the dump's packets.
    pub packets_per_second: u32,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            iface: String::new(),
            prefixes: 1000,
            shuffled: false,
            interval: Duration::from_secs(8),
            hold: Duration::from_secs(600),
            metric: 0,
            flap: None,
            router_id: 1,
            packets_per_second: 1000,
        }
    }
}

/// What was sent.
#[derive(Debug, Clone, Default)]
pub struct Sent {
    pub dumps: u32,
    pub updates: u64,
    pub packets: u64,
}

/// The interface's index and IPv6 link-local address, from the calling thread's own network
/// namespace (`/proc/thread-self/net`: a thread that entered another namespace sees that one;
/// `/sys` would still show the namespace it was mounted in).
pub fn interface(name: &str) -> Result<(u32, Ipv6Addr), String> {
    let table = std::fs::read_to_string("/proc/thread-self/net/if_inet6")
        .or_else(|_| std::fs::read_to_string("/proc/net/if_inet6"))
        .map_err(|e| e.to_string())?;
    let mut known = false;
    for line in table.lines() {
        // address, ifindex, prefix length, scope, flags, name; all but the name in hex.
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 6 || f[5] != name {
            continue;
        }
        known = true;
        if f[0].starts_with("fe80") {
            let v = u128::from_str_radix(f[0], 16).map_err(|e| e.to_string())?;
            let idx = u32::from_str_radix(f[1], 16).map_err(|e| format!("{name}: ifindex: {e}"))?;
            return Ok((idx, Ipv6Addr::from(v)));
        }
    }
    Err(if known {
        format!("{name}: no IPv6 link-local address yet")
    } else {
        format!("{name}: no such interface (or no IPv6 address yet)")
    })
}

/// The `i`-th prefix: 2001:db8:XXXX:YYYY::/64.
pub fn prefix(i: u32) -> Prefix {
    Prefix::v6(
        Ipv6Addr::new(0x2001, 0xdb8, (i >> 16) as u16, i as u16, 0, 0, 0, 0),
        64,
    )
    .expect("valid prefix")
}

/// A small deterministic shuffle (xorshift), so runs are comparable.
fn shuffle(v: &mut [u32]) {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

struct Link {
    sock: UdpSocket,
    group: SocketAddrV6,
    src: Ipv6Addr,
    hello_seqno: u16,
}

impl Link {
    fn send(&self, tlvs: &[Tlv]) -> Result<usize, String> {
        let mut enc = Encoder::new(max_payload_for_mtu(1500), Some(self.src));
        for t in tlvs {
            enc.push(t).map_err(|e| e.to_string())?;
        }
        let packets = enc.finish();
        for p in &packets {
            self.sock
                .send_to(p, self.group)
                .map_err(|e| format!("send: {e}"))?;
        }
        Ok(packets.len())
    }

    fn hello_and_ihu(&mut self) -> Result<(), String> {
        self.hello_seqno = self.hello_seqno.wrapping_add(1);
        self.send(&[
            Tlv::Hello(Hello {
                flags: 0,
                seqno: self.hello_seqno,
                interval: 100,
                timestamp: None,
                unknown_subtlvs: vec![],
            }),
            // AE 0: "I hear everyone on this link", with a wired cost.
            Tlv::Ihu(Ihu {
                rxcost: 96,
                interval: 300,
                addr: None,
                timestamps: None,
                unknown_subtlvs: vec![],
            }),
        ])
        .map(|_| ())
    }
}

/// Runs the neighbour until `feed.hold` passes or `stop` is set. `progress` is called after
/// each full dump.
pub fn run(
    feed: &Feed,
    stop: &AtomicBool,
    mut progress: impl FnMut(&Sent, Duration),
) -> Result<Sent, String> {
    let (ifindex, src) = interface(&feed.iface)?;
    let sock = UdpSocket::bind(SocketAddrV6::new(src, PORT, 0, ifindex))
        .map_err(|e| format!("bind [{src}%{}]:{PORT}: {e}", feed.iface))?;
    sock.set_multicast_loop_v6(false)
        .map_err(|e| e.to_string())?;
    let mut f = Link {
        sock,
        group: SocketAddrV6::new(MULTICAST_GROUP, PORT, 0, ifindex),
        src,
        hello_seqno: 0,
    };
    let id = RouterId([0x02, 0xfe, 0xed, 0, 0, 0, 0, feed.router_id]);
    let mut order: Vec<u32> = (0..feed.prefixes).collect();
    if feed.shuffled {
        shuffle(&mut order);
    }
    let update = |i: u32, seqno: u16, metric: u16| {
        Tlv::Update(Update {
            flags: 0,
            // 60 s: routes live 3.5 times that without a refresh.
            interval: 6000,
            seqno,
            metric,
            prefix: Some(prefix(i)),
            src_prefix: None,
            router_id: Some(id),
            next_hop: None,
            unknown_subtlvs: vec![],
        })
    };
    let mut sent = Sent::default();
    let stopped = || stop.load(Ordering::Relaxed);

    // Become a neighbour first: the receiver ignores updates until the link has a cost.
    for _ in 0..3 {
        f.hello_and_ihu()?;
        sleep(Duration::from_millis(700));
    }
    let start = Instant::now();
    let gap = Duration::from_secs(1) / feed.packets_per_second.max(1);
    let mut last_hello = Instant::now();
    let mut chunk = Vec::with_capacity(90);
    while start.elapsed() < feed.hold && !stopped() {
        let t = Instant::now();
        // With --flap, odd dumps carry `metric` and even ones the other, a new seqno each.
        let (seqno, metric) = match feed.flap {
            Some(m2) => (
                sent.dumps.wrapping_add(1) as u16,
                if sent.dumps % 2 == 0 { feed.metric } else { m2 },
            ),
            None => (1, feed.metric),
        };
        // Small batches, each one its own packet, paced so the receiver's socket keeps up.
        for batch in order.chunks(90) {
            if stopped() {
                return Ok(sent);
            }
            chunk.clear();
            chunk.extend(batch.iter().map(|&i| update(i, seqno, metric)));
            sent.packets += f.send(&chunk)? as u64;
            sent.updates += batch.len() as u64;
            sleep(gap);
            if last_hello.elapsed() >= Duration::from_secs(1) {
                f.hello_and_ihu()?;
                last_hello = Instant::now();
            }
        }
        sent.dumps += 1;
        progress(&sent, t.elapsed());
        // Hellos every second until the next periodic dump (which may come sooner).
        while t.elapsed() < feed.interval && start.elapsed() < feed.hold && !stopped() {
            if last_hello.elapsed() >= Duration::from_secs(1) {
                f.hello_and_ihu()?;
                last_hello = Instant::now();
            }
            let left = feed.interval.saturating_sub(t.elapsed());
            sleep(left.min(Duration::from_millis(100)));
        }
    }
    Ok(sent)
}
