//! Instruments that run inside the namespaces: a netlink listener that timestamps the Babel
//! routes reaching the kernel, and a dense UDP stream whose gaps show an outage.

use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::lab::in_netns;

use libc::{RTM_DELROUTE, RTM_NEWROUTE};

/// The rtnetlink groups of route changes.
const ROUTE_GROUPS: u32 = (libc::RTMGRP_IPV4_ROUTE | libc::RTMGRP_IPV6_ROUTE) as u32;
/// The protocol number of Babel routes (babeld's and routed's default).
const RTPROT_BABEL: u8 = 42;

/// What the route listener saw.
#[derive(Debug, Default)]
pub struct RouteLog {
    /// Arrival of each new or replaced protocol-42 route, in µs since the listener started.
    pub new: Vec<u64>,
    /// Protocol-42 route deletions.
    pub deleted: u64,
    /// Receive-buffer overruns (events lost to the listener).
    pub overruns: u64,
}

/// Counts the protocol-42 route messages of one namespace until stopped.
pub struct RouteListener {
    stop: Arc<AtomicBool>,
    /// Route messages seen so far (new, replaced or deleted), readable while it runs.
    seen: Arc<std::sync::atomic::AtomicUsize>,
    thread: JoinHandle<Result<Result<RouteLog, String>, String>>,
}

impl RouteListener {
    pub fn start(ns: &str) -> Result<RouteListener, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        let s = stop.clone();
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = seen.clone();
        let thread = in_netns(ns, move || listen(&s, &c, start, &tx))?;
        // Only return once the socket is subscribed.
        rx.recv_timeout(Duration::from_secs(5))
            .map_err(|_| "the route listener did not start".to_string())?;
        Ok(RouteListener { stop, seen, thread })
    }

    /// How many protocol-42 route messages it has seen so far.
    pub fn seen(&self) -> usize {
        self.seen.load(Ordering::Relaxed)
    }

    pub fn finish(self) -> Result<RouteLog, String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| "route listener panicked".to_string())??
    }
}

fn listen(
    stop: &AtomicBool,
    seen: &std::sync::atomic::AtomicUsize,
    start: Instant,
    ready: &std::sync::mpsc::Sender<()>,
) -> Result<RouteLog, String> {
    let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| format!("netlink: {e}"))?;
    sock.bind(&SocketAddr::new(0, ROUTE_GROUPS))
        .map_err(|e| format!("netlink bind: {e}"))?;
    // A big buffer: the listener must not lose events while the daemons work flat out.
    let _ =
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::RcvBufForce, &(256 << 20));
    nix::sys::socket::setsockopt(
        &sock,
        nix::sys::socket::sockopt::ReceiveTimeout,
        &nix::sys::time::TimeVal::new(0, 100_000),
    )
    .map_err(|e| format!("netlink timeout: {e}"))?;
    let _ = ready.send(());
    let mut log = RouteLog::default();
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    while !stop.load(Ordering::Relaxed) {
        buf.clear();
        match sock.recv(&mut buf, 0) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                log.overruns += 1;
                continue;
            }
            Err(_) => continue, // timeout or interrupted: look at the stop flag
        }
        let at = start.elapsed().as_micros() as u64;
        count_messages(&buf, at, &mut log);
        seen.store(log.new.len() + log.deleted as usize, Ordering::Relaxed);
    }
    Ok(log)
}

/// Adds the protocol-42 route messages of one netlink datagram to `log`.
pub fn count_messages(buf: &[u8], at: u64, log: &mut RouteLog) {
    let mut off = 0;
    while buf.len() >= off + 16 {
        let len = u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]) as usize;
        if len < 16 || off + len > buf.len() {
            return;
        }
        let kind = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
        // struct rtmsg follows the header: family, dst_len, src_len, tos, table, protocol.
        if len >= 16 + 12 && buf[off + 16 + 5] == RTPROT_BABEL {
            match kind {
                RTM_NEWROUTE => log.new.push(at),
                RTM_DELROUTE => log.deleted += 1,
                _ => {}
            }
        }
        off += (len + 3) & !3;
    }
}

