//! Value types shared by the wire format and the protocol engine.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An 8-octet Babel router-id (RFC 8966 §4.6.7).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RouterId(pub [u8; 8]);

impl RouterId {
    /// RFC 8966 §4.6.7: a router-id of all zeroes or all ones is not a valid router-id.
    pub fn is_valid(&self) -> bool {
        self.0 != [0; 8] && self.0 != [0xff; 8]
    }
}

impl fmt::Display for RouterId {
    /// Printed the way babeld prints it: `aa:bb:cc:dd:ee:ff:00:11`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]
        )
    }
}

impl fmt::Debug for RouterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RouterId({self})")
    }
}

impl FromStr for RouterId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 8];
        let mut n = 0;
        for part in s.split(':') {
            if n == 8 || part.is_empty() || part.len() > 2 {
                return Err(format!("invalid router-id {s:?}: expected 8 hex octets"));
            }
            out[n] = u8::from_str_radix(part, 16)
                .map_err(|_| format!("invalid router-id {s:?}: bad octet {part:?}"))?;
            n += 1;
        }
        if n != 8 {
            return Err(format!("invalid router-id {s:?}: expected 8 hex octets"));
        }
        Ok(RouterId(out))
    }
}

/// Errors building a [`Prefix`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefixError {
    /// The prefix length is longer than the address (32 for IPv4, 128 for IPv6).
    PlenTooLong { plen: u8, max: u8 },
    /// Text that is not `ADDR/PLEN`.
    Syntax(String),
}

impl fmt::Display for PrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrefixError::PlenTooLong { plen, max } => {
                write!(f, "prefix length {plen} is longer than {max}")
            }
            PrefixError::Syntax(s) => write!(f, "invalid prefix {s:?}"),
        }
    }
}

impl std::error::Error for PrefixError {}

/// An IPv4 or IPv6 prefix whose bits beyond the prefix length are zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    addr: IpAddr,
    plen: u8,
}

impl Prefix {
    /// Builds a prefix, clearing the host bits of `addr`.
    pub fn new(addr: IpAddr, plen: u8) -> Result<Self, PrefixError> {
        match addr {
            IpAddr::V4(a) => Self::v4(a, plen),
            IpAddr::V6(a) => Self::v6(a, plen),
        }
    }

    pub fn v4(addr: Ipv4Addr, plen: u8) -> Result<Self, PrefixError> {
        if plen > 32 {
            return Err(PrefixError::PlenTooLong { plen, max: 32 });
        }
        let mut b = addr.octets();
        mask_bytes(&mut b, plen);
        Ok(Prefix {
            addr: IpAddr::V4(Ipv4Addr::from(b)),
            plen,
        })
    }

    pub fn v6(addr: Ipv6Addr, plen: u8) -> Result<Self, PrefixError> {
        if plen > 128 {
            return Err(PrefixError::PlenTooLong { plen, max: 128 });
        }
        let mut b = addr.octets();
        mask_bytes(&mut b, plen);
        Ok(Prefix {
            addr: IpAddr::V6(Ipv6Addr::from(b)),
            plen,
        })
    }

    /// For the parser's hot path: the caller has already cleared the host bits.
    pub(crate) fn from_masked(addr: IpAddr, plen: u8) -> Self {
        debug_assert_eq!(Prefix::new(addr, plen).map(|p| p.addr), Ok(addr));
        Prefix { addr, plen }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn plen(&self) -> u8 {
        self.plen
    }

    pub fn is_v4(&self) -> bool {
        self.addr.is_ipv4()
    }

    pub fn is_v6(&self) -> bool {
        self.addr.is_ipv6()
    }

    /// The default route of the prefix's family (`0.0.0.0/0` or `::/0`).
    pub fn is_default(&self) -> bool {
        self.plen == 0
    }

    /// Whether `other` lies inside this prefix (same family, at least as long, same leading bits).
    pub fn contains(&self, other: &Prefix) -> bool {
        if self.is_v4() != other.is_v4() || other.plen < self.plen {
            return false;
        }
        Prefix::new(other.addr, self.plen).is_ok_and(|p| p.addr == self.addr)
    }

    /// The address octets (4 or 16).
    pub fn octets(&self) -> ([u8; 16], usize) {
        let mut out = [0u8; 16];
        match self.addr {
            IpAddr::V4(a) => {
                out[..4].copy_from_slice(&a.octets());
                (out, 4)
            }
            IpAddr::V6(a) => {
                out.copy_from_slice(&a.octets());
                (out, 16)
            }
        }
    }
}

/// Zeroes every bit of `b` beyond the first `plen` bits.
pub(crate) fn mask_bytes(b: &mut [u8], plen: u8) {
    let plen = plen as usize;
    for (i, byte) in b.iter_mut().enumerate() {
        let start = i * 8;
        if start >= plen {
            *byte = 0;
        } else if start + 8 > plen {
            let keep = plen - start;
            *byte &= 0xffu8 << (8 - keep);
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.plen)
    }
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;
    /// Parses `ADDR/PLEN`, or a bare address as a host prefix.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| PrefixError::Syntax(s.to_string()))?;
        let plen = match p {
            Some(p) => p.parse().map_err(|_| PrefixError::Syntax(s.to_string()))?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        Prefix::new(addr, plen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_id_prints_like_babeld_and_parses_back() {
        let id = RouterId([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0, 0x11]);
        assert_eq!(id.to_string(), "aa:bb:cc:dd:ee:ff:00:11");
        assert_eq!("aa:bb:cc:dd:ee:ff:00:11".parse::<RouterId>().unwrap(), id);
        assert!("aa:bb".parse::<RouterId>().is_err());
        assert!(!RouterId([0; 8]).is_valid());
        assert!(!RouterId([0xff; 8]).is_valid());
    }

    #[test]
    fn prefix_masks_host_bits() {
        let p: Prefix = "10.1.2.3/20".parse().unwrap();
        assert_eq!(p.to_string(), "10.1.0.0/20");
        let p: Prefix = "fd77::1:2/64".parse().unwrap();
        assert_eq!(p.to_string(), "fd77::/64");
        assert!("10.0.0.0/33".parse::<Prefix>().is_err());
        let big: Prefix = "10.0.0.0/8".parse().unwrap();
        assert!(big.contains(&"10.200.1.0/24".parse().unwrap()));
        assert!(!big.contains(&"11.0.0.0/24".parse().unwrap()));
    }
}
