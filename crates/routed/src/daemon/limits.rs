//! The memory bounds at run time: the engine's limits from the configuration, and a
//! rate-limited log line when a limit refuses entries.

use std::time::{Duration, Instant};

use babel_core::{Limit, Stats};

use crate::config::{self, LIMITS};

/// At most one log line per kind of limit in this interval.
pub const LOG_INTERVAL: Duration = Duration::from_secs(30);

/// Sets the engine's limits from the configuration's `max-*` values (or routed's defaults).
pub fn apply(config: &config::Config, core: &mut babel_core::Config) {
    for (_, limit, _) in LIMITS {
        limit.set(core, config.globals.limit(limit));
    }
}

/// Logs refusals by a limit, at most once per kind per [`LOG_INTERVAL`].
#[derive(Debug, Default)]
pub struct RefusalLog {
    /// Per kind: the count last logged, and when.
    logged: [(u64, Option<Instant>); Limit::ALL.len()],
}

impl RefusalLog {
    /// Checks the engine's counters; logs the kinds that refused entries since their last line
    /// (unless that line is more recent than [`LOG_INTERVAL`]). Returns how many lines it
    /// logged.
    pub fn check(&mut self, stats: &Stats, config: &config::Config, now: Instant) -> usize {
        let mut lines = 0;
        for limit in Limit::ALL {
            let (last_count, last_time) = &mut self.logged[limit as usize];
            let count = stats.refused(limit);
            if count <= *last_count
                || last_time.is_some_and(|t| now.duration_since(t) < LOG_INTERVAL)
            {
                continue;
            }
            let keyword = config::limit_keyword(limit);
            if keyword == "?" {
                tracing::warn!(
                    "limit {}: {} entries dropped (total {count})",
                    limit.name(),
                    count - *last_count
                );
            } else {
                tracing::warn!(
                    "limit {keyword} {}: refused {} entries (total {count}); \
                     raise it with the statement `{keyword} N` if this is legitimate",
                    config.globals.limit(limit),
                    count - *last_count
                );
            }
            *last_count = count;
            *last_time = Some(now);
            lines += 1;
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_kind_per_interval() {
        let config = config::Config::default();
        let mut log = RefusalLog::default();
        let mut stats = Stats::default();
        let t0 = Instant::now();
        assert_eq!(log.check(&stats, &config, t0), 0);
        stats.refused[Limit::RoutesPerNeighbour as usize] = 10;
        assert_eq!(log.check(&stats, &config, t0), 1);
        stats.refused[Limit::RoutesPerNeighbour as usize] = 20;
        stats.refused[Limit::Sources as usize] = 1;
        assert_eq!(log.check(&stats, &config, t0 + Duration::from_secs(1)), 1);
        assert_eq!(log.check(&stats, &config, t0 + Duration::from_secs(2)), 0);
        assert_eq!(log.check(&stats, &config, t0 + LOG_INTERVAL), 1);
        assert_eq!(log.check(&stats, &config, t0 + LOG_INTERVAL * 3), 0);
    }

    #[test]
    fn defaults_apply_and_statements_override_them() {
        let mut c = config::Config::default();
        c.apply_line("max-routes-per-neighbour 1000").unwrap();
        let mut core = babel_core::Config::default();
        apply(&c, &mut core);
        assert_eq!(core.max_routes_per_neighbour, 1000);
        assert_eq!(core.max_route_entries, 1_000_000);
        assert_eq!(core.max_neighbours, 1024);
    }
}
