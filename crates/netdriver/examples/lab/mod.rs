//! The network namespace the netdriver examples run in (shared by them; not an example).

use std::process::Command;

/// Runs `ip ARGS`; its error output on failure.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// The index of interface `dev` in our namespace (not from /sys, which still shows the
/// namespace it was mounted in).
pub fn ifindex(dev: &str) -> Result<u32, String> {
    nix::net::if_::if_nametoindex(dev).map_err(|e| format!("no ifindex for {dev}: {e}"))
}

/// Moves the process into a network namespace of its own (this thread must be the only
/// one, so the whole process moves; the kernel tears it down when the process exits), with
/// `lo` up and, for each name in `devs`, a veth link of that name to a peer named with a
/// `p` after it, both up. Needs root.
pub fn own_namespace(devs: &[&str]) -> Result<(), String> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("unshare(CLONE_NEWNET) needs root: {e}"))?;
    ip(&["link", "set", "lo", "up"])?;
    for dev in devs {
        let peer = format!("{dev}p");
        ip(&["link", "add", dev, "type", "veth", "peer", "name", &peer])?;
        ip(&["link", "set", &peer, "up"])?;
        ip(&["link", "set", dev, "up"])?;
    }
    Ok(())
}
