//! RFC 8967 MAC authentication, with the relaxed packet counters of RFC 9467.
//!
//! Two layers:
//! - stateless: [`compute_mac`], [`sign`] and [`verify`] over a datagram and its pseudo-header;
//! - stateful: an [`Authenticator`] per interface that adds the packet counter (PC) to what we
//!   send, and on receipt checks MACs, counters and indices, and runs the challenge exchange
//!   that admits a new neighbour or one that restarted.
//!
//! The encoder builds packets without authentication, leaving [`Authenticator::overhead`]
//! bytes free; [`Authenticator::seal`] then inserts the PC TLV and appends the MACs.
//! Time is passed in as milliseconds of a monotonic clock. Randomness comes from a 32-byte
//! seed expanded by ChaCha20: the daemon MUST draw that seed from the operating system at
//! every start (RFC 8967 §4.2 wants a fresh, unpredictable index); the simulator may fix it.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv6Addr;

use blake2::digest::consts::U16;
use blake2::Blake2sMac;
use hmac::{Hmac, Mac};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::wire::{tlv_type, Packet, TlvIter, HEADER_LEN};

/// The MAC algorithms of babeld (`key id NAME type hmac-sha256|blake2s128 value HEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// HMAC-SHA256, 32-octet MAC (RFC 8967 §4.1, mandatory to implement).
    HmacSha256,
    /// Keyed BLAKE2s with a 16-octet output (RFC 8967 §4.1, recommended).
    Blake2s128,
}

impl KeyType {
    pub fn mac_len(self) -> usize {
        match self {
            KeyType::HmacSha256 => 32,
            KeyType::Blake2s128 => 16,
        }
    }

    /// The name used in babeld's configuration.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::HmacSha256 => "hmac-sha256",
            KeyType::Blake2s128 => "blake2s128",
        }
    }
}

impl std::str::FromStr for KeyType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hmac-sha256" => Ok(KeyType::HmacSha256),
            "blake2s128" => Ok(KeyType::Blake2s128),
            other => Err(format!(
                "unknown key type {other:?} (expected hmac-sha256 or blake2s128)"
            )),
        }
    }
}

/// A named key.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    id: String,
    key_type: KeyType,
    value: Vec<u8>,
}

impl fmt::Debug for Key {
    /// Never prints the key's value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("type", &self.key_type.name())
            .finish_non_exhaustive()
    }
}

impl Key {
    /// HMAC-SHA256 takes 1 to 64 octets: babeld pads a shorter key with zeroes to the
    /// 64-octet block, which is what HMAC itself does, so the MACs agree (checked against a
    /// babeld capture). BLAKE2s-128 takes 1 to 32 octets (RFC 7693's keyed BLAKE2s), as
    /// babeld 1.12 does: its MACs with 10-, 16- and 32-octet keys verify here.
    pub fn new(id: impl Into<String>, key_type: KeyType, value: Vec<u8>) -> Result<Self, String> {
        let ok = match key_type {
            KeyType::HmacSha256 => (1..=64).contains(&value.len()),
            KeyType::Blake2s128 => (1..=32).contains(&value.len()),
        };
        if !ok {
            let want = match key_type {
                KeyType::HmacSha256 => "1 to 64",
                KeyType::Blake2s128 => "1 to 32",
            };
            return Err(format!(
                "a {} key must be {want} octets, not {}",
                key_type.name(),
                value.len()
            ));
        }
        Ok(Key {
            id: id.into(),
            key_type,
            value,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }
}

/// The addresses and ports a MAC covers (RFC 8967 §4.1 pseudo-header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PseudoHeader {
    pub src: Ipv6Addr,
    pub src_port: u16,
    pub dst: Ipv6Addr,
    pub dst_port: u16,
}

impl PseudoHeader {
    fn bytes(&self) -> [u8; 36] {
        let mut b = [0u8; 36];
        b[..16].copy_from_slice(&self.src.octets());
        b[16..18].copy_from_slice(&self.src_port.to_be_bytes());
        b[18..34].copy_from_slice(&self.dst.octets());
        b[34..36].copy_from_slice(&self.dst_port.to_be_bytes());
        b
    }
}

/// The largest MAC we compute.
pub const MAX_MAC_LEN: usize = 32;

/// RFC 8967 §4.1: the MAC of the pseudo-header followed by the packet's header and body
/// (the trailer is not covered).
pub fn compute_mac(
    key: &Key,
    ph: &PseudoHeader,
    header_and_body: &[u8],
) -> ([u8; MAX_MAC_LEN], usize) {
    let mut out = [0u8; MAX_MAC_LEN];
    let ph = ph.bytes();
    match key.key_type {
        KeyType::HmacSha256 => {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&key.value)
                .expect("HMAC takes keys of any length");
            m.update(&ph);
            m.update(header_and_body);
            out.copy_from_slice(&m.finalize().into_bytes());
            (out, 32)
        }
        KeyType::Blake2s128 => {
            let mut m = Blake2sMac::<U16>::new_with_salt_and_personal(&key.value, &[], &[])
                .expect("key length checked in Key::new");
            m.update(&ph);
            m.update(header_and_body);
            out[..16].copy_from_slice(&m.finalize().into_bytes());
            (out, 16)
        }
    }
}

