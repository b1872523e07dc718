//! Shared inputs for the benches: realistic full dumps as a neighbour sends them, and a
//! global allocator that counts the bytes live and their peak.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use babel_core::wire::{
    for_each_tlv, max_payload_for_mtu, Encoder, Packet, Prefix, RouterId, Tlv, Update,
};

/// The link-local source of the bench packets.
pub const SRC: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x1c, 0x2d, 0x3e, 0x4f);

/// `n` updates as a busy neighbour announces them: mostly IPv6 /64s spread over a few /48s
/// and some IPv4 /24s, from a handful of origins, in prefix order.
pub fn dump_updates(n: usize) -> Vec<Update> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let origin = (i % 7) as u8 + 1;
        let id = RouterId([0x02, 0, 0, 0, 0, 0, 0, origin]);
        let prefix = if i % 5 == 4 {
            let v = i as u32;
            Prefix::v4(
                Ipv4Addr::new(10, (v >> 16) as u8, (v >> 8) as u8, v as u8),
                24,
            )
        } else {
            let v = i as u16;
            Prefix::v6(
                Ipv6Addr::new(0xfd77, (i >> 16) as u16, 0, v, 0, 0, 0, 0),
                64,
            )
        }
        .expect("valid prefix");
        let next_hop = if prefix.is_v4() {
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
        } else {
            IpAddr::V6(SRC)
        };
        out.push(Update {
            flags: 0,
            interval: 1600,
            seqno: 100 + (i % 13) as u16,
            metric: 96 + (i % 400) as u16,
            prefix: Some(prefix),
            src_prefix: None,
            router_id: Some(id),
            next_hop: Some(next_hop),
            unknown_subtlvs: vec![],
        });
    }
    out.sort_by_key(|u| (u.router_id, u.prefix));
    out
}

/// The packets an interface of this MTU carries for those updates.
pub fn dump_packets(updates: &[Update], mtu: usize) -> Vec<Vec<u8>> {
    let mut enc = Encoder::new(max_payload_for_mtu(mtu), Some(SRC));
    for u in updates {
        enc.push(&Tlv::Update(u.clone())).expect("fits");
    }
    enc.finish()
}

/// Parses every packet with the streaming parser, as the engine does, and sums the update
/// metrics so that nothing can be optimised away.
pub fn parse_stream(packets: &[Vec<u8>]) -> u64 {
    let mut n = 0u64;
    for p in packets {
        let view = Packet::new_checked(&p[..]).expect("valid packet");
        for_each_tlv(view.body(), Some(SRC), |_, r| {
            if let Ok(Tlv::Update(u)) = r {
                n += u.metric as u64;
            }
        });
    }
    n
}

/// How many TLVs the packets hold, as the streaming parser finds them.
pub fn count_tlvs(packets: &[Vec<u8>]) -> usize {
    let mut n = 0usize;
    for p in packets {
        let view = Packet::new_checked(&p[..]).expect("valid packet");
        for_each_tlv(view.body(), Some(SRC), |_, r| n += r.is_ok() as usize);
    }
    n
}

/// A global allocator that forwards to the system's and counts: a bench that measures memory
/// declares `#[global_allocator] static GLOBAL: Counting = Counting;` and reads [`ALLOCATED`]
/// and [`PEAK`] (which it may reset by storing the current `ALLOCATED` into it).
#[allow(unsafe_code)] // the allocator, and nothing else
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub struct Counting;

    /// Bytes allocated and not freed.
    pub static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
    /// The highest value `ALLOCATED` reached since it was last reset.
    pub static PEAK: AtomicUsize = AtomicUsize::new(0);

    fn count_alloc(n: usize) {
        let now = ALLOCATED.fetch_add(n, Ordering::Relaxed) + n;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }

    // SAFETY: forwards every call to the system allocator unchanged and only counts bytes.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            count_alloc(l.size());
            unsafe { System.alloc(l) }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            ALLOCATED.fetch_sub(l.size(), Ordering::Relaxed);
            unsafe { System.dealloc(p, l) }
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
            // Old and new blocks are both live while realloc copies.
            count_alloc(new);
            ALLOCATED.fetch_sub(l.size(), Ordering::Relaxed);
            unsafe { System.realloc(p, l, new) }
        }
    }
}
pub use counting::{Counting, ALLOCATED, PEAK};
