//! The daemon's log: a `tracing` subscriber that writes each event as one line, in the
//! layout of `tracing-subscriber`'s default format (`2026-11-27T18:50:00.123456Z  WARN
//! routed::daemon: message field=value`).
//!
//! The daemon opens no spans, so it does without `tracing-subscriber`'s registry of them,
//! whose table of per-thread shards alone is 32 KiB of memory written at start-up (about a
//! fiftieth of the daemon's resident memory at a 10,000-route ingest). Which events are
//! written is decided by a [`Targets`] filter (babeld's `-d` level, or `RUST_LOG`).
//!
//! Control characters in messages and field values (an interface name, a control-socket
//! command, anything a peer can influence) are written escaped: a log line is one line, and
//! no one can put terminal escape sequences into it.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};

/// Writes the events [`Targets`] lets through, each as one line (with its newline) handed
/// whole to `sink`.
pub struct Logger<S> {
    filter: Targets,
    max: LevelFilter,
    ansi: bool,
    sink: S,
}

impl<S: Fn(&str) + Send + Sync + 'static> Logger<S> {
    /// `ansi`: colour the level and dim the time and target (for a terminal).
    pub fn new(filter: Targets, ansi: bool, sink: S) -> Self {
        let max = filter
            .iter()
            .map(|(_, l)| l)
            .chain(filter.default_level())
            .max()
            .unwrap_or(LevelFilter::OFF);
        Logger {
            filter,
            max,
            ansi,
            sink,
        }
    }

    /// The line `event` is written as, with its newline.
    fn line(&self, event: &Event<'_>) -> String {
        let meta = event.metadata();
        let mut line = String::with_capacity(128);
        let (dim, colour, reset) = if self.ansi {
            ("\x1b[2m", level_colour(meta.level()), "\x1b[0m")
        } else {
            ("", "", "")
        };
        line.push_str(dim);
        if SystemTime.format_time(&mut Writer::new(&mut line)).is_err() {
            line.push_str("(no time)");
        }
        let _ = write!(
            line,
            "{reset} {colour}{:>5}{reset} {dim}{}:{reset}",
            meta.level(),
            meta.target()
        );
        let mut fields = Fields {
            message: String::new(),
            rest: String::new(),
        };
        event.record(&mut fields);
        if !fields.message.is_empty() {
            line.push(' ');
            line.push_str(&fields.message);
        }
        line.push_str(&fields.rest);
        line.push('\n');
        line
    }
}

fn level_colour(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "\x1b[31m",
        Level::WARN => "\x1b[33m",
        Level::INFO => "\x1b[32m",
        Level::DEBUG => "\x1b[34m",
        Level::TRACE => "\x1b[35m",
    }
}

/// An event's message and its other fields (` name=value` each), escaped.
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            push_escaped(&mut self.message, value);
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            push_escaped(&mut self.message, &text);
        } else {
            let _ = write!(self.rest, " {}=", field.name());
            push_escaped(&mut self.rest, &text);
        }
    }
}

/// `text` with its control characters escaped (`\n`, `\u{1b}`).
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

impl<S: Fn(&str) + Send + Sync + 'static> Subscriber for Logger<S> {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.enabled(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        self.filter.would_enable(meta.target(), meta.level())
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }

    // Spans are not written (the daemon opens none): each gets the same id.
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        (self.sink)(&self.line(event));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn logged(filter: &str, ansi: bool, f: impl FnOnce()) -> String {
        let out = Arc::new(Mutex::new(String::new()));
        let sink = {
            let out = out.clone();
            move |line: &str| out.lock().unwrap().push_str(line)
        };
        let logger = Logger::new(filter.parse().unwrap(), ansi, sink);
        tracing::subscriber::with_default(logger, f);
        let text = out.lock().unwrap().clone();
        text
    }

    #[test]
    fn a_line_has_time_level_target_message_and_fields() {
        let text = logged("info", false, || {
            tracing::info!(neighbours = 3, "hello {}", "world");
            tracing::debug!("not at info");
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let (time, rest) = lines[0].split_once(' ').unwrap();
        // RFC 3339 in UTC, as tracing-subscriber writes it.
        assert!(time.len() >= 20 && time.ends_with('Z'), "{time}");
        assert_eq!(time.as_bytes()[10], b'T', "{time}");
        assert_eq!(
            rest,
            " INFO routed::logger::tests: hello world neighbours=3"
        );
    }

    #[test]
    fn targets_decide_per_module_and_level() {
        let text = logged("warn,routed::logger=debug", false, || {
            tracing::debug!("kept");
            tracing::trace!("dropped");
            tracing::info!(target: "elsewhere", "dropped too");
            tracing::warn!(target: "elsewhere", "kept too");
        });
        assert!(
            text.contains("kept\n") && text.contains("kept too\n"),
            "{text}"
        );
        assert!(!text.contains("dropped"), "{text}");
        let off = logged("off", false, || tracing::error!("nothing"));
        assert!(off.is_empty(), "{off}");
    }

    #[test]
    fn control_characters_are_escaped() {
        let name = "eth0\n\x1b[31mFAKE";
        let text = logged("info", false, || {
            tracing::warn!(iface = name, "interface {name} is gone");
        });
        assert_eq!(text.matches('\n').count(), 1, "{text}");
        assert!(!text.contains('\x1b'), "{text}");
        assert!(
            text.contains(r"interface eth0\n\u{1b}[31mFAKE is gone"),
            "{text}"
        );
        assert!(text.contains(r#"iface="eth0\n\u{1b}[31mFAKE""#), "{text}");
    }

    #[test]
    fn ansi_colours_the_level_only_when_asked() {
        let plain = logged("info", false, || tracing::error!("x"));
        assert!(!plain.contains('\x1b'), "{plain}");
        let coloured = logged("info", true, || tracing::error!("x"));
        assert!(coloured.contains("\x1b[31mERROR\x1b[0m"), "{coloured:?}");
    }
}