/// Appends one MAC TLV per key to a packet that has no trailer yet.
pub fn sign(packet: &mut Vec<u8>, keys: &[Key], ph: &PseudoHeader) {
    let covered = packet.len();
    for key in keys {
        let (mac, n) = compute_mac(key, ph, &packet[..covered]);
        packet.push(tlv_type::MAC);
        packet.push(n as u8);
        packet.extend_from_slice(&mac[..n]);
    }
}

/// Why a packet failed authentication. Each is counted by the [`Authenticator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    /// Not a Babel packet at all.
    Malformed,
    /// No MAC TLV in the trailer (RFC 8967 §4.3: dropped).
    NoMac,
    /// MAC TLVs, but none computed with any of our keys matches.
    BadMac,
    /// Authentic, but without a PC TLV.
    NoPc,
    /// Authentic, from a neighbour whose index we do not know yet: a challenge is under way.
    UnknownIndex,
    /// Authentic, but its counter is not above the last one seen: a replay.
    Replay,
    /// At the configured limit of authenticated neighbours.
    TooManyNeighbours,
}

impl Reject {
    pub const ALL: [Reject; 7] = [
        Reject::Malformed,
        Reject::NoMac,
        Reject::BadMac,
        Reject::NoPc,
        Reject::UnknownIndex,
        Reject::Replay,
        Reject::TooManyNeighbours,
    ];

    /// A kebab-case name, for counters.
    pub fn name(self) -> &'static str {
        match self {
            Reject::Malformed => "malformed",
            Reject::NoMac => "no-mac",
            Reject::BadMac => "bad-mac",
            Reject::NoPc => "no-pc",
            Reject::UnknownIndex => "unknown-index",
            Reject::Replay => "replay",
            Reject::TooManyNeighbours => "too-many-neighbours",
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reject::Malformed => "malformed packet",
            Reject::NoMac => "no MAC",
            Reject::BadMac => "no valid MAC",
            Reject::NoPc => "no packet counter",
            Reject::UnknownIndex => "unknown index (challenge sent)",
            Reject::Replay => "packet counter not increasing (replay)",
            Reject::TooManyNeighbours => "too many authenticated neighbours",
        })
    }
}

/// RFC 8967 §4.3 step 1: the packet is authentic if any MAC TLV of its trailer equals the
/// MAC computed with any of our keys. Comparison is in constant time.
pub fn verify(packet: &[u8], keys: &[Key], ph: &PseudoHeader) -> Result<(), Reject> {
    let p = Packet::new_checked(packet).map_err(|_| Reject::Malformed)?;
    let covered = p.header_and_body();
    let mut saw_mac = false;
    let mut computed: Vec<([u8; MAX_MAC_LEN], usize)> = Vec::new();
    for raw in TlvIter::new(p.trailer()) {
        let Ok(raw) = raw else { break };
        if raw.tlv_type != tlv_type::MAC {
            continue;
        }
        saw_mac = true;
        if computed.is_empty() {
            computed = keys.iter().map(|k| compute_mac(k, ph, covered)).collect();
        }
        for (mac, n) in &computed {
            if raw.body.len() == *n && bool::from(raw.body.ct_eq(&mac[..*n])) {
                return Ok(());
            }
        }
    }
    Err(if saw_mac {
        Reject::BadMac
    } else {
        Reject::NoMac
    })
}

