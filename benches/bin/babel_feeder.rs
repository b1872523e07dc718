//! A synthetic Babel neighbour: it says hello on one interface, tells everyone it hears them
//! (a wildcard IHU), then advertises N prefixes from one router-id, in prefix order or
//! shuffled, and sends that full dump again every `--interval` seconds, like a real
//! neighbour's periodic updates, until killed or until `--hold` runs out.
//!
//! Used by the side-by-side benchmark against babeld and by flood tests:
//! `babel_feeder --if IFACE --prefixes 100000 [--order sorted|shuffled] [--interval 8]`.
//! With `--flap M2` every dump after the first alternates the metric between `--metric` and
//! M2 and carries a new seqno (so the change is feasible at once), which makes the
//! receiver switch all its routes between this neighbour and another one at every dump.
//! Run it inside the namespace that holds IFACE (`ip netns exec NS babel_feeder ...`).

use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::process::ExitCode;
use std::thread::sleep;
use std::time::{Duration, Instant};

use babel_core::wire::{
    max_payload_for_mtu, Encoder, Hello, Ihu, Prefix, RouterId, Tlv, Update, MULTICAST_GROUP, PORT,
};

struct Args {
    iface: String,
    prefixes: u32,
    shuffled: bool,
    interval: Duration,
    hold: Duration,
    metric: u16,
    flap: Option<u16>,
    router_id: u8,
    packets_per_second: u32,
}

fn usage() -> &'static str {
    "usage: babel_feeder --if IFACE --prefixes N [--order sorted|shuffled] [--interval SECONDS] \
     [--hold SECONDS] [--metric M] [--flap M2] [--router-id 1-255] [--pps PACKETS_PER_SECOND]"
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        iface: String::new(),
        prefixes: 1000,
        shuffled: false,
        interval: Duration::from_secs(8),
        hold: Duration::from_secs(600),
        metric: 0,
        flap: None,
        router_id: 1,
        packets_per_second: 1000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--if" => a.iface = v()?,
            "--prefixes" => a.prefixes = v()?.parse().map_err(|e| format!("--prefixes: {e}"))?,
            "--order" => {
                a.shuffled = match v()?.as_str() {
                    "sorted" => false,
                    "shuffled" => true,
                    o => return Err(format!("--order: {o:?} is not sorted or shuffled")),
                }
            }
            "--interval" => {
                let secs: f64 = v()?.parse().map_err(|e| format!("--interval: {e}"))?;
                if !(0.1..=3600.0).contains(&secs) {
                    return Err("--interval must be 0.1 to 3600 seconds".into());
                }
                a.interval = Duration::from_secs_f64(secs)
            }
            "--hold" => {
                a.hold = Duration::from_secs(v()?.parse().map_err(|e| format!("--hold: {e}"))?)
            }
            "--metric" => a.metric = v()?.parse().map_err(|e| format!("--metric: {e}"))?,
            "--flap" => a.flap = Some(v()?.parse().map_err(|e| format!("--flap: {e}"))?),
            "--router-id" => {
                a.router_id = v()?.parse().map_err(|e| format!("--router-id: {e}"))?;
                if a.router_id == 0 {
                    return Err("--router-id must be 1 to 255".into());
                }
            }
            "--pps" => {
                a.packets_per_second = v()?.parse().map_err(|e| format!("--pps: {e}"))?;
                if a.packets_per_second == 0 {
                    return Err("--pps must be positive".into());
                }
            }
            "--help" | "-h" => return Err(usage().into()),
            o => return Err(format!("unknown argument {o:?}\n{}", usage())),
        }
    }
    if a.iface.is_empty() {
        return Err(format!("--if is required\n{}", usage()));
    }
    Ok(a)
}