/// Events cut into consecutive windows of `step` µs from `from`: for each window that has
/// any, (first, last, count).
pub fn flap_windows(times: &[u64], from: u64, step: u64) -> Vec<(u64, u64, usize)> {
    let mut out: Vec<(u64, u64, usize)> = Vec::new();
    for &t in times {
        let k = (t.saturating_sub(from) / step.max(1)) as usize;
        if out.len() <= k {
            out.resize(k + 1, (0, 0, 0));
        }
        let w = &mut out[k];
        if w.2 == 0 {
            w.0 = t;
        }
        w.1 = t;
        w.2 += 1;
    }
    out
}

/// A stream of small UDP datagrams every `gap`, from `src` in one namespace to `dst` in
/// another. Each carries its sequence number and its send time, so losses are told from the
/// receiving thread's own scheduling delays.
pub struct Stream {
    stop: Arc<AtomicBool>,
    sender: JoinHandle<Result<Result<u64, String>, String>>,
    receiver: JoinHandle<Result<Result<Vec<Arrival>, String>, String>>,
    pub start: Instant,
}

/// One datagram received: its sequence number (from 1) and its send and arrival times, in
/// µs since the stream started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    pub seq: u64,
    pub sent: u64,
    pub at: u64,
}

pub const PROBE_PORT: u16 = 47_999;

impl Stream {
    pub fn start(
        src_ns: &str,
        src: Ipv6Addr,
        dst_ns: &str,
        dst: Ipv6Addr,
        gap: Duration,
    ) -> Result<Stream, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        let s = stop.clone();
        let receiver = in_netns(dst_ns, move || -> Result<Vec<Arrival>, String> {
            let sock = UdpSocket::bind(SocketAddrV6::new(dst, PROBE_PORT, 0, 0))
                .map_err(|e| format!("probe bind [{dst}]: {e}"))?;
            sock.set_read_timeout(Some(Duration::from_millis(50)))
                .map_err(|e| e.to_string())?;
            let _ = tx.send(());
            let mut arrivals = Vec::new();
            let mut b = [0u8; 64];
            while !s.load(Ordering::Relaxed) {
                if let Ok(16) = sock.recv(&mut b) {
                    let at = start.elapsed().as_micros() as u64;
                    let word =
                        |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().unwrap_or_default());
                    arrivals.push(Arrival {
                        seq: word(0),
                        sent: word(8),
                        at,
                    });
                }
            }
            Ok(arrivals)
        })?;
        rx.recv_timeout(Duration::from_secs(5))
            .map_err(|_| "the probe receiver did not start".to_string())?;
        let s = stop.clone();
        let sender = in_netns(src_ns, move || -> Result<u64, String> {
            let sock = UdpSocket::bind(SocketAddrV6::new(src, 0, 0, 0))
                .map_err(|e| format!("probe bind [{src}]: {e}"))?;
            // Datagrams routed to a neighbour that no longer answers (a route left on a dead
            // link) wait in its queue, charged to this socket, until address resolution
            // fails 3 s later; Linux caps that queue at 208 KiB, the default send buffer
            // size. With no more room than that the sender would block for seconds, even
            // after the route has moved: a send buffer above the cap (the queue drops its
            // oldest datagram instead), and never waiting for room (a datagram that finds
            // none is lost, like one dropped on the way).
            let _ = nix::sys::socket::setsockopt(
                &sock,
                nix::sys::socket::sockopt::SndBufForce,
                &(4 << 20),
            );
            sock.set_nonblocking(true).map_err(|e| e.to_string())?;
            let to = SocketAddrV6::new(dst, PROBE_PORT, 0, 0);
            let mut seq: u64 = 0;
            let mut next = Instant::now();
            let mut b = [0u8; 16];
            while !s.load(Ordering::Relaxed) {
                seq += 1;
                b[..8].copy_from_slice(&seq.to_be_bytes());
                b[8..].copy_from_slice(&(start.elapsed().as_micros() as u64).to_be_bytes());
                // No route for a moment is what is being measured: errors are expected.
                let _ = sock.send_to(&b, to);
                next += gap;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
            Ok(seq)
        })?;
        Ok(Stream {
            stop,
            sender,
            receiver,
            start,
        })
    }

    /// Stops the stream; what arrived, and how many datagrams were sent.
    pub fn finish(self) -> Result<(Vec<Arrival>, u64), String> {
        self.stop.store(true, Ordering::Relaxed);
        let sent = self
            .sender
            .join()
            .map_err(|_| "probe sender panicked".to_string())???;
        let arrivals = self
            .receiver
            .join()
            .map_err(|_| "probe receiver panicked".to_string())???;
        Ok((arrivals, sent))
    }
}

