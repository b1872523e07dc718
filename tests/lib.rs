//! Helpers shared by the end-to-end tests: network namespaces joined by veth pairs, daemons
//! (routed and babeld) started inside them, kernel routes read back, traffic sent across, and
//! the control socket queried. Everything is cleaned up on drop, also when a test panics.
//!
//! Without root, `ip` or babeld a test prints why and returns, unless `CI` is set: then it
//! fails.

pub mod feeder;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// How long a test waits for something to converge before failing.
pub const CONVERGE: Duration = Duration::from_secs(30);

/// Skips the test (returns `None`) or, under CI, fails it.
pub fn skip(reason: &str) -> Option<Lab> {
    if std::env::var_os("CI").is_some() {
        panic!("end-to-end test cannot run under CI: {reason}");
    }
    eprintln!("skipping end-to-end test: {reason}");
    None
}

fn which(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(prog).is_file()
}

/// Whether `nft` (nftables) is here; a test that drops packets with it skips (fails under
/// CI) without.
pub fn have_nft() -> bool {
    which("nft")
}

/// Whether tshark runs here; a test that reads traffic back skips (fails under CI) without.
pub fn have_tshark() -> bool {
    Command::new("tshark").arg("-v").output().is_ok()
}

/// The Babel packets of a capture file, one line each: the tshark `fields`, tab-separated
/// (several values of a field separated by commas).
pub fn babel_fields(pcap: &Path, fields: &[&str]) -> String {
    let mut args = vec![
        "-r",
        pcap.to_str().expect("path"),
        "-Y",
        "babel",
        "-T",
        "fields",
        "-E",
        "separator=/t",
    ];
    for f in fields {
        args.extend(["-e", f]);
    }
    run("tshark", &args)
}

/// The first address after `inet6` in `ip addr show` output, without its prefix length.
fn first_inet6(out: &str) -> Option<String> {
    out.split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .map(str::to_string)
}

/// Runs a command, returns stdout; panics with stderr on failure.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One daemon process.
pub struct Proc {
    pub name: String,
    pub ns: String,
    pub child: Option<Child>,
    pub log: PathBuf,
}

/// A set of namespaces and processes, removed on drop.
pub struct Lab {
    tag: String,
    pub dir: PathBuf,
    namespaces: Vec<String>,
    procs: Vec<Proc>,
    /// Processes that are not our children (daemonised), killed on drop.
    adopted: Vec<u32>,
}

