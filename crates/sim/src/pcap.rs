//! A pcap (not pcapng) writer: Ethernet frames carrying IPv6 + UDP port 6696, so that
//! Wireshark and tshark dissect the simulated traffic as Babel.

use std::net::Ipv6Addr;

pub const BABEL_PORT: u16 = 6696;
const LINKTYPE_ETHERNET: u32 = 1;

#[derive(Debug, Clone)]
pub struct PcapWriter {
    buf: Vec<u8>,
    pub packets: u64,
}

impl Default for PcapWriter {
    fn default() -> Self {
        Self::new()
    }
}

/// A fake MAC for an address: the IPv6 multicast mapping (33:33 + low 32 bits) for
/// multicast, a locally administered one built from the last 32 bits otherwise.
fn mac_for(a: &Ipv6Addr) -> [u8; 6] {
    let o = a.octets();
    if a.is_multicast() {
        [0x33, 0x33, o[12], o[13], o[14], o[15]]
    } else {
        [0x02, o[11] ^ o[9], o[10], o[13], o[14], o[15]]
    }
}

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [last] = chunks.remainder() {
        acc += (*last as u32) << 8;
    }
    acc
}

/// The UDP checksum over the IPv6 pseudo-header (RFC 8200 §8.1: mandatory for UDP over
/// IPv6; a computed zero is sent as 0xffff).
pub fn udp6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, udp: &[u8]) -> u16 {
    let mut acc = sum16(&src.octets(), 0);
    acc = sum16(&dst.octets(), acc);
    let len = udp.len() as u32;
    acc += len >> 16;
    acc += len & 0xffff;
    acc += 17;
    acc = sum16(udp, acc);
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    let c = !(acc as u16);
    if c == 0 {
        0xffff
    } else {
        c
    }
}

impl PcapWriter {
    pub fn new() -> PcapWriter {
        let mut buf = Vec::new();
        buf.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        buf.extend_from_slice(&2u16.to_le_bytes());
        buf.extend_from_slice(&4u16.to_le_bytes());
        buf.extend_from_slice(&0i32.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        buf.extend_from_slice(&65_535u32.to_le_bytes());
        buf.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        PcapWriter { buf, packets: 0 }
    }

    /// One Babel datagram at virtual time `at_us`.
    pub fn record(&mut self, at_us: u64, src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) {
        let udp_len = 8 + payload.len();
        if udp_len > 65_535 {
            return;
        }
        let mut udp = Vec::with_capacity(udp_len);
        udp.extend_from_slice(&BABEL_PORT.to_be_bytes());
        udp.extend_from_slice(&BABEL_PORT.to_be_bytes());
        udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(payload);
        let ck = udp6_checksum(&src, &dst, &udp);
        udp[6..8].copy_from_slice(&ck.to_be_bytes());

        let mut frame = Vec::with_capacity(14 + 40 + udp_len);
        frame.extend_from_slice(&mac_for(&dst));
        frame.extend_from_slice(&mac_for(&src));
        frame.extend_from_slice(&0x86ddu16.to_be_bytes());
        frame.extend_from_slice(&[0x60, 0, 0, 0]);
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.push(17); // next header: UDP
        frame.push(1); // hop limit: link-local traffic
        frame.extend_from_slice(&src.octets());
        frame.extend_from_slice(&dst.octets());
        frame.extend_from_slice(&udp);

        let secs = (at_us / 1_000_000) as u32;
        let usecs = (at_us % 1_000_000) as u32;
        self.buf.extend_from_slice(&secs.to_le_bytes());
        self.buf.extend_from_slice(&usecs.to_le_bytes());
        self.buf
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.buf
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(&frame);
        self.packets += 1;
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_verifies_to_zero_and_frame_lengths_are_right() {
        let src: Ipv6Addr = "fe80::1:0:1".parse().unwrap();
        let dst: Ipv6Addr = "ff02::1:6".parse().unwrap();
        let mut w = PcapWriter::new();
        w.record(1_500_000, src, dst, &[42, 2, 0, 4, 1, 2, 3, 4, 5]);
        let b = w.bytes();
        assert_eq!(b.len(), 24 + 16 + 14 + 40 + 8 + 9);
        let rec = &b[24..];
        assert_eq!(u32::from_le_bytes(rec[0..4].try_into().unwrap()), 1);
        assert_eq!(u32::from_le_bytes(rec[4..8].try_into().unwrap()), 500_000);
        let frame = &rec[16..];
        assert_eq!(&frame[0..6], &[0x33, 0x33, 0, 1, 0, 6]);
        assert_eq!(u16::from_be_bytes([frame[18], frame[19]]), 17);
        let udp = &frame[54..];
        // Summing the pseudo-header and the segment with its checksum gives all ones.
        let mut acc = sum16(&src.octets(), 0);
        acc = sum16(&dst.octets(), acc);
        acc += udp.len() as u32 + 17;
        acc = sum16(udp, acc);
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        assert_eq!(acc, 0xffff);
    }
}
