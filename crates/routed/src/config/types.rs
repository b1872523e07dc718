//! The typed configuration: global settings, interface parameters and keys.

use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::time::Duration;

use babel_core::wire::RouterId;
use babel_core::Limit;

/// babeld's default protocol group, ff02::1:6 (RFC 8966 §5: the Babel link-local multicast
/// group).
pub const DEFAULT_PROTOCOL_GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 6);
/// RFC 8966 §5: the Babel UDP port.
pub const DEFAULT_PROTOCOL_PORT: u16 = 6696;
pub const DEFAULT_STATE_FILE: &str = "/var/lib/babel-state";
pub const DEFAULT_PID_FILE: &str = "/var/run/babeld.pid";
/// Log file used when daemonising without a log file.
pub const DEFAULT_DAEMON_LOG_FILE: &str = "/var/log/babeld.log";
pub const DEFAULT_CONFIG_FILE: &str = "/etc/babeld.conf";
/// Default hello interval on both wired and wireless links.
pub const DEFAULT_HELLO_INTERVAL: Duration = Duration::from_secs(4);
pub const DEFAULT_SMOOTHING_HALF_LIFE: u32 = 4;
/// Default diversity factor (division by two, in units of 1/256).
pub const DEFAULT_DIVERSITY_FACTOR: u16 = 128;
/// Most `import-table` / `-T` entries babeld accepts.
pub const MAX_IMPORT_TABLES: usize = 10;
/// Longest hello or update interval: the Babel interval field is 16 bits of centiseconds
/// (RFC 8966 §4.6.5), i.e. 655.35 s.
pub const MAX_INTERVAL_MS: u64 = 10 * 0xFFFF;

/// The `max-*` statements (routed's own, not babeld's): a memory bound of the engine, its
/// keyword and its default. Input beyond a bound is refused and counted (`babelctl counters`);
/// a statement raises or lowers it, also at run time on a read-write control socket.
pub const LIMITS: [(&str, Limit, usize); 8] = [
    ("max-neighbours", Limit::Neighbours, 1024),
    ("max-routes", Limit::Routes, 1_000_000),
    (
        "max-routes-per-neighbour",
        Limit::RoutesPerNeighbour,
        250_000,
    ),
    ("max-sources", Limit::Sources, 1_000_000),
    ("max-pending-requests", Limit::PendingRequests, 16_384),
    ("max-pending-acks", Limit::PendingAcks, 65_536),
    ("max-buffered-packets", Limit::QueuedPackets, 16_384),
    ("max-queued-events", Limit::QueuedEvents, 65_536),
];

/// The largest value a `max-*` statement takes.
pub const MAX_LIMIT: usize = u32::MAX as usize;

/// The keyword of a configurable limit.
pub fn limit_keyword(limit: Limit) -> &'static str {
    LIMITS
        .iter()
        .find(|(_, l, _)| *l == limit)
        .map_or("?", |(k, _, _)| k)
}

/// A file setting: a path, or `""`, which switches the file off.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileSetting {
    Off,
    Path(PathBuf),
}

impl FileSetting {
    pub fn from_text(s: &str) -> Self {
        if s.is_empty() {
            FileSetting::Off
        } else {
            FileSetting::Path(PathBuf::from(s))
        }
    }

    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            FileSetting::Off => None,
            FileSetting::Path(p) => Some(p),
        }
    }
}

/// Where the local configuration server listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LocalEndpoint {
    /// TCP port on ::1.
    Port(u16),
    /// UNIX-domain socket path.
    Path(PathBuf),
}

/// The local configuration server (`-g`, `-G`, `local-port`, `local-path`, ...). babeld has one
/// server; the last statement wins.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalServer {
    pub endpoint: LocalEndpoint,
    /// `-G` / `*-readwrite`: clients may change the configuration.
    pub read_write: bool,
}