/// The worst loss of a stream after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outage {
    /// µs from the send time of the last datagram delivered before the longest run of lost
    /// ones to that of the first delivered after it; 0 when none was lost.
    pub span: u64,
    /// Datagrams lost in that run.
    pub lost: u64,
    /// Send time of the last datagram delivered before it (µs since the stream started).
    pub from: u64,
}

/// The outage after `event` (µs since the stream started): the run of lost datagrams,
/// ending after `event`, with the longest span of send times (the sender's clock: the
/// receiving thread's scheduling delays do not count, nor does reordering). `None` if no
/// datagram sent after `event` arrived (the stream did not come back).
pub fn outage(arrivals: &[Arrival], event: u64) -> Option<Outage> {
    let mut got: Vec<(u64, u64)> = arrivals.iter().map(|a| (a.seq, a.sent)).collect();
    got.sort_unstable();
    got.dedup_by_key(|x| x.0);
    if got.last()?.1 <= event {
        return None;
    }
    let mut best = Outage {
        span: 0,
        lost: 0,
        from: event,
    };
    for w in got.windows(2) {
        let ((p, ps), (q, qs)) = (w[0], w[1]);
        if q > p + 1 && qs > event {
            let span = qs.saturating_sub(ps);
            if best.lost == 0 || span > best.span {
                best = Outage {
                    span,
                    lost: q - p - 1,
                    from: ps,
                };
            }
        }
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_fall_into_their_flap_window() {
        let t = [100, 110, 120, 4_000_100, 4_000_200, 12_500_000];
        assert_eq!(
            flap_windows(&t, 0, 4_000_000),
            vec![
                (100, 120, 3),
                (4_000_100, 4_000_200, 2),
                (0, 0, 0),
                (12_500_000, 12_500_000, 1)
            ]
        );
        assert!(flap_windows(&[], 0, 1).is_empty());
    }

    fn arrivals(seqs: impl IntoIterator<Item = u64>) -> Vec<Arrival> {
        // One datagram a millisecond; each arrives 50 µs after it was sent.
        seqs.into_iter()
            .map(|q| Arrival {
                seq: q,
                sent: q * 1000,
                at: q * 1000 + 50,
            })
            .collect()
    }

    #[test]
    fn outage_is_the_longest_loss_ending_after_the_event() {
        // 300 datagrams lost after the event at 10 ms, and a longer loss before it that
        // must not count.
        let mut a = arrivals((1..=2).chain(500..=510).chain(811..=820));
        // Late arrivals (the receiver was not scheduled) and a duplicate are no loss.
        for x in &mut a[5..9] {
            x.at += 7_000;
        }
        a.push(a[3]);
        a.reverse();
        let o = outage(&a, 505_000).unwrap();
        assert_eq!((o.span, o.lost, o.from), (301_000, 300, 510_000));
        // Nothing sent after the event arrived: the stream did not come back.
        assert_eq!(outage(&a, 820_000), None);
        // No loss after the event: no outage, however late the arrivals.
        let mut a = arrivals(1..=50);
        a[20].at += 30_000;
        assert_eq!(outage(&a, 10_000).map(|o| (o.span, o.lost)), Some((0, 0)));
    }

    #[test]
    fn only_babel_route_messages_are_counted() {
        let mut buf = Vec::new();
        for (kind, proto) in [(RTM_NEWROUTE, 42u8), (RTM_NEWROUTE, 4), (RTM_DELROUTE, 42)] {
            let mut m = vec![0u8; 28];
            m[0..4].copy_from_slice(&28u32.to_ne_bytes());
            m[4..6].copy_from_slice(&kind.to_ne_bytes());
            m[21] = proto;
            buf.extend(m);
        }
        // A truncated trailer is ignored.
        buf.extend([1, 2, 3]);
        let mut log = RouteLog::default();
        count_messages(&buf, 7, &mut log);
        assert_eq!(log.new, vec![7]);
        assert_eq!(log.deleted, 1);
    }
}
