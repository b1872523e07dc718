//! Number and identifier syntaxes accepted by babeld's configuration and command line.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use babel_core::wire::{Prefix, RouterId};

/// An integer the way C's `strtol(s, &end, 0)` reads it when the whole text must be used:
/// optional sign, then `0x`/`0X` hexadecimal, a leading `0` for octal, or decimal.
/// Returns `None` on anything else, including overflow.
pub(crate) fn parse_c_int(s: &str) -> Option<i64> {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(h) = rest.strip_prefix("0x").or(rest.strip_prefix("0X")) {
        (16, h)
    } else if rest.len() > 1 && rest.starts_with('0') {
        (8, &rest[1..])
    } else {
        (10, rest)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mut v: i64 = 0;
    for c in digits.chars() {
        let d = i64::from(c.to_digit(radix)?);
        v = v.checked_mul(i64::from(radix))?.checked_add(d)?;
    }
    Some(if neg { -v } else { v })
}

/// babeld's `parse_nat` (command-line numbers): like [`parse_c_int`], trailing blanks allowed,
/// and the value must lie in `0..=i32::MAX`.
pub(crate) fn parse_nat(s: &str) -> Option<u32> {
    let v = parse_c_int(s.trim_end_matches([' ', '\t']))?;
    if (0..=i64::from(i32::MAX)).contains(&v) {
        u32::try_from(v).ok()
    } else {
        None
    }
}

/// babeld's fixed-point seconds (`parse_thousands`): `4`, `0.5`, `1.25`; digits beyond the
/// third decimal are dropped. Returns milliseconds.
pub(crate) fn parse_thousands(s: &str) -> Option<u64> {
    let s = s.trim_matches([' ', '\t']);
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    if !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: u64 = 0;
    for b in int.bytes() {
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    let mut ms = v.checked_mul(1000)?;
    if let Some(f) = frac {
        if !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut scale = 100;
        for b in f.bytes().take(3) {
            ms += u64::from(b - b'0') * scale;
            scale /= 10;
        }
    }
    Some(ms)
}

/// Milliseconds in `1..=max_ms` from babeld's fixed-point seconds.
pub(crate) fn parse_interval(s: &str, max_ms: u64) -> Option<Duration> {
    match parse_thousands(s) {
        Some(ms) if ms > 0 && ms <= max_ms => Some(Duration::from_millis(ms)),
        _ => None,
    }
}

/// An IPv4 or IPv6 address (babeld's `parse_address`).
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

/// An address stored as IPv6, IPv4 mapped into `::ffff:0:0/96` as babeld stores it.
pub(crate) fn ip_as_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// A prefix as babeld's `parse_net` reads it: `ADDR/PLEN`, a bare address (host prefix), or
/// the word `default` (which babeld takes as `::/0`).
pub(crate) fn parse_net(s: &str) -> Result<Prefix, String> {
    if s == "default" {
        return Prefix::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0).map_err(|e| e.to_string());
    }
    s.parse::<Prefix>().map_err(|e| e.to_string())
}

/// A router-id: eight hex octets separated by `:` or `-`, or a MAC-48 address (six octets
/// separated by `:`), which is widened to a modified EUI-64 by inserting `ff:fe` in the middle.
pub(crate) fn parse_eui64(s: &str) -> Option<RouterId> {
    fn octets(s: &str, sep: char) -> Option<Vec<u8>> {
        s.split(sep)
            .map(|p| {
                if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                    None
                } else {
                    u8::from_str_radix(p, 16).ok()
                }
            })
            .collect()
    }
    for sep in [':', '-'] {
        if let Some(o) = octets(s, sep) {
            if o.len() == 8 {
                let mut id = [0u8; 8];
                id.copy_from_slice(&o);
                return Some(RouterId(id));
            }
            if o.len() == 6 && sep == ':' {
                return Some(RouterId([o[0], o[1], o[2], 0xff, 0xfe, o[3], o[4], o[5]]));
            }
        }
    }
    None
}

/// An even-length hexadecimal string.
pub(crate) fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_integers_follow_strtol_base_zero() {
        assert_eq!(parse_c_int("42"), Some(42));
        assert_eq!(parse_c_int("0x1F"), Some(31));
        assert_eq!(parse_c_int("010"), Some(8));
        assert_eq!(parse_c_int("0"), Some(0));
        assert_eq!(parse_c_int("-7"), Some(-7));
        assert_eq!(parse_c_int("+7"), Some(7));
        assert_eq!(parse_c_int("08"), None);
        assert_eq!(parse_c_int("0x"), None);
        assert_eq!(parse_c_int("12abc"), None);
        assert_eq!(parse_c_int(""), None);
        assert_eq!(parse_c_int("99999999999999999999999"), None);
        assert_eq!(parse_nat("5 "), Some(5));
        assert_eq!(parse_nat("-5"), None);
    }

    #[test]
    fn thousands_are_fixed_point_seconds() {
        assert_eq!(parse_thousands("4"), Some(4000));
        assert_eq!(parse_thousands("0.5"), Some(500));
        assert_eq!(parse_thousands("1.2345"), Some(1234));
        assert_eq!(parse_thousands(".25"), Some(250));
        assert_eq!(parse_thousands("4s"), None);
        assert_eq!(parse_thousands("1.2.3"), None);
        assert_eq!(parse_thousands("99999999999999999999999"), None);
        assert_eq!(parse_interval("0", 655_350), None);
        assert_eq!(parse_interval("655.351", 655_350), None);
        assert_eq!(
            parse_interval("655.35", 655_350),
            Some(Duration::from_millis(655_350))
        );
    }

    #[test]
    fn router_ids_take_eui64_and_mac48() {
        assert_eq!(
            parse_eui64("02:11:22:33:44:55:66:77").unwrap().to_string(),
            "02:11:22:33:44:55:66:77"
        );
        assert_eq!(
            parse_eui64("02-11-22-33-44-55-66-77").unwrap().to_string(),
            "02:11:22:33:44:55:66:77"
        );
        assert_eq!(
            parse_eui64("00:11:22:33:44:55").unwrap().to_string(),
            "00:11:22:ff:fe:33:44:55"
        );
        assert!(parse_eui64("00:11:22:33:44").is_none());
        assert!(parse_eui64("00:11:22:33:44:5g").is_none());
        assert!(parse_eui64("00-11-22-33-44-55").is_none());
    }

    #[test]
    fn prefixes_accept_default_and_bare_addresses() {
        assert_eq!(parse_net("default").unwrap().to_string(), "::/0");
        assert_eq!(parse_net("10.0.0.1").unwrap().to_string(), "10.0.0.1/32");
        assert_eq!(
            parse_net("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("nonsense").is_err());
    }

    #[test]
    fn hex_values() {
        assert_eq!(parse_hex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(parse_hex("abc"), None);
        assert_eq!(parse_hex("zz"), None);
    }
}
