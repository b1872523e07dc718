//! babeld's diversity routing (draft-chroboczek-babel-diversity-routing, "babelz"): a route
//! re-announced on an interface that does not interfere with the one it was learned on is
//! announced with a lower metric, so that paths alternating radio channels are preferred.
//!
//! - kind 1: a route interferes only with the interface it was learned on;
//! - kind 2: also with interfaces on an interfering channel;
//! - kind 3: also with the channels of the hops before (carried in updates in sub-TLV 2,
//!   the channel list; only sent when kind 3 is on, like babeld).
//!
//! A non-interfering announcement costs `refmetric + factor × cost / 256 + add_metric` (at
//! least `refmetric + 1`) instead of `refmetric + cost + add_metric`.

use crate::wire::{UnknownSubTlv, INFINITY};

/// babeld's sub-TLV type of the channel list.
pub const SUBTLV_DIVERSITY: u8 = 2;
/// A channel number meaning "interferes with everything" in channel lists.
pub const CHANNEL_INTERFERING: u8 = 255;
/// Channels of earlier hops kept per route (babeld keeps up to 20). Three fit in the route
/// entry's padding, so the table does not grow; interference more than three hops back is
/// ignored.
pub const KEPT_CHANNELS: usize = 3;

/// The radio channel of an interface (babeld's `channel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Interferes with every other interfering interface (wireless with an unknown channel).
    Interfering,
    /// Interferes with nothing (wired links, the default for non-wireless interfaces).
    NonInterfering,
    /// A channel number: interferes with interfaces on the same number.
    Number(u8),
}

impl Channel {
    /// The value in a channel list.
    fn wire(self) -> Option<u8> {
        match self {
            Channel::Interfering => Some(CHANNEL_INTERFERING),
            Channel::NonInterfering => None,
            Channel::Number(n) => Some(n),
        }
    }
}

/// Whether two channels interfere.
pub fn channels_interfere(a: Channel, b: Channel) -> bool {
    match (a, b) {
        (Channel::NonInterfering, _) | (_, Channel::NonInterfering) => false,
        (Channel::Interfering, _) | (_, Channel::Interfering) => true,
        (Channel::Number(x), Channel::Number(y)) => {
            x == y || x == CHANNEL_INTERFERING || y == CHANNEL_INTERFERING
        }
    }
}

/// The diversity algorithm (babeld's `-z kind[,factor]`, `diversity`, `diversity-factor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diversity {
    /// 0 none, 1 per interface, 2 per channel, 3 per channel with memory.
    pub kind: u8,
    /// Multiplier of a non-interfering link's cost, in 1/256 (default 128: halved).
    pub factor: u16,
}

impl Default for Diversity {
    fn default() -> Self {
        Diversity {
            kind: 0,
            factor: 128,
        }
    }
}

/// Where a route was learned and what is known of the channels before.
#[derive(Debug, Clone, Copy)]
pub struct RouteChannels<'a> {
    pub ifindex: u32,
    pub channel: Channel,
    /// The channels of earlier hops (0: none).
    pub history: &'a [u8],
}

impl Diversity {
    /// Whether announcing a route learned as `route` on interface `out` (its index and
    /// channel) interferes.
    pub fn interferes(&self, route: &RouteChannels<'_>, out: (u32, Channel)) -> bool {
        match self.kind {
            1 => route.ifindex == out.0,
            2 | 3 => {
                if route.ifindex == out.0 || channels_interfere(out.1, route.channel) {
                    return true;
                }
                self.kind == 3
                    && route
                        .history
                        .iter()
                        .any(|&c| c != 0 && channels_interfere(out.1, Channel::Number(c)))
            }
            _ => true,
        }
    }

    /// The metric announced for a route with these components on a non-interfering
    /// interface. An unreachable route (infinite refmetric or link cost) stays unreachable:
    /// its retraction must not turn into a finite update.
    pub fn noninterfering_metric(&self, refmetric: u16, cost: u16, add_metric: u16) -> u16 {
        if refmetric == INFINITY || cost == INFINITY {
            return INFINITY;
        }
        let scaled = (u32::from(self.factor) * u32::from(cost) + 128) / 256;
        let m =
            (u32::from(refmetric) + scaled + u32::from(add_metric)).max(u32::from(refmetric) + 1);
        m.min(u32::from(INFINITY)) as u16
    }

    /// The channel-list sub-TLV to send with a route learned as `route` (kind 3 only):
    /// the channel of the interface it was learned on, then its history.
    pub fn subtlv(&self, route: Option<&RouteChannels<'_>>) -> Option<UnknownSubTlv> {
        if self.kind != 3 {
            return None;
        }
        let mut body = Vec::with_capacity(1 + KEPT_CHANNELS);
        if let Some(r) = route {
            body.extend(r.channel.wire());
            body.extend(r.history.iter().copied().filter(|&c| c != 0));
        }
        Some(UnknownSubTlv {
            sub_type: SUBTLV_DIVERSITY,
            body,
        })
    }
}