impl Lab {
    /// A new lab for test `name`. `babeld`: the test needs babeld too.
    pub fn new(name: &str, babeld: bool) -> Option<Lab> {
        if !nix::unistd::geteuid().is_root() {
            return skip("not root");
        }
        if !which("ip") {
            return skip("no ip command");
        }
        if babeld && !which("babeld") {
            return skip("no babeld (install the Debian package babeld)");
        }
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag = format!("e2e{}x{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("routed-{tag}-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Some(Lab {
            tag,
            dir,
            namespaces: Vec::new(),
            procs: Vec::new(),
            adopted: Vec::new(),
        })
    }

    /// The namespace's full name for a short one.
    pub fn ns_name(&self, short: &str) -> String {
        format!("{}{short}", self.tag)
    }

    /// Creates namespace `short` with `lo` up, and adds `addrs` to `lo`.
    pub fn node(&mut self, short: &str, addrs: &[&str]) -> String {
        let ns = self.ns_name(short);
        run("ip", &["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        self.ip(&ns, "link set lo up");
        for a in addrs {
            self.ip(&ns, &format!("addr add {a} dev lo"));
        }
        ns
    }

    /// Creates namespace `short` with the lab's addresses of router `n` on `lo`:
    /// `10.255.0.n/32` and `fd00:255::n/128`.
    pub fn host(&mut self, short: &str, n: u8) -> String {
        self.node(
            short,
            &[&format!("10.255.0.{n}/32"), &format!("fd00:255::{n}/128")],
        )
    }

    /// Creates the namespaces `nodes` (short name, addresses on `lo`) in order, then joins
    /// each to the next by a veth pair named after the far end: `eth-b` in `a`, `eth-a` in
    /// `b`, and so on. Returns the namespaces.
    pub fn chain<const N: usize>(&mut self, nodes: [(&str, &[&str]); N]) -> [String; N] {
        let ns = nodes.map(|(short, addrs)| self.node(short, addrs));
        for i in 1..N {
            let (x, y) = (nodes[i - 1].0, nodes[i].0);
            self.link(&ns[i - 1], &format!("eth-{y}"), &ns[i], &format!("eth-{x}"));
        }
        ns
    }

    /// Routers `a` and `b` ([`Lab::host`] 1 and 2) joined by `eth-b` (in `a`) and `eth-a`
    /// (in `b`).
    pub fn pair(&mut self) -> (String, String) {
        let a = self.host("a", 1);
        let b = self.host("b", 2);
        self.link(&a, "eth-b", &b, "eth-a");
        (a, b)
    }

    /// routed (`routed-a`, in `a`, on `eth-b`) and babeld (`babeld-b`, in `b`, on `eth-a`)
    /// with RFC 8967 authentication on their link under key id `k1`: routed with the key
    /// statement `routed_key` after its options `opts`, babeld with `babeld_key`.
    pub fn keyed_pair(
        &mut self,
        routed: &str,
        (a, b): (&str, &str),
        opts: &[&str],
        routed_key: &str,
        babeld_key: &str,
    ) {
        let routed_args = args(opts, &[routed_key, "interface eth-b key k1"], &["eth-b"]);
        self.routed(routed, "routed-a", a, &routed_args);
        let babeld_args = args(&[], &[babeld_key, "interface eth-a key k1"], &["eth-a"]);
        self.babeld("babeld-b", b, &babeld_args);
    }

    /// Runs `babelctl args` in `ns`; returns its output, failing the test if it fails.
    pub fn babelctl(&self, babelctl: &str, ns: &str, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, babelctl])
            .args(args)
            .output()
            .expect("babelctl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ip -n NS ARGS` (split on spaces).
    pub fn ip(&self, ns: &str, args: &str) -> String {
        let mut full = vec!["-n", ns];
        full.extend(args.split_whitespace());
        run("ip", &full)
    }

    /// A veth pair: `a_if` in `a`, `b_if` in `b`, both up.
    pub fn link(&self, a: &str, a_if: &str, b: &str, b_if: &str) {
        self.ip(
            a,
            &format!("link add {a_if} type veth peer name {b_if} netns {b}"),
        );
        self.ip(a, &format!("link set {a_if} up"));
        self.ip(b, &format!("link set {b_if} up"));
    }

    /// Starts `program args` inside namespace `ns`; output goes to a log file.
    pub fn spawn(&mut self, name: &str, ns: &str, program: &str, args: &[String]) -> usize {
        let log = self.dir.join(format!("{name}.log"));
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let f2 = f.try_clone().expect("log file");
        let mut full: Vec<String> = vec!["netns".into(), "exec".into(), ns.into(), program.into()];
        full.extend(args.iter().cloned());
        let child = Command::new("ip")
            .args(&full)
            .stdin(Stdio::null())
            .stdout(f)
            .stderr(f2)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        self.procs.push(Proc {
            name: name.into(),
            ns: ns.into(),
            child: Some(child),
            log,
        });
        self.procs.len() - 1
    }

    /// Starts routed with babeld-style arguments (pid and state files in the lab directory
    /// unless given), fast hellos.
    pub fn routed(&mut self, routed: &str, name: &str, ns: &str, args: &[&str]) -> usize {
        let mut full: Vec<String> = vec![
            "-d".into(),
            "2".into(),
            "-I".into(),
            self.dir.join(format!("{name}.pid")).display().to_string(),
        ];
        if !args.contains(&"-S") {
            full.push("-S".into());
            full.push(self.state_file(name).display().to_string());
        }
        full.extend(args.iter().map(|s| s.to_string()));
        self.spawn(name, ns, routed, &full)
    }

    /// Starts babeld 1.12 with its own pid and state files and fast hellos.
    pub fn babeld(&mut self, name: &str, ns: &str, args: &[&str]) -> usize {
        let mut full: Vec<String> = vec![
            "-I".into(),
            self.dir.join(format!("{name}.pid")).display().to_string(),
            "-S".into(),
            self.state_file(name).display().to_string(),
            "-h".into(),
            "1".into(),
            "-H".into(),
            "1".into(),
        ];
        full.extend(args.iter().map(|s| s.to_string()));
        self.spawn(name, ns, "babeld", &full)
    }

    pub fn state_file(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.state"))
    }

    /// The pid of the daemon itself (`ip netns exec` execs it, so it is the child's pid).
    pub fn pid(&self, idx: usize) -> Option<u32> {
        self.procs[idx].child.as_ref().map(|c| c.id())
    }

    /// Sends `sig` to process `idx`.
    pub fn signal(&self, idx: usize, sig: Signal) {
        if let Some(pid) = self.pid(idx) {
            let _ = kill(Pid::from_raw(pid as i32), sig);
        }
    }

    /// SIGTERM, then waits up to `timeout` for the exit; returns the exit status.
    pub fn stop(&mut self, idx: usize, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.stop_with(idx, Signal::SIGTERM, timeout)
    }

    /// Sends `sig`, then waits up to `timeout` for the exit; returns the exit status (`None`
    /// when the process did not exit in time: it is killed).
    pub fn stop_with(
        &mut self,
        idx: usize,
        sig: Signal,
        timeout: Duration,
    ) -> Option<std::process::ExitStatus> {
        self.signal(idx, sig);
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.procs[idx].child.as_mut()?;
            if let Ok(Some(st)) = c.try_wait() {
                self.procs[idx].child = None;
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                self.procs[idx].child = None;
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills process `pid` (not our child) when the lab is dropped.
    pub fn adopt(&mut self, pid: u32) {
        self.adopted.push(pid);
    }

    /// Whether process `idx` is still running.
    pub fn running(&mut self, idx: usize) -> bool {
        match self.procs[idx].child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn log(&self, idx: usize) -> String {
        std::fs::read_to_string(&self.procs[idx].log).unwrap_or_default()
    }

    /// All logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for p in &self.procs {
            let text = std::fs::read_to_string(&p.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            s.push_str(&format!("---- {} ({}) ----\n", p.name, p.ns));
            for l in tail.into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }

    /// Routes of protocol babel in `ns` (`ip -4|-6 route show proto 42`), one per line.
    pub fn babel_routes(&self, ns: &str, family: &str) -> String {
        self.ip(ns, &format!("{family} route show proto 42"))
    }

    /// Both families of protocol-42 routes, in every table.
    pub fn all_babel_routes(&self, ns: &str) -> String {
        let mut s = self.ip(ns, "-4 route show table all proto 42");
        s.push_str(&self.ip(ns, "-6 route show table all proto 42"));
        s
    }

    /// Polls `f` every 100 ms until it holds or `timeout` passes; returns the time it took.
    pub fn wait_for(&self, timeout: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
        let start = Instant::now();
        loop {
            if f() {
                return Some(start.elapsed());
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `ns` has a protocol-42 route for each of `prefixes` (as `ip route` prints
    /// the destination) that is not unreachable. Panics with the logs on timeout.
    pub fn wait_routes(&self, ns: &str, prefixes: &[&str]) -> Duration {
        let ok = self.wait_for(CONVERGE, || {
            let r = self.all_babel_routes(ns);
            prefixes
                .iter()
                .all(|p| r.lines().any(|l| l.split_whitespace().next() == Some(p)))
        });
        match ok {
            Some(d) => d,
            None => panic!(
                "{ns}: routes {prefixes:?} not learned in {CONVERGE:?}; have:\n{}\n{}",
                self.all_babel_routes(ns),
                self.logs()
            ),
        }
    }

    /// Runs `f` on a thread inside namespace `ns`.
    pub fn in_ns<T: Send + 'static>(&self, ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{ns}");
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open namespace");
            setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("namespace thread panicked")
    }

    /// Traffic crosses: a TCP connection from `src` in `from` to `dst` in `to` completes and
    /// carries a few bytes both ways. Returns an error text on failure.
    pub fn connect(&self, from: &str, src: IpAddr, to: &str, dst: IpAddr) -> Result<(), String> {
        let to_path = format!("/run/netns/{to}");
        let (tx, rx) = std::sync::mpsc::channel();
        let server = std::thread::spawn(move || -> Result<(), String> {
            let file = std::fs::File::open(&to_path).map_err(|e| e.to_string())?;
            setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string())?;
            let l = TcpListener::bind(SocketAddr::new(dst, 0))
                .map_err(|e| format!("bind {dst}: {e}"))?;
            let _ = tx.send(l.local_addr().map_err(|e| e.to_string())?.port());
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            let start = Instant::now();
            loop {
                match l.accept() {
                    Ok((mut s, _)) => {
                        s.set_nonblocking(false).map_err(|e| e.to_string())?;
                        s.set_read_timeout(Some(Duration::from_secs(3)))
                            .map_err(|e| e.to_string())?;
                        let mut b = [0u8; 4];
                        s.read_exact(&mut b).map_err(|e| e.to_string())?;
                        s.write_all(b"pong").map_err(|e| e.to_string())?;
                        return Ok(());
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if start.elapsed() > Duration::from_secs(4) {
                            return Err("no connection arrived".into());
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
        });
        let port: u16 = rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| "server did not start".to_string())?;
        let client = self.in_ns(from, move || -> Result<(), String> {
            let mut s = connect_from(src, dst, port)?;
            s.set_read_timeout(Some(Duration::from_secs(3)))
                .map_err(|e| e.to_string())?;
            s.write_all(b"ping").map_err(|e| e.to_string())?;
            let mut b = [0u8; 4];
            s.read_exact(&mut b).map_err(|e| e.to_string())?;
            if &b != b"pong" {
                return Err("wrong reply".into());
            }
            Ok(())
        });
        let server = server.join().map_err(|_| "server panicked".to_string())?;
        client.and(server)
    }

    /// Retries [`Lab::connect`] until it works or `timeout` passes.
    pub fn wait_connect(
        &self,
        from: &str,
        src: &str,
        to: &str,
        dst: &str,
        timeout: Duration,
    ) -> Duration {
        let (src, dst): (IpAddr, IpAddr) = (src.parse().expect("src"), dst.parse().expect("dst"));
        let start = Instant::now();
        loop {
            match self.connect(from, src, to, dst) {
                Ok(()) => return start.elapsed(),
                Err(e) if start.elapsed() > timeout => {
                    panic!(
                        "no traffic from {src} ({from}) to {dst} ({to}): {e}\n{}",
                        self.logs()
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// The link-local address of `dev` in `ns`.
    pub fn link_local(&self, ns: &str, dev: &str) -> String {
        let out = self.ip(ns, &format!("-6 addr show dev {dev} scope link"));
        first_inet6(&out).unwrap_or_else(|| panic!("no link-local address on {dev}: {out}"))
    }

    /// Waits (10 s at most) until `dev` in `ns` has a link-local address past duplicate
    /// address detection, and returns it.
    pub fn wait_link_local(&self, ns: &str, dev: &str) -> String {
        let mut found = None;
        let ok = self.wait_for(Duration::from_secs(10), || {
            let out = self.ip(ns, &format!("-6 addr show dev {dev} scope link -tentative"));
            found = first_inet6(&out);
            found.is_some()
        });
        match (ok, found) {
            (Some(_), Some(a)) => a,
            _ => panic!("no usable link-local address on {dev} in {ns}"),
        }
    }

    /// Starts tshark on `dev` in `ns`, writing to `DEV.pcap` in the lab directory, and gives
    /// it time to start; returns the process (stop it with [`Lab::stop`]) and the file. See
    /// [`have_tshark`].
    pub fn capture(&mut self, ns: &str, dev: &str) -> (usize, PathBuf) {
        let pcap = self.dir.join(format!("{dev}.pcap"));
        let args = [
            "-i".into(),
            dev.into(),
            "-w".into(),
            pcap.display().to_string(),
        ];
        let cap = self.spawn(
            "tshark",
            ns,
            "tshark",
            &[&args[..], &["-q".into()]].concat(),
        );
        std::thread::sleep(Duration::from_millis(1500));
        (cap, pcap)
    }

    /// Sends `request` to the control socket on `[::1]:port` in `ns`; returns everything up to
    /// and including the final `ok`/`no [REASON]`/`bad` line, banner excluded.
    pub fn control(&self, ns: &str, port: u16, request: &str) -> Result<String, String> {
        let request = request.to_string();
        self.in_ns(ns, move || control_session(&request, port))
    }

    /// Retries [`Lab::control`] until the socket answers.
    pub fn wait_control(&self, ns: &str, port: u16, request: &str) -> String {
        let start = Instant::now();
        loop {
            match self.control(ns, port, request) {
                Ok(s) => return s,
                Err(e) if start.elapsed() > CONVERGE => {
                    panic!("control socket in {ns}: {e}\n{}", self.logs())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

/// Daemon arguments (routed or babeld): `opts`, then `-C statement` for each of
/// `statements`, then the `interfaces`.
pub fn args<'a>(opts: &[&'a str], statements: &[&'a str], interfaces: &[&'a str]) -> Vec<&'a str> {
    let mut v = opts.to_vec();
    for st in statements {
        v.extend(["-C", st]);
    }
    v.extend(interfaces);
    v
}

/// The IPv6 UDP checksum (RFC 8200 §8.1) of `udp`, a UDP header (checksum field zero) and
/// its payload, from `src` to `dst`.
pub fn udp6_checksum(src: Ipv6Addr, dst: Ipv6Addr, udp: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |bytes: &[u8]| {
        for c in bytes.chunks(2) {
            let hi = c[0] as u64;
            let lo = c.get(1).copied().unwrap_or(0) as u64;
            sum += (hi << 8) | lo;
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(udp.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 17]);
    add(udp);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    match !(sum as u16) {
        0 => 0xffff,
        c => c,
    }
}

/// Sends `payload` as a UDP datagram from `[src]:sport` to `[dst]:dport` on interface
/// `ifindex` of namespace `ns`, through a raw socket: it leaves exactly as if the owner of
/// `src` had sent it, whoever holds the port (used to replay a captured packet).
pub fn send_udp6_raw(
    ns: &str,
    (src, sport): (Ipv6Addr, u16),
    (dst, dport): (Ipv6Addr, u16),
    ifindex: u32,
    payload: &[u8],
) -> Result<(), String> {
    use socket2::{Domain, Protocol, Socket, Type};
    let mut udp = Vec::with_capacity(8 + payload.len());
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let sum = udp6_checksum(src, dst, &udp);
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || -> Result<(), String> {
        let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
        setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string())?;
        let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::UDP))
            .map_err(|e| format!("raw socket: {e}"))?;
        s.bind(&SocketAddr::V6(std::net::SocketAddrV6::new(src, 0, 0, ifindex)).into())
            .map_err(|e| format!("bind {src}: {e}"))?;
        if dst.is_multicast() {
            s.set_multicast_if_v6(ifindex).map_err(|e| e.to_string())?;
        }
        s.send_to(
            &udp,
            &SocketAddr::V6(std::net::SocketAddrV6::new(dst, 0, 0, ifindex)).into(),
        )
        .map_err(|e| format!("send to {dst}: {e}"))?;
        Ok(())
    })
    .join()
    .map_err(|_| "raw sender panicked".to_string())?
}

fn connect_from(src: IpAddr, dst: IpAddr, port: u16) -> Result<TcpStream, String> {
    use socket2::{Domain, Socket, Type};
    let domain = if dst.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::STREAM, None).map_err(|e| e.to_string())?;
    s.bind(&SocketAddr::new(src, 0).into())
        .map_err(|e| format!("bind {src}: {e}"))?;
    s.connect_timeout(&SocketAddr::new(dst, port).into(), Duration::from_secs(3))
        .map_err(|e| format!("connect {dst}: {e}"))?;
    Ok(s.into())
}

fn control_session(request: &str, port: u16) -> Result<String, String> {
    let s = TcpStream::connect_timeout(
        &SocketAddr::new("::1".parse().expect("::1"), port),
        Duration::from_secs(2),
    )
    .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s);
    // The banner ends with "ok".
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err("closed during banner".into());
        }
        if line == "ok\n" {
            break;
        }
    }
    w.write_all(format!("{request}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err(format!("closed; got {out:?}"));
        }
        out.push_str(&line);
        // babeld ends a reply with `ok`, `bad`, `no` or `no REASON`.
        if matches!(line.as_str(), "ok\n" | "no\n" | "bad\n") || line.starts_with("no ") {
            let _ = w.write_all(b"quit\n");
            return Ok(out);
        }
    }
}

/// One parsed `dump` line: kind, object, id and the key-value fields after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpLine {
    pub kind: String,
    pub object: String,
    pub id: String,
    pub fields: BTreeMap<String, String>,
}

/// Parses babeld's (and routed's) `dump`/`monitor` lines; other lines are skipped.
pub fn parse_dump(text: &str) -> Vec<DumpLine> {
    let mut out = Vec::new();
    for l in text.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() < 3 || !matches!(w[0], "add" | "change" | "flush") {
            continue;
        }
        let mut fields = BTreeMap::new();
        let mut i = 3;
        while i + 1 < w.len() {
            fields.insert(w[i].to_string(), w[i + 1].to_string());
            i += 2;
        }
        out.push(DumpLine {
            kind: w[0].into(),
            object: w[1].into(),
            id: w[2].into(),
            fields,
        });
    }
    out
}

impl Drop for Lab {
    fn drop(&mut self) {
        for &pid in &self.adopted {
            if Path::new("/proc").join(pid.to_string()).exists() {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
        }
        for p in &mut self.procs {
            if let Some(c) = p.child.as_mut() {
                let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGKILL);
                let _ = c.wait();
            }
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        if std::env::var_os("E2E_KEEP_LOGS").is_none() && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("logs kept in {}", self.dir.display());
        }
    }
}
