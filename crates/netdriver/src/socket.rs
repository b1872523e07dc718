//! The Babel UDP socket.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::socket::{
    recvmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned, MsgFlags,
    SockaddrIn6,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// RFC 8966 §5: the well-known UDP port of Babel.
pub const BABEL_PORT: u16 = 6696;

/// RFC 8966 §5: the link-local multicast group of Babel, ff02::1:6.
pub const BABEL_GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 6);

/// Where the socket listens and which group it joins.
#[derive(Clone, Debug)]
pub struct SocketConfig {
    /// UDP port to bind and to send to (default 6696).
    pub port: u16,
    /// Multicast group joined by [`BabelSocket::join`] (default ff02::1:6).
    pub group: Ipv6Addr,
}

impl Default for SocketConfig {
    fn default() -> Self {
        SocketConfig {
            port: BABEL_PORT,
            group: BABEL_GROUP,
        }
    }
}

/// One received datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes written to the caller's buffer.
    pub len: usize,
    /// Sender address and port; the scope id is the arrival interface for a link-local sender.
    pub src: SocketAddrV6,
    /// Interface the datagram arrived on (from IPV6_PKTINFO).
    pub ifindex: u32,
    /// Destination address of the datagram (from IPV6_PKTINFO): the group or a unicast address.
    pub dst: Ipv6Addr,
}

impl Received {
    /// Whether the datagram was sent to a multicast group.
    pub fn is_multicast(&self) -> bool {
        self.dst.is_multicast()
    }
}

/// Datagrams the socket dropped rather than return.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketStats {
    /// Larger than the caller's buffer.
    pub truncated: u64,
    /// No IPV6_PKTINFO control message, or a sender that is not IPv6.
    pub no_pktinfo: u64,
}

/// The Babel UDP socket: one socket on `[::]:port` for every interface.
pub struct BabelSocket {
    sock: UdpSocket,
    config: SocketConfig,
    truncated: AtomicU64,
    no_pktinfo: AtomicU64,
}