/// Counters of what authentication did, for the control socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthCounters {
    pub accepted: u64,
    pub rejected: HashMap<Reject, u64>,
    pub challenge_requests_sent: u64,
    pub challenge_replies_sent: u64,
    pub challenges_completed: u64,
}

impl AuthCounters {
    /// Adds `other`'s counts to these (e.g. those of an interface's retired state).
    pub fn add(&mut self, other: &AuthCounters) {
        self.accepted += other.accepted;
        for (r, n) in &other.rejected {
            *self.rejected.entry(*r).or_default() += n;
        }
        self.challenge_requests_sent += other.challenge_requests_sent;
        self.challenge_replies_sent += other.challenge_replies_sent;
        self.challenges_completed += other.challenges_completed;
    }
}

/// What an authenticated neighbour has shown us (RFC 8967 §3.2).
#[derive(Debug, Clone, Default)]
struct NeighbourState {
    /// The index of its counter, known once it answered a challenge.
    index: Option<Vec<u8>>,
    /// RFC 9467 §3: separate highest counters for multicast and unicast packets.
    last_pc_multicast: Option<u32>,
    last_pc_unicast: Option<u32>,
    /// Our outstanding challenge: its nonce and when it was sent.
    challenge: Option<([u8; NONCE_LEN], u64)>,
    last_challenge_request_ms: Option<u64>,
    last_challenge_reply_ms: Option<u64>,
}

const NONCE_LEN: usize = 16;
const INDEX_LEN: usize = 8;
/// RFC 8967 §4.3: a challenge reply is accepted for this long after the request.
pub const CHALLENGE_TIMEOUT_MS: u64 = 30_000;
/// RFC 8967 §4.3: challenge requests and replies to one neighbour are rate-limited.
pub const CHALLENGE_MIN_INTERVAL_MS: u64 = 300;

/// A TLV the caller must send to a neighbour, unicast, because of a received packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthReply {
    ChallengeRequest { to: Ipv6Addr, nonce: Vec<u8> },
    ChallengeReply { to: Ipv6Addr, nonce: Vec<u8> },
}

/// The authentication state of one interface.
#[derive(Debug, Clone)]
pub struct Authenticator {
    keys: Vec<Key>,
    index: [u8; INDEX_LEN],
    pc: u32,
    rng: ChaCha20Rng,
    neighbours: HashMap<Ipv6Addr, NeighbourState>,
    max_neighbours: usize,
    counters: AuthCounters,
}

impl Authenticator {
    /// `keys` are the interface's keys (the first one signs first); `seed` feeds the index
    /// and nonces and must come from the operating system's random source in a daemon; at
    /// most `max_neighbours` senders are tracked.
    pub fn new(keys: Vec<Key>, seed: [u8; 32], max_neighbours: usize) -> Self {
        let mut a = Authenticator {
            keys,
            index: [0; INDEX_LEN],
            pc: 0,
            rng: ChaCha20Rng::from_seed(seed),
            neighbours: HashMap::new(),
            max_neighbours,
            counters: AuthCounters::default(),
        };
        a.new_index();
        a
    }

    /// Changes the number of senders tracked. Senders already tracked stay; new ones are
    /// refused while there are as many as the new bound.
    pub fn set_max_neighbours(&mut self, max_neighbours: usize) {
        self.max_neighbours = max_neighbours;
    }

    /// RFC 8967 §4.2: a fresh random index, and the counter restarts.
    fn new_index(&mut self) {
        self.rng.fill_bytes(&mut self.index);
        self.pc = 0;
    }

    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    pub fn counters(&self) -> &AuthCounters {
        &self.counters
    }