/// Global settings. `None` means "not set": the daemon applies babeld's default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Globals {
    /// `-m`, `protocol-group`. IPv4 addresses are stored IPv4-mapped, as babeld does.
    pub protocol_group: Option<Ipv6Addr>,
    /// `-p`, `protocol-port`.
    pub protocol_port: Option<u16>,
    /// `-S`, `state-file`.
    pub state_file: Option<FileSetting>,
    /// `-h`: hello interval on wireless interfaces.
    pub wireless_hello_interval: Option<Duration>,
    /// `-H`: hello interval on wired interfaces.
    pub wired_hello_interval: Option<Duration>,
    /// `-z`, `diversity`: 0 none, 1 per-interface, 2 per-channel, 3 per-channel with memory.
    pub diversity: Option<u8>,
    /// `-z kind,factor`, `diversity-factor`, in units of 1/256.
    pub diversity_factor: Option<u16>,
    /// `-M`, `smoothing-half-life`, in seconds; 0 disables smoothing.
    pub smoothing_half_life: Option<u32>,
    /// `-k`, `kernel-priority`.
    pub kernel_priority: Option<u16>,
    /// `-A`, `allow-duplicates`.
    pub allow_duplicates: Option<u16>,
    /// `reflect-kernel-metric`.
    pub reflect_kernel_metric: Option<bool>,
    /// `-s` sets `Some(false)`: no split horizon on wired interfaces.
    pub split_horizon: Option<bool>,
    /// `-l`, `link-detect`.
    pub link_detect: Option<bool>,
    /// `-w`: treat every interface as wireless unless configured otherwise.
    pub all_wireless: Option<bool>,
    /// `-r`, `random-id`.
    pub random_id: Option<bool>,
    /// `-t`, `export-table`.
    pub export_table: Option<u16>,
    /// `-T`, `import-table` (cumulative, at most [`MAX_IMPORT_TABLES`]).
    pub import_tables: Vec<u16>,
    /// `-D`, `daemonise`.
    pub daemonise: Option<bool>,
    /// `-L`, `log-file`.
    pub log_file: Option<FileSetting>,
    /// `-I`, `pid-file`.
    pub pid_file: Option<FileSetting>,
    /// `-d`, `debug`.
    pub debug: Option<u32>,
    /// `-g`, `-G`, `local-port`, `local-path`, `local-port-readwrite`, `local-path-readwrite`.
    pub local_server: Option<LocalServer>,
    /// `ipv6-subtrees`.
    pub ipv6_subtrees: Option<bool>,
    /// `skip-kernel-setup`.
    pub skip_kernel_setup: Option<bool>,
    /// `router-id`.
    pub router_id: Option<RouterId>,
    /// `first-table-number`.
    pub first_table_number: Option<u32>,
    /// `first-rule-priority`.
    pub first_rule_priority: Option<u32>,
    /// `max-*` statements, in order; the last one for a limit wins.
    pub limits: Vec<(Limit, usize)>,
}

impl Globals {
    pub fn protocol_group(&self) -> Ipv6Addr {
        self.protocol_group.unwrap_or(DEFAULT_PROTOCOL_GROUP)
    }

    pub fn protocol_port(&self) -> u16 {
        self.protocol_port.unwrap_or(DEFAULT_PROTOCOL_PORT)
    }

    /// The state file to use, `None` when switched off.
    pub fn state_file(&self) -> Option<PathBuf> {
        match &self.state_file {
            None => Some(PathBuf::from(DEFAULT_STATE_FILE)),
            Some(f) => f.path().map(PathBuf::from),
        }
    }

    /// The pid file to write, `None` when switched off.
    pub fn pid_file(&self) -> Option<PathBuf> {
        match &self.pid_file {
            None => Some(PathBuf::from(DEFAULT_PID_FILE)),
            Some(f) => f.path().map(PathBuf::from),
        }
    }