fn nix_err(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Scope id to put in a destination address: the interface for link-local unicast and for
/// link- or interface-local multicast, none otherwise.
fn scope_for(dst: &Ipv6Addr, ifindex: u32) -> u32 {
    let link_local_unicast = (dst.segments()[0] & 0xffc0) == 0xfe80;
    let small_multicast = dst.is_multicast() && matches!(dst.segments()[0] & 0x000f, 1 | 2);
    if link_local_unicast || small_multicast {
        ifindex
    } else {
        0
    }
}

/// The receive buffer asked for: a few thousand datagrams, a bounded amount of memory.
const RECV_BUFFER: usize = 4 << 20;

impl BabelSocket {
    /// Opens the socket: `[::]:port`, IPv6 only, SO_REUSEADDR, IPV6_RECVPKTINFO, hop limit 1
    /// for unicast and multicast, multicast loop off, non-blocking.
    pub fn bind(config: SocketConfig) -> io::Result<Self> {
        let sock = Socket::new(
            Domain::IPV6,
            Type::DGRAM.nonblocking().cloexec(),
            Some(Protocol::UDP),
        )?;
        sock.set_only_v6(true)?;
        sock.set_reuse_address(true)?;
        // RFC 8966 §4: Babel packets are sent with a hop limit of 1 (link-local scope): a
        // packet never leaves the link it was sent on.
        sock.set_multicast_hops_v6(1)?;
        sock.set_unicast_hops_v6(1)?;
        sock.set_multicast_loop_v6(false)?;
        setsockopt(&sock, sockopt::Ipv6RecvPacketInfo, &true).map_err(nix_err)?;
        // A burst (a neighbour's full dump, or a flood from a hostile one) must not overflow
        // the kernel's default buffer (about 200 KiB) and take legitimate hellos with it.
        crate::nl::set_rcvbuf(&sock, RECV_BUFFER);
        let addr = SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, config.port, 0, 0);
        sock.bind(&addr.into())?;
        // tokio's UdpSocket registers the descriptor with the reactor (as an AsyncFd would,
        // without unsafe code); recvmsg and sendmsg run on it through `async_io`.
        let sock = UdpSocket::from_std(std::net::UdpSocket::from(sock))?;
        Ok(BabelSocket {
            sock,
            config,
            truncated: AtomicU64::new(0),
            no_pktinfo: AtomicU64::new(0),
        })
    }

    /// The local address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddrV6> {
        match self.sock.local_addr()? {
            std::net::SocketAddr::V6(a) => Ok(a),
            std::net::SocketAddr::V4(_) => Err(io::Error::other("socket is not IPv6")),
        }
    }

    /// The configuration the socket was opened with.
    pub fn config(&self) -> &SocketConfig {
        &self.config
    }

    /// Joins the Babel group on `ifindex`. Joining twice is not an error.
    pub fn join(&self, ifindex: u32) -> io::Result<()> {
        match self.sock.join_multicast_v6(&self.config.group, ifindex) {
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => Ok(()),
            r => r,
        }
    }

    /// Leaves the Babel group on `ifindex`. Leaving a group not joined (or on an interface
    /// that is gone) is not an error.
    pub fn leave(&self, ifindex: u32) -> io::Result<()> {
        match self.sock.leave_multicast_v6(&self.config.group, ifindex) {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EADDRNOTAVAIL) | Some(libc::ENODEV) | Some(libc::EINVAL)
                ) =>
            {
                Ok(())
            }
            r => r,
        }
    }

    /// Counters of dropped datagrams.
    pub fn stats(&self) -> SocketStats {
        SocketStats {
            truncated: self.truncated.load(Ordering::Relaxed),
            no_pktinfo: self.no_pktinfo.load(Ordering::Relaxed),
        }
    }

    /// Receives one datagram into `buf`, with its sender, arrival interface and destination.
    /// Datagrams larger than `buf` or without packet info are dropped and counted in
    /// [`BabelSocket::stats`].
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        loop {
            let fd = self.sock.as_raw_fd();
            let outcome = self
                .sock
                .async_io(Interest::READABLE, || recv_once(fd, buf))
                .await?;
            if let Some(r) = self.count(outcome) {
                return Ok(r);
            }
        }
    }

    /// Non-blocking receive: `Ok(None)` when nothing is queued.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        loop {
            let fd = self.sock.as_raw_fd();
            match self.sock.try_io(Interest::READABLE, || recv_once(fd, buf)) {
                Ok(outcome) => {
                    if let Some(r) = self.count(outcome) {
                        return Ok(Some(r));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    fn count(&self, outcome: Outcome) -> Option<Received> {
        match outcome {
            Outcome::Got(r) => Some(r),
            Outcome::Truncated => {
                self.truncated.fetch_add(1, Ordering::Relaxed);
                None
            }
            Outcome::NoInfo => {
                self.no_pktinfo.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Sends `bytes` to `dst` on the configured port, out of interface `ifindex`, from source
    /// address `src`. A link-local or multicast destination is scoped to `ifindex`, and
    /// IPV6_PKTINFO picks the outgoing interface and the source for every destination.
    /// `ifindex` 0 leaves the interface to the routing table, `src` `None` the source to the
    /// kernel's address selection (which, between two link-local addresses, takes the newest).
    ///
    /// The daemon names the link-local address it announces as its next hop and signs with
    /// (RFC 8967 §4.1: the MAC covers the source address): a packet sent from another one
    /// fails its neighbour's verification. `src` must be an address of `ifindex`, else the
    /// send fails (EINVAL).
    pub async fn send_to(
        &self,
        bytes: &[u8],
        dst: Ipv6Addr,
        ifindex: u32,
        src: Option<Ipv6Addr>,
    ) -> io::Result<usize> {
        let addr = SocketAddrV6::new(dst, self.config.port, 0, scope_for(&dst, ifindex));
        let fd = self.sock.as_raw_fd();
        self.sock
            .async_io(Interest::WRITABLE, || {
                send_once(fd, bytes, &addr, ifindex, src)
            })
            .await
    }

    /// Non-blocking [`BabelSocket::send_to`]: `Err(WouldBlock)` when the socket buffer is full.
    pub fn try_send_to(
        &self,
        bytes: &[u8],
        dst: Ipv6Addr,
        ifindex: u32,
        src: Option<Ipv6Addr>,
    ) -> io::Result<usize> {
        let addr = SocketAddrV6::new(dst, self.config.port, 0, scope_for(&dst, ifindex));
        let fd = self.sock.as_raw_fd();
        self.sock.try_io(Interest::WRITABLE, || {
            send_once(fd, bytes, &addr, ifindex, src)
        })
    }
}

enum Outcome {
    Got(Received),
    Truncated,
    NoInfo,
}

/// One recvmsg.
fn recv_once(fd: RawFd, buf: &mut [u8]) -> io::Result<Outcome> {
    let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo);
    let cap = buf.len();
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn6>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_TRUNC)
        .map_err(nix_err)?;
    // With MSG_TRUNC, `bytes` is the datagram's real length even when it did not fit.
    if msg.bytes > cap || msg.flags.contains(MsgFlags::MSG_TRUNC) {
        return Ok(Outcome::Truncated);
    }
    let Some(a) = msg.address else {
        return Ok(Outcome::NoInfo);
    };
    let src = SocketAddrV6::new(a.ip(), a.port(), a.flowinfo(), a.scope_id());
    let mut info = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::Ipv6PacketInfo(pi) = c {
                info = Some((pi.ipi6_ifindex, Ipv6Addr::from(pi.ipi6_addr.s6_addr)));
            }
        }
    }
    let Some((ifindex, dst)) = info else {
        return Ok(Outcome::NoInfo);
    };
    Ok(Outcome::Got(Received {
        len: msg.bytes,
        src,
        ifindex,
        dst,
    }))
}

/// One sendmsg with an IPV6_PKTINFO that names the outgoing interface and the source address
/// (the unspecified address lets the kernel choose it).
fn send_once(
    fd: RawFd,
    bytes: &[u8],
    addr: &SocketAddrV6,
    ifindex: u32,
    src: Option<Ipv6Addr>,
) -> io::Result<usize> {
    let dst = SockaddrIn6::from(*addr);
    let iov = [IoSlice::new(bytes)];
    let info = libc::in6_pktinfo {
        ipi6_addr: libc::in6_addr {
            s6_addr: src.unwrap_or(Ipv6Addr::UNSPECIFIED).octets(),
        },
        ipi6_ifindex: ifindex,
    };
    let cmsgs = [ControlMessage::Ipv6PacketInfo(&info)];
    let cmsgs: &[ControlMessage] = if ifindex != 0 || src.is_some() {
        &cmsgs
    } else {
        &[]
    };
    sendmsg(fd, &iov, cmsgs, MsgFlags::empty(), Some(&dst)).map_err(nix_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_only_for_link_local_and_small_multicast() {
        assert_eq!(scope_for(&BABEL_GROUP, 7), 7);
        assert_eq!(scope_for(&"fe80::1".parse().unwrap(), 7), 7);
        assert_eq!(scope_for(&"2001:db8::1".parse().unwrap(), 7), 0);
        assert_eq!(scope_for(&"ff05::1:3".parse().unwrap(), 7), 0);
        assert_eq!(scope_for(&"ff01::1".parse().unwrap(), 7), 7);
    }
}