    /// Bytes to leave free in every packet for the PC TLV and the MAC trailer.
    pub fn overhead(&self) -> usize {
        2 + 4
            + INDEX_LEN
            + self
                .keys
                .iter()
                .map(|k| 2 + k.key_type.mac_len())
                .sum::<usize>()
    }

    /// RFC 8967 §4.2: inserts a PC TLV with the next counter value at the start of the body
    /// and appends one MAC per key. `packet` is a complete unauthenticated packet.
    pub fn seal(&mut self, packet: &[u8], ph: &PseudoHeader) -> Option<Vec<u8>> {
        let p = Packet::new_checked(packet).ok()?;
        let body = p.body();
        if self.pc == u32::MAX {
            // The counter would wrap: change index instead (RFC 8967 §4.2).
            self.new_index();
        }
        self.pc += 1;
        let pc_tlv_len = 2 + 4 + INDEX_LEN;
        let body_len = body.len() + pc_tlv_len;
        let body_len16 = u16::try_from(body_len).ok()?;
        let mut out = Vec::with_capacity(HEADER_LEN + body_len + self.overhead());
        out.extend_from_slice(&packet[..2]);
        out.extend_from_slice(&body_len16.to_be_bytes());
        out.push(tlv_type::PC);
        out.push((4 + INDEX_LEN) as u8);
        out.extend_from_slice(&self.pc.to_be_bytes());
        out.extend_from_slice(&self.index);
        out.extend_from_slice(body);
        sign(&mut out, &self.keys, ph);
        Some(out)
    }

    fn reject(&mut self, r: Reject) -> Result<(), Reject> {
        *self.counters.rejected.entry(r).or_default() += 1;
        Err(r)
    }