/// The channel history of a received update: its channel-list sub-TLV (first
/// [`KEPT_CHANNELS`] entries), or babeld's guess without one: a metric below 256 means wired
/// hops (nothing), otherwise an interfering one.
pub fn received_channels(subtlvs: &[UnknownSubTlv], refmetric: u16) -> [u8; KEPT_CHANNELS] {
    let mut out = [0u8; KEPT_CHANNELS];
    match subtlvs.iter().find(|s| s.sub_type == SUBTLV_DIVERSITY) {
        Some(s) => {
            for (o, c) in out.iter_mut().zip(&s.body) {
                *o = *c;
            }
        }
        None if refmetric >= 256 => out[0] = CHANNEL_INTERFERING,
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(ifindex: u32, channel: Channel, history: &[u8]) -> RouteChannels<'_> {
        RouteChannels {
            ifindex,
            channel,
            history,
        }
    }

    #[test]
    fn interference_by_kind() {
        let none = Diversity::default();
        let per_if = Diversity { kind: 1, ..none };
        let per_ch = Diversity { kind: 2, ..none };
        let memory = Diversity { kind: 3, ..none };
        let r = route(1, Channel::Number(1), &[6, 0, 0]);
        // Kind 0: everything interferes (plain Babel).
        assert!(none.interferes(&r, (2, Channel::Number(11))));
        // Kind 1: only the interface it came from.
        assert!(per_if.interferes(&r, (1, Channel::Number(11))));
        assert!(!per_if.interferes(&r, (2, Channel::Number(1))));
        // Kind 2: same channel interferes, other channels not, wired never.
        assert!(per_ch.interferes(&r, (2, Channel::Number(1))));
        assert!(!per_ch.interferes(&r, (2, Channel::Number(6))));
        assert!(!per_ch.interferes(&r, (2, Channel::NonInterfering)));
        assert!(per_ch.interferes(&r, (2, Channel::Interfering)));
        // Kind 3: and the hops before: channel 6 two hops back.
        assert!(memory.interferes(&r, (2, Channel::Number(6))));
        assert!(!memory.interferes(&r, (2, Channel::Number(11))));
        // A route learned on a wired interface interferes with nothing but itself.
        let wired = route(1, Channel::NonInterfering, &[]);
        assert!(!memory.interferes(&wired, (2, Channel::Interfering)));
    }

    #[test]
    fn noninterfering_metric_is_scaled_cost_but_always_grows() {
        let d = Diversity::default();
        assert_eq!(d.noninterfering_metric(100, 256, 0), 228);
        assert_eq!(d.noninterfering_metric(100, 256, 10), 238);
        assert_eq!(
            Diversity { kind: 1, factor: 0 }.noninterfering_metric(100, 256, 0),
            101
        );
        assert_eq!(d.noninterfering_metric(INFINITY - 1, 256, 0), INFINITY);
        // RFC 8966 §3.7.2: a route over a dead link is retracted, whatever the factor.
        let none = Diversity { kind: 1, factor: 0 };
        assert_eq!(none.noninterfering_metric(100, INFINITY, 0), INFINITY);
        assert_eq!(d.noninterfering_metric(INFINITY, 96, 0), INFINITY);
    }

    #[test]
    fn channel_lists_sent_and_received() {
        let d = Diversity {
            kind: 3,
            factor: 128,
        };
        let r = route(1, Channel::Number(6), &[1, 0, 0]);
        let s = d.subtlv(Some(&r)).unwrap();
        assert_eq!((s.sub_type, s.body.as_slice()), (2, &[6u8, 1][..]));
        let wired = route(1, Channel::NonInterfering, &[11, 0, 0]);
        assert_eq!(d.subtlv(Some(&wired)).unwrap().body, vec![11]);
        // Our own routes: an empty list.
        assert!(d.subtlv(None).unwrap().body.is_empty());
        assert!(Diversity {
            kind: 2,
            factor: 128
        }
        .subtlv(Some(&r))
        .is_none());
        // Received: the list, cut to what is kept; without one, babeld's guess.
        let long = UnknownSubTlv {
            sub_type: 2,
            body: vec![1, 6, 11, 1, 6],
        };
        assert_eq!(received_channels(&[long], 300), [1, 6, 11]);
        assert_eq!(received_channels(&[], 300), [CHANNEL_INTERFERING, 0, 0]);
        assert_eq!(received_channels(&[], 96), [0, 0, 0]);
    }
}