/// The interface's index and IPv6 link-local address, from /sys and /proc.
fn interface(name: &str) -> Result<(u32, Ipv6Addr), String> {
    let idx: u32 = std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
        .map_err(|e| format!("{name}: {e}"))?
        .trim()
        .parse()
        .map_err(|e| format!("{name}: ifindex: {e}"))?;
    let table = std::fs::read_to_string("/proc/net/if_inet6").map_err(|e| e.to_string())?;
    for line in table.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 6 && f[5] == name && f[0].starts_with("fe80") {
            let v = u128::from_str_radix(f[0], 16).map_err(|e| e.to_string())?;
            return Ok((idx, Ipv6Addr::from(v)));
        }
    }
    Err(format!("{name}: no IPv6 link-local address yet"))
}

/// The `i`-th prefix: 2001:db8:XXXX:YYYY::/64.
fn prefix(i: u32) -> Prefix {
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

struct Feeder {
    sock: UdpSocket,
    group: SocketAddrV6,
    src: Ipv6Addr,
    hello_seqno: u16,
}

impl Feeder {
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

fn run(a: Args) -> Result<(), String> {
    let (ifindex, src) = interface(&a.iface)?;
    let sock = UdpSocket::bind(SocketAddrV6::new(src, PORT, 0, ifindex))
        .map_err(|e| format!("bind [{src}%{}]:{PORT}: {e}", a.iface))?;
    sock.set_multicast_loop_v6(false)
        .map_err(|e| e.to_string())?;
    let mut f = Feeder {
        sock,
        group: SocketAddrV6::new(MULTICAST_GROUP, PORT, 0, ifindex),
        src,
        hello_seqno: 0,
    };
    let id = RouterId([0x02, 0xfe, 0xed, 0, 0, 0, 0, a.router_id]);
    let mut order: Vec<u32> = (0..a.prefixes).collect();
    if a.shuffled {
        shuffle(&mut order);
    }
    let mut updates: Vec<Tlv> = order
        .iter()
        .map(|&i| {
            Tlv::Update(Update {
                flags: 0,
                // 60 s: routes live 3.5 times that without a refresh.
                interval: 6000,
                seqno: 1,
                metric: a.metric,
                prefix: Some(prefix(i)),
                src_prefix: None,
                router_id: Some(id),
                next_hop: None,
                unknown_subtlvs: vec![],
            })
        })
        .collect();

    // Become a neighbour first: the receiver ignores updates until the link has a cost.
    for _ in 0..3 {
        f.hello_and_ihu()?;
        sleep(Duration::from_millis(700));
    }
    let start = Instant::now();
    let gap = Duration::from_secs(1) / a.packets_per_second;
    let mut last_hello = Instant::now();
    let mut round = 0;
    while start.elapsed() < a.hold {
        round += 1;
        let t = Instant::now();
        if let Some(m2) = a.flap {
            // Odd dumps carry --metric, even ones M2; a new seqno each time.
            let metric = if round % 2 == 1 { a.metric } else { m2 };
            for u in &mut updates {
                if let Tlv::Update(u) = u {
                    u.metric = metric;
                    u.seqno = round as u16;
                }
            }
        }
        let mut sent = 0;
        // Small batches, each one its own packet, paced so the receiver's socket keeps up.
        for chunk in updates.chunks(90) {
            sent += f.send(chunk)?;
            sleep(gap);
            if last_hello.elapsed() >= Duration::from_secs(1) {
                f.hello_and_ihu()?;
                last_hello = Instant::now();
            }
        }
        eprintln!(
            "babel_feeder: dump {round}: {} updates in {sent} packets in {:.2} s",
            updates.len(),
            t.elapsed().as_secs_f64()
        );
        // Hellos every second until the next periodic dump.
        while t.elapsed() < a.interval && start.elapsed() < a.hold {
            if last_hello.elapsed() >= Duration::from_secs(1) {
                f.hello_and_ihu()?;
                last_hello = Instant::now();
            }
            let left = a.interval.saturating_sub(t.elapsed());
            sleep(left.min(Duration::from_millis(100)));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("babel_feeder: {e}");
            ExitCode::FAILURE
        }
    }
}
