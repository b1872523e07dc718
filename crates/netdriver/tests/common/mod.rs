//! Network-namespace harness for the netdriver tests.
//!
//! Each test makes its own namespaces (`ndtest-<pid>-<n>`), removed by a Drop guard even when
//! the test fails. Code runs inside a namespace on a dedicated thread that calls `setns` and
//! then builds a current-thread tokio runtime. Without root or `ip netns`, a test prints why
//! and returns, unless `CI` is set: then it fails.

#![allow(dead_code)]

use std::future::Future;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::sched::{setns, CloneFlags};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A named network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

fn skip_or_fail(reason: &str) -> Option<Netns> {
    if std::env::var_os("CI").is_some() {
        panic!("namespace test cannot run under CI: {reason}");
    }
    eprintln!("skipping namespace test: {reason}");
    None
}

impl Netns {
    /// A new namespace with `lo` up and DAD off (unless `dad`). `None`: skip the test.
    pub fn new() -> Option<Netns> {
        Self::with_dad(false)
    }

    pub fn with_dad(dad: bool) -> Option<Netns> {
        if !nix::unistd::geteuid().is_root() {
            return skip_or_fail("not root");
        }
        let name = format!(
            "ndtest-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        match Command::new("ip").args(["netns", "add", &name]).output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                return skip_or_fail(&format!(
                    "ip netns add failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
            Err(e) => return skip_or_fail(&format!("cannot run ip: {e}")),
        }
        let ns = Netns { name };
        ns.ip("link set lo up");
        let v = if dad { "1" } else { "0" };
        ns.exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.all.accept_dad={v}"),
            &format!("net.ipv6.conf.default.accept_dad={v}"),
        ]);
        Some(ns)
    }

    /// Runs `ip -n NAME ARGS...` (split on spaces) and returns stdout; panics on failure.
    pub fn ip(&self, args: &str) -> String {
        let mut full = vec!["-n", &self.name];
        full.extend(args.split_whitespace());
        run("ip", &full)
    }

    /// Runs a command inside the namespace (`ip netns exec`).
    pub fn exec(&self, cmd: &[&str]) -> String {
        let mut full = vec!["netns", "exec", &self.name];
        full.extend_from_slice(cmd);
        run("ip", &full)
    }

    /// `ip -j ...` parsed as JSON.
    pub fn ip_json(&self, args: &str) -> serde_json::Value {
        ip_json_in(&self.name, args)
    }

    pub fn ifindex(&self, dev: &str) -> u32 {
        let v = self.ip_json(&format!("link show dev {dev}"));
        v[0]["ifindex"].as_u64().expect("ifindex") as u32
    }

    /// The link-local IPv6 address of `dev`, waiting for it to appear.
    pub fn link_local(&self, dev: &str) -> std::net::Ipv6Addr {
        for _ in 0..100 {
            let v = self.ip_json(&format!("-6 addr show dev {dev} scope link"));
            if let Some(a) = v[0]["addr_info"]
                .as_array()
                .and_then(|a| a.first())
                .and_then(|a| a["local"].as_str())
            {
                return a.parse().expect("address");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no link-local address on {dev} in {}", self.name);
    }

    /// Runs `f` inside the namespace, on a thread with a current-thread tokio runtime.
    pub fn block_on<F, Fut, T>(&self, f: F) -> T
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        self.spawn(f).join().expect("namespace thread panicked")
    }

    /// Like `block_on`, but returns the thread's handle at once.
    pub fn spawn<F, Fut, T>(&self, f: F) -> std::thread::JoinHandle<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open namespace");
            setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(f())
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A veth pair `a_dev` in `a` and `b_dev` in `b`, both up.
pub fn veth(a: &Netns, a_dev: &str, b: &Netns, b_dev: &str) {
    a.ip(&format!(
        "link add {a_dev} type veth peer name {b_dev} netns {}",
        b.name
    ));
    a.ip(&format!("link set {a_dev} up"));
    b.ip(&format!("link set {b_dev} up"));
}

/// A veth pair `dev` / `<dev>p` inside one namespace, both up: a link with carrier (the
/// kernel here may lack the dummy driver).
pub fn local_link(ns: &Netns, dev: &str) {
    ns.ip(&format!("link add {dev} type veth peer name {dev}p"));
    ns.ip(&format!("link set {dev}p up"));
    ns.ip(&format!("link set {dev} up"));
}

/// `ip -n NAME -j ARGS` parsed as JSON; usable from a namespace thread (by name).
pub fn ip_json_in(name: &str, args: &str) -> serde_json::Value {
    let mut full = vec!["-n", name, "-j"];
    full.extend(args.split_whitespace());
    let out = run("ip", &full);
    if out.trim().is_empty() {
        return serde_json::Value::Array(vec![]);
    }
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("ip -j {args}: {e}: {out}"))
}