    /// RFC 8967 §4.3: decides whether a received packet may be processed. Challenge
    /// requests and replies it calls for are pushed to `replies`. `Ok(())` means the body's
    /// TLVs may be processed (its PC and challenge TLVs are handled here already).
    pub fn open(
        &mut self,
        now_ms: u64,
        packet: &[u8],
        ph: &PseudoHeader,
        multicast: bool,
        replies: &mut Vec<AuthReply>,
    ) -> Result<(), Reject> {
        if let Err(r) = verify(packet, &self.keys, ph) {
            return self.reject(r);
        }
        let Ok(p) = Packet::new_checked(packet) else {
            return self.reject(Reject::Malformed);
        };
        let src = ph.src;
        if !self.neighbours.contains_key(&src) && self.neighbours.len() >= self.max_neighbours {
            // Forget neighbours that never completed a challenge before refusing a new one.
            self.neighbours.retain(|_, n| n.index.is_some());
            if self.neighbours.len() >= self.max_neighbours {
                return self.reject(Reject::TooManyNeighbours);
            }
        }
        let mut pc: Option<Option<(u32, &[u8])>> = None;
        let mut challenge_ok = false;
        let mut request: Option<&[u8]> = None;
        {
            let n = self.neighbours.entry(src).or_default();
            for raw in TlvIter::new(p.body()) {
                let Ok(raw) = raw else { break };
                match raw.tlv_type {
                    // RFC 8967 §4.3: only the first PC TLV counts; a malformed one (shorter
                    // than the counter, or an index over 32 octets) spoils the packet.
                    tlv_type::PC if pc.is_none() => {
                        pc = Some((4..=4 + 32).contains(&raw.body.len()).then(|| {
                            let v = u32::from_be_bytes([
                                raw.body[0],
                                raw.body[1],
                                raw.body[2],
                                raw.body[3],
                            ]);
                            (v, &raw.body[4..])
                        }));
                    }
                    tlv_type::CHALLENGE_REQUEST if request.is_none() => request = Some(raw.body),
                    tlv_type::CHALLENGE_REPLY => {
                        if let Some((nonce, sent)) = n.challenge {
                            if raw.body == nonce
                                && now_ms.saturating_sub(sent) <= CHALLENGE_TIMEOUT_MS
                            {
                                challenge_ok = true;
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        let verdict = match pc.flatten() {
            None => Err(Reject::NoPc),
            Some((pc, index)) => {
                self.check_counter(now_ms, src, pc, index, multicast, challenge_ok, replies)
            }
        };
        // RFC 8967 §4.3: answer a challenge request sent to us alone (not multicast), unless
        // the packet is a replay; rate-limited per neighbour.
        if let (Some(nonce), false) = (request, multicast) {
            let n = self.neighbours.get_mut(&src).expect("inserted above");
            let limited = n
                .last_challenge_reply_ms
                .is_some_and(|t| now_ms.saturating_sub(t) < CHALLENGE_MIN_INTERVAL_MS);
            if verdict != Err(Reject::Replay) && !limited && nonce.len() <= 192 {
                n.last_challenge_reply_ms = Some(now_ms);
                replies.push(AuthReply::ChallengeReply {
                    to: src,
                    nonce: nonce.to_vec(),
                });
                self.counters.challenge_replies_sent += 1;
            }
        }
        match verdict {
            Ok(()) => {
                self.counters.accepted += 1;
                Ok(())
            }
            Err(r) => self.reject(r),
        }
    }

    /// The counter and index checks of RFC 8967 §4.3 with RFC 9467's relaxed counters.
    #[allow(clippy::too_many_arguments)]
    fn check_counter(
        &mut self,
        now_ms: u64,
        src: Ipv6Addr,
        pc: u32,
        index: &[u8],
        multicast: bool,
        challenge_ok: bool,
        replies: &mut Vec<AuthReply>,
    ) -> Result<(), Reject> {
        let n = self.neighbours.get_mut(&src).expect("inserted by open");
        if challenge_ok {
            // A matching challenge reply establishes the index, and the counter of both
            // classes (RFC 9467 §3), so nothing older than it is accepted afterwards.
            n.index = Some(index.to_vec());
            n.challenge = None;
            n.last_pc_multicast = Some(pc);
            n.last_pc_unicast = Some(pc);
            self.counters.challenges_completed += 1;
            return Ok(());
        }
        if n.index.as_deref() != Some(index) {
            // Unknown or changed index: challenge the neighbour, drop the packet.
            let limited = n
                .last_challenge_request_ms
                .is_some_and(|t| now_ms.saturating_sub(t) < CHALLENGE_MIN_INTERVAL_MS);
            if !limited {
                let mut nonce = [0u8; NONCE_LEN];
                self.rng.fill_bytes(&mut nonce);
                let n = self.neighbours.get_mut(&src).expect("inserted by open");
                n.challenge = Some((nonce, now_ms));
                n.last_challenge_request_ms = Some(now_ms);
                replies.push(AuthReply::ChallengeRequest {
                    to: src,
                    nonce: nonce.to_vec(),
                });
                self.counters.challenge_requests_sent += 1;
            }
            return Err(Reject::UnknownIndex);
        }
        // RFC 9467 §3: the counter must increase within its class (multicast or unicast).
        let last = if multicast {
            &mut n.last_pc_multicast
        } else {
            &mut n.last_pc_unicast
        };
        if last.is_some_and(|l| pc <= l) {
            return Err(Reject::Replay);
        }
        *last = Some(pc);
        Ok(())
    }

    /// Forgets a neighbour (it timed out or its interface went down).
    pub fn forget(&mut self, src: &Ipv6Addr) {
        self.neighbours.remove(src);
    }

    pub fn tracked_neighbours(&self) -> usize {
        self.neighbours.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{parse_packet, Encoder, Hello, Tlv};

    fn ll(n: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, n)
    }

    fn ph(from: u16) -> PseudoHeader {
        PseudoHeader {
            src: ll(from),
            src_port: 6696,
            dst: "ff02::1:6".parse().unwrap(),
            dst_port: 6696,
        }
    }

    fn hello_packet(seqno: u16) -> Vec<u8> {
        let mut e = Encoder::new(1400, None);
        e.push(&Tlv::Hello(Hello {
            flags: 0,
            seqno,
            interval: 400,
            timestamp: None,
            unknown_subtlvs: vec![],
        }))
        .unwrap();
        e.finish().remove(0)
    }

    fn keys() -> Vec<Key> {
        vec![
            Key::new("k1", KeyType::HmacSha256, (0u8..64).collect()).unwrap(),
            Key::new("k2", KeyType::Blake2s128, (0u8..16).collect()).unwrap(),
        ]
    }

    #[test]
    fn rfc8967_4_1_hmac_sha256_matches_rfc4231_construction() {
        // With an empty pseudo-header-independent check: HMAC over known data must equal the
        // standard construction computed independently here (ipad/opad by hand).
        let key = Key::new("k", KeyType::HmacSha256, vec![0x0b; 20]).unwrap();
        let ph = ph(1);
        let data = b"\x2a\x02\x00\x00";
        let (mac, n) = compute_mac(&key, &ph, data);
        assert_eq!(n, 32);
        use sha2::Digest;
        let mut k = [0u8; 64];
        k[..20].copy_from_slice(&[0x0b; 20]);
        let mut inner = Sha256::new();
        inner.update(k.map(|b| b ^ 0x36));
        inner.update(ph.bytes());
        inner.update(data);
        let ih = inner.finalize();
        let mut outer = Sha256::new();
        outer.update(k.map(|b| b ^ 0x5c));
        outer.update(ih);
        assert_eq!(&mac[..32], &outer.finalize()[..]);
    }

    #[test]
    fn rfc8967_4_3_sign_then_verify_and_tampering_fails() {
        let mut p = hello_packet(1);
        sign(&mut p, &keys(), &ph(1));
        assert_eq!(verify(&p, &keys(), &ph(1)), Ok(()));
        // Either key alone is enough.
        assert_eq!(verify(&p, &keys()[1..], &ph(1)), Ok(()));
        // Another source address (pseudo-header) fails.
        assert_eq!(verify(&p, &keys(), &ph(2)), Err(Reject::BadMac));
        // A flipped body bit fails.
        let mut bad = p.clone();
        bad[6] ^= 1;
        assert_eq!(verify(&bad, &keys(), &ph(1)), Err(Reject::BadMac));
        // Another key fails; no trailer at all is NoMac.
        let other = vec![Key::new("x", KeyType::HmacSha256, vec![7; 64]).unwrap()];
        assert_eq!(verify(&p, &other, &ph(1)), Err(Reject::BadMac));
        assert_eq!(
            verify(&hello_packet(1), &keys(), &ph(1)),
            Err(Reject::NoMac)
        );
    }

    /// Two authenticators, A sending to B, through the challenge exchange.
    #[test]
    fn rfc8967_4_3_challenge_admits_a_new_neighbour_and_replays_are_dropped() {
        let mut a = Authenticator::new(keys(), [1; 32], 16);
        let mut b = Authenticator::new(keys(), [2; 32], 16);
        let mut replies = Vec::new();

        // B does not know A's index: the first packet is dropped and B challenges A.
        let p1 = a.seal(&hello_packet(1), &ph(1)).unwrap();
        assert!(parse_packet(&p1, Some(ll(1))).unwrap().errors.is_empty());
        assert_eq!(
            b.open(0, &p1, &ph(1), true, &mut replies),
            Err(Reject::UnknownIndex)
        );
        let nonce = match replies.pop() {
            Some(AuthReply::ChallengeRequest { to, nonce }) => {
                assert_eq!(to, ll(1));
                nonce
            }
            other => panic!("expected a challenge request, got {other:?}"),
        };

        // A answers with a challenge reply in a unicast packet; B learns A's index.
        let mut e = Encoder::new(1400, None);
        e.push(&Tlv::ChallengeReply(nonce)).unwrap();
        let reply = a.seal(&e.finish()[0], &ph(1)).unwrap();
        assert_eq!(b.open(10, &reply, &ph(1), false, &mut replies), Ok(()));
        assert_eq!(b.counters().challenges_completed, 1);

        // Later multicast packets pass; a replay of one of them does not.
        let p2 = a.seal(&hello_packet(2), &ph(1)).unwrap();
        assert_eq!(b.open(20, &p2, &ph(1), true, &mut replies), Ok(()));
        assert_eq!(
            b.open(30, &p2, &ph(1), true, &mut replies),
            Err(Reject::Replay)
        );
        // The very first packet, captured and replayed later, is rejected too.
        assert_eq!(
            b.open(40, &p1, &ph(1), true, &mut replies),
            Err(Reject::Replay)
        );
        let p3 = a.seal(&hello_packet(3), &ph(1)).unwrap();
        assert_eq!(b.open(50, &p3, &ph(1), true, &mut replies), Ok(()));
        assert_eq!(b.counters().rejected.get(&Reject::Replay), Some(&2));
    }

    #[test]
    fn rfc9467_unicast_and_multicast_counters_are_separate() {
        let mut a = Authenticator::new(keys(), [1; 32], 16);
        let mut b = Authenticator::new(keys(), [2; 32], 16);
        let mut replies = Vec::new();
        admit(&mut a, &mut b, 1, 0);
        // A multicast packet sealed before a unicast one arrives after it: still accepted.
        let m = a.seal(&hello_packet(2), &ph(1)).unwrap();
        let u = a.seal(&hello_packet(3), &ph(1)).unwrap();
        assert_eq!(b.open(2, &u, &ph(1), false, &mut replies), Ok(()));
        assert_eq!(b.open(3, &m, &ph(1), true, &mut replies), Ok(()));
    }

    #[test]
    fn rfc8967_4_3_challenge_requests_are_answered_and_rate_limited() {
        let mut a = Authenticator::new(keys(), [1; 32], 16);
        let mut b = Authenticator::new(keys(), [2; 32], 16);
        let mut replies = Vec::new();
        let mut e = Encoder::new(1400, None);
        e.push(&Tlv::ChallengeRequest(vec![1, 2, 3])).unwrap();
        let req = e.finish().remove(0);
        let p = a.seal(&req, &ph(1)).unwrap();
        let _ = b.open(0, &p, &ph(1), false, &mut replies);
        assert!(replies.contains(&AuthReply::ChallengeReply {
            to: ll(1),
            nonce: vec![1, 2, 3]
        }));
        replies.clear();
        let p = a.seal(&req, &ph(1)).unwrap();
        let _ = b.open(100, &p, &ph(1), false, &mut replies);
        assert!(replies
            .iter()
            .all(|r| !matches!(r, AuthReply::ChallengeReply { .. })));
    }

    /// Runs the challenge exchange so that `b` admits `a` as sender `from`.
    fn admit(a: &mut Authenticator, b: &mut Authenticator, from: u16, now: u64) {
        let mut replies = Vec::new();
        let p = a.seal(&hello_packet(0), &ph(from)).unwrap();
        let _ = b.open(now, &p, &ph(from), true, &mut replies);
        let Some(AuthReply::ChallengeRequest { nonce, .. }) = replies.pop() else {
            panic!("no challenge")
        };
        let mut e = Encoder::new(1400, None);
        e.push(&Tlv::ChallengeReply(nonce)).unwrap();
        let r = a.seal(&e.finish()[0], &ph(from)).unwrap();
        assert_eq!(b.open(now, &r, &ph(from), false, &mut replies), Ok(()));
    }

    #[test]
    fn neighbour_state_is_bounded_and_admitted_neighbours_survive_a_flood() {
        let mut b = Authenticator::new(keys(), [2; 32], 4);
        let mut senders: Vec<Authenticator> = (0..4)
            .map(|i| Authenticator::new(keys(), [10 + i as u8; 32], 4))
            .collect();
        for (i, a) in senders.iter_mut().enumerate() {
            admit(a, &mut b, i as u16 + 1, 0);
        }
        let mut flood = Authenticator::new(keys(), [99; 32], 4);
        let mut replies = Vec::new();
        for i in 0..100u16 {
            let p = flood.seal(&hello_packet(i), &ph(100 + i)).unwrap();
            let r = b.open(1000 + i as u64, &p, &ph(100 + i), true, &mut replies);
            assert_eq!(r, Err(Reject::TooManyNeighbours));
        }
        assert_eq!(b.tracked_neighbours(), 4);
        for (i, a) in senders.iter_mut().enumerate() {
            let p = a.seal(&hello_packet(5), &ph(i as u16 + 1)).unwrap();
            assert_eq!(
                b.open(5000, &p, &ph(i as u16 + 1), true, &mut replies),
                Ok(())
            );
        }
    }

    #[test]
    fn a_raised_neighbour_bound_admits_new_senders() {
        let mut b = Authenticator::new(keys(), [2; 32], 1);
        let mut first = Authenticator::new(keys(), [10; 32], 4);
        admit(&mut first, &mut b, 1, 0);
        let mut second = Authenticator::new(keys(), [11; 32], 4);
        let mut replies = Vec::new();
        let p = second.seal(&hello_packet(0), &ph(2)).unwrap();
        assert_eq!(
            b.open(10, &p, &ph(2), true, &mut replies),
            Err(Reject::TooManyNeighbours)
        );
        b.set_max_neighbours(2);
        admit(&mut second, &mut b, 2, 20);
        assert_eq!(b.tracked_neighbours(), 2);
        // Lowered again: both stay, a third is refused.
        b.set_max_neighbours(1);
        let mut third = Authenticator::new(keys(), [12; 32], 4);
        let p = third.seal(&hello_packet(0), &ph(3)).unwrap();
        assert_eq!(
            b.open(30, &p, &ph(3), true, &mut replies),
            Err(Reject::TooManyNeighbours)
        );
        assert_eq!(b.tracked_neighbours(), 2);
    }

    #[test]
    fn rfc9467_a_challenge_sets_both_counters_so_older_packets_of_the_other_class_fail() {
        let mut a = Authenticator::new(keys(), [1; 32], 16);
        let mut b = Authenticator::new(keys(), [2; 32], 16);
        let mut replies = Vec::new();
        // Captured by an attacker before A was admitted: a multicast packet.
        let old = a.seal(&hello_packet(1), &ph(1)).unwrap();
        let _ = b.open(0, &old, &ph(1), true, &mut replies);
        let Some(AuthReply::ChallengeRequest { nonce, .. }) = replies.pop() else {
            panic!()
        };
        let mut e = Encoder::new(1400, None);
        e.push(&Tlv::ChallengeReply(nonce)).unwrap();
        let r = a.seal(&e.finish()[0], &ph(1)).unwrap();
        assert_eq!(b.open(1, &r, &ph(1), false, &mut replies), Ok(()));
        // The admission came by unicast; the old multicast packet must still be refused.
        assert_eq!(
            b.open(2, &old, &ph(1), true, &mut replies),
            Err(Reject::Replay)
        );
    }

    #[test]
    fn multicast_challenge_requests_are_not_answered() {
        let mut a = Authenticator::new(keys(), [1; 32], 16);
        let mut b = Authenticator::new(keys(), [2; 32], 16);
        let mut replies = Vec::new();
        let mut e = Encoder::new(1400, None);
        e.push(&Tlv::ChallengeRequest(vec![1, 2, 3])).unwrap();
        let p = a.seal(&e.finish()[0], &ph(1)).unwrap();
        let _ = b.open(0, &p, &ph(1), true, &mut replies);
        assert!(replies
            .iter()
            .all(|r| !matches!(r, AuthReply::ChallengeReply { .. })));
    }

    #[test]
    fn key_lengths_are_babelds() {
        assert!(Key::new("k", KeyType::HmacSha256, vec![1; 65]).is_err());
        assert!(Key::new("k", KeyType::HmacSha256, vec![]).is_err());
        // RFC 7693: keyed BLAKE2s takes 1 to 32 octets; so does babeld 1.12.
        assert!(Key::new("k", KeyType::Blake2s128, vec![1; 33]).is_err());
        assert!(Key::new("k", KeyType::Blake2s128, vec![]).is_err());
        for n in [1, 10, 16, 32] {
            assert!(
                Key::new("k", KeyType::Blake2s128, vec![1; n]).is_ok(),
                "{n}"
            );
        }
    }
}
