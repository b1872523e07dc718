//! babeld 1.12-compatible configuration: the command line, configuration files and `-C`
//! statements, parsed into a typed [`Config`]. No I/O other than reading configuration files.
//!
//! Order of application follows babeld: command-line options and `-C` statements in argument
//! order, then the configuration files (`-c`, or the default file) in order. A later statement
//! overrides an earlier one; `interface` statements for the same name merge parameter by
//! parameter; filters append.

mod cmdline;
pub mod filter;
mod lexer;
mod number;
mod statement;
mod types;

use std::fmt;
use std::path::{Path, PathBuf};

pub use cmdline::{parse_args, CommandLine, Invocation, USAGE};
pub use filter::{Family, Filter, FilterAction, FilterKind, Filters, ProtoMatch, Verdict};
pub use statement::{parse_statement, Global, Statement};
pub use types::*;

/// Why configuration failed. `Display` gives the message to print, e.g.
/// `babeld.conf:12: unknown statement "foo"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A bad command-line option: `routed: option -X: reason`.
    Option { option: String, reason: String },
    /// A bad line in a configuration file: `FILE:LINE: reason`.
    File {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// A bad `-C` statement: `-C 'text': reason`.
    Statement { text: String, reason: String },
    /// A configuration file that could not be read.
    Io { path: PathBuf, reason: String },
    /// Something else about the command line (e.g. no interfaces).
    Usage(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Option { option, reason } => {
                write!(f, "routed: option {option}: {reason}")
            }
            ConfigError::File { path, line, reason } => {
                write!(f, "{}:{line}: {reason}", path.display())
            }
            ConfigError::Statement { text, reason } => write!(f, "-C '{text}': {reason}"),
            ConfigError::Io { path, reason } => write!(f, "{}: {reason}", path.display()),
            ConfigError::Usage(reason) => write!(f, "routed: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Most distinct interfaces the configuration names (a bound on what a read-write control
/// socket can make the daemon hold).
pub const MAX_INTERFACES: usize = 4096;
/// Most distinct keys.
pub const MAX_KEYS: usize = 1024;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    pub globals: Globals,
    /// Parameters from `default` statements.
    pub default_interface: InterfaceConfig,
    /// `interface` statements, in order of first appearance, merged per name.
    pub interfaces: Vec<(String, InterfaceConfig)>,
    pub filters: Filters,
    /// Keys from `key` statements; a redefinition replaces the key.
    pub keys: Vec<Key>,
}

impl Config {
    /// Applies one parsed statement. Control-socket requests (`dump`, `flush interface`, ...)
    /// are refused: they are not configuration.
    pub fn apply(&mut self, stmt: Statement) -> Result<(), String> {
        match stmt {
            Statement::Interface { name, params } => {
                self.check_key(&params)?;
                let known = self.interfaces.iter().position(|(n, _)| *n == name);
                match known {
                    Some(i) => self.interfaces[i].1.merge_from(&params),
                    None if self.interfaces.len() >= MAX_INTERFACES => {
                        return Err(format!("interface: at most {MAX_INTERFACES} interfaces"))
                    }
                    None => self.interfaces.push((name, params)),
                }
            }
            Statement::Default(params) => {
                self.check_key(&params)?;
                self.default_interface.merge_from(&params);
            }
            Statement::Filter { kind, filter } => self.filters.list_mut(kind).push(filter),
            Statement::Key(key) => match self.keys.iter().position(|k| k.id == key.id) {
                Some(i) => self.keys[i] = key,
                None if self.keys.len() >= MAX_KEYS => {
                    return Err(format!("key: at most {MAX_KEYS} keys"))
                }
                None => self.keys.push(key),
            },
            Statement::Global(g) => self.apply_global(g)?,
            other => {
                return Err(format!(
                    "{} is a control-socket request, not a configuration statement",
                    control_name(&other)
                ))
            }
        }
        Ok(())
    }

    fn check_key(&self, params: &InterfaceConfig) -> Result<(), String> {
        match &params.key {
            Some(id) if self.key(id).is_none() => Err(format!(
                "key: unknown key \"{id}\" (define it with a key statement first)"
            )),
            _ => Ok(()),
        }
    }

    fn apply_global(&mut self, g: Global) -> Result<(), String> {
        let gl = &mut self.globals;
        match g {
            Global::ProtocolGroup(a) => gl.protocol_group = Some(a),
            Global::ProtocolPort(p) => gl.protocol_port = Some(p),
            Global::KernelPriority(p) => gl.kernel_priority = Some(p),
            Global::ReflectKernelMetric(b) => gl.reflect_kernel_metric = Some(b),
            Global::AllowDuplicates(p) => gl.allow_duplicates = Some(p),
            Global::RandomId(b) => gl.random_id = Some(b),
            Global::Ipv6Subtrees(b) => gl.ipv6_subtrees = Some(b),
            Global::Debug(d) => gl.debug = Some(d),
            Global::LocalServer(s) => gl.local_server = Some(s),
            Global::ExportTable(t) => gl.export_table = Some(t),
            Global::ImportTable(t) => add_import_table(gl, t)?,
            Global::LinkDetect(b) => gl.link_detect = Some(b),
            Global::Diversity(k) => gl.diversity = Some(k),
            Global::DiversityFactor(f) => gl.diversity_factor = Some(f),
            Global::SmoothingHalfLife(h) => gl.smoothing_half_life = Some(h),
            Global::Daemonise(b) => gl.daemonise = Some(b),
            Global::SkipKernelSetup(b) => gl.skip_kernel_setup = Some(b),
            Global::RouterId(id) => gl.router_id = Some(id),
            Global::StateFile(f) => gl.state_file = Some(f),
            Global::LogFile(f) => gl.log_file = Some(f),
            Global::PidFile(f) => gl.pid_file = Some(f),
            Global::FirstTableNumber(n) => gl.first_table_number = Some(n),
            Global::FirstRulePriority(n) => gl.first_rule_priority = Some(n),
            Global::Limit(l, v) => {
                gl.limits.retain(|(have, _)| *have != l);
                gl.limits.push((l, v));
            }
        }
        Ok(())
    }

    /// Parses and applies one statement line (e.g. from a read-write control socket).
    pub fn apply_line(&mut self, line: &str) -> Result<(), String> {
        match parse_statement(line)? {
            Some(stmt) => self.apply(stmt),
            None => Ok(()),
        }
    }

    /// Parses and applies a whole configuration text; `source` names it in errors. Stops at the
    /// first bad line.
    pub fn apply_text(&mut self, text: &str, source: &Path) -> Result<(), ConfigError> {
        for (i, line) in text.split('\n').enumerate() {
            self.apply_line(line).map_err(|reason| ConfigError::File {
                path: source.to_path_buf(),
                line: i + 1,
                reason,
            })?;
        }
        Ok(())
    }

    /// Reads and applies a configuration file.
    pub fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let bytes = std::fs::read(path).map_err(|e| ConfigError::Io {
            path: path.to_path_buf(),
            reason: format!("cannot read configuration file: {e}"),
        })?;
        self.apply_text(&String::from_utf8_lossy(&bytes), path)
    }

    /// Applies a `-C` statement.
    pub fn apply_command_statement(&mut self, text: &str) -> Result<(), ConfigError> {
        let err = |reason| ConfigError::Statement {
            text: text.to_string(),
            reason,
        };
        // babeld refuses an empty -C statement.
        if text.is_empty() {
            return Err(err("empty statement".into()));
        }
        match parse_statement(text).map_err(err)? {
            // babeld accepts this request in -C (where it does nothing useful) but not in a file.
            Some(Statement::ReopenLogfile) => Ok(()),
            Some(stmt) => self.apply(stmt).map_err(err),
            None => Ok(()),
        }
    }

    /// The key with this id.
    pub fn key(&self, id: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// The parameters configured for `name` (by `interface` statements), unset ones filled from
    /// `default` statements.
    pub fn interface(&self, name: &str) -> InterfaceConfig {
        match self.interfaces.iter().find(|(n, _)| n == name) {
            Some((_, c)) => c.with_defaults(&self.default_interface),
            None => self.default_interface.clone(),
        }
    }
}

pub(crate) fn add_import_table(gl: &mut Globals, table: u16) -> Result<(), String> {
    if gl.import_tables.len() >= MAX_IMPORT_TABLES {
        return Err(format!(
            "import-table: at most {MAX_IMPORT_TABLES} import tables"
        ));
    }
    gl.import_tables.push(table);
    Ok(())
}

fn control_name(stmt: &Statement) -> &'static str {
    match stmt {
        Statement::FlushInterface(_) => "flush interface",
        Statement::ReopenLogfile => "reopen-logfile",
        Statement::Dump => "dump",
        Statement::Monitor => "monitor",
        Statement::Unmonitor => "unmonitor",
        Statement::Quit => "quit",
        _ => "this",
    }
}