    /// The log file, `None` for standard error (the default when not daemonising).
    pub fn log_file(&self) -> Option<PathBuf> {
        match &self.log_file {
            Some(f) => f.path().map(PathBuf::from),
            None if self.daemonise == Some(true) => Some(PathBuf::from(DEFAULT_DAEMON_LOG_FILE)),
            None => None,
        }
    }

    pub fn smoothing_half_life(&self) -> u32 {
        self.smoothing_half_life
            .unwrap_or(DEFAULT_SMOOTHING_HALF_LIFE)
    }

    /// The value of a `max-*` limit: the last statement, or routed's default.
    pub fn limit(&self, limit: Limit) -> usize {
        match self.limits.iter().rev().find(|(l, _)| *l == limit) {
            Some(&(_, v)) => v,
            None => LIMITS
                .iter()
                .find(|(_, l, _)| *l == limit)
                .map_or(usize::MAX, |&(_, _, d)| d),
        }
    }

    pub fn diversity_factor(&self) -> u16 {
        self.diversity_factor.unwrap_or(DEFAULT_DIVERSITY_FACTOR)
    }
}

/// Interface link type (`type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InterfaceType {
    Wired,
    Wireless,
    Tunnel,
}

/// Interface channel (`channel`), used by diversity routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Interfering,
    NonInterfering,
    /// A channel number, 1..=255.
    Number(u8),
}

/// Per-interface parameters (`interface NAME ...` and `default ...`). `None` means "not set"
/// (babeld's `auto`/`default` also leave a parameter unset).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InterfaceConfig {
    pub kind: Option<InterfaceType>,
    pub hello_interval: Option<Duration>,
    pub update_interval: Option<Duration>,
    /// 1..=65535.
    pub rxcost: Option<u16>,
    pub link_quality: Option<bool>,
    pub split_horizon: Option<bool>,
    pub channel: Option<Channel>,
    pub faraway: Option<bool>,
    pub enable_timestamps: Option<bool>,
    pub unicast: Option<bool>,
    pub rfc6126_compatible: Option<bool>,
    /// 1..=256, in units of 1/256.
    pub rtt_decay: Option<u16>,
    pub rtt_min: Option<Duration>,
    pub rtt_max: Option<Duration>,
    /// 1..=65535.
    pub max_rtt_penalty: Option<u16>,
    pub v4_via_v6: Option<bool>,
    /// Id of a key defined by a `key` statement.
    pub key: Option<String>,
    pub accept_bad_signatures: Option<bool>,
}

impl InterfaceConfig {
    /// Overrides every parameter `newer` sets (a later statement for the same interface).
    pub fn merge_from(&mut self, newer: &InterfaceConfig) {
        macro_rules! merge {
            ($($f:ident),*) => { $( if newer.$f.is_some() { self.$f = newer.$f.clone(); } )* };
        }
        merge!(
            kind,
            hello_interval,
            update_interval,
            rxcost,
            link_quality,
            split_horizon,
            channel,
            faraway,
            enable_timestamps,
            unicast,
            rfc6126_compatible,
            rtt_decay,
            rtt_min,
            rtt_max,
            max_rtt_penalty,
            v4_via_v6,
            key,
            accept_bad_signatures
        );
    }

    /// This interface's parameters with unset ones taken from `defaults` (the `default`
    /// statement).
    pub fn with_defaults(&self, defaults: &InterfaceConfig) -> InterfaceConfig {
        let mut out = defaults.clone();
        out.merge_from(self);
        out
    }
}

/// MAC algorithm of a key (RFC 8967 §4.1: HMAC-SHA256 and BLAKE2s-128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    HmacSha256,
    Blake2s128,
}

/// A MAC key (`key id NAME type TYPE value HEX`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub id: String,
    pub kind: KeyType,
    /// The key bytes. HMAC-SHA256 keys are zero-padded to 64 bytes (the block size), as babeld
    /// does; BLAKE2s-128 keys are 1 to 32 bytes.
    pub value: Vec<u8>,
}

impl std::fmt::Debug for Key {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("len", &self.value.len())
            .finish()
    }
}
