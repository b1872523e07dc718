//! babeld 1.12's command line, read with getopt semantics.
//!
//! Short options only, as babeld's `getopt` string `m:p:h:H:i:k:A:srS:d:g:G:lwz:M:t:T:c:C:DL:I:V`:
//! flags may be grouped (`-sw`), an option's argument may be attached (`-d1`, `-sd1`) or be the
//! next argument (`-d 1`, even if that starts with `-`), `--` ends the options, and, as with
//! glibc's getopt, interface names may appear between options. `-h` is the hello interval, so
//! help is only available as `--help`.

use std::path::{Path, PathBuf};

use super::number::{ip_as_v6, parse_c_int, parse_interval, parse_ip, parse_nat};
use super::types::{
    FileSetting, InterfaceConfig, LocalEndpoint, LocalServer, DEFAULT_CONFIG_FILE, MAX_INTERVAL_MS,
};
use super::{add_import_table, Config, ConfigError};

/// Usage text printed for `--help` and after command-line errors.
pub const USAGE: &str = "\
Usage: routed [-V] [-m multicast_address] [-p port] [-S state-file]
              [-h hello] [-H wired_hello] [-z kind[,factor]] [-M half-life]
              [-g port|path] [-G port|path] [-k metric] [-A metric] [-s] [-l] [-w] [-r]
              [-t table] [-T table] [-c file] [-C statement]
              [-d level] [-D] [-L logfile] [-I pidfile]
              [--] interface...
       routed --help
Options are those of babeld 1.12; -h sets the wireless hello interval, so help is --help only.";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// `--help`: print [`USAGE`] and exit successfully.
    Help,
    /// `-V`: print the version and exit successfully (babeld stops reading options there).
    Version,
    /// Run the daemon.
    Run(Box<CommandLine>),
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandLine {
    /// The options and `-C` statements, applied in argument order.
    pub config: Config,
    /// `-c` files in order. An empty name (`-c ""`) reads no file and suppresses the default
    /// file.
    pub config_files: Vec<PathBuf>,
    /// Interfaces named on the command line.
    pub interfaces: Vec<String>,
    /// Non-fatal remarks to print (e.g. a multicast group that is not link-local).
    pub warnings: Vec<String>,
}

impl CommandLine {
    /// Reads the configuration files (the `-c` files, or the default file if there are none
    /// and it exists) and adds the command-line interfaces. Fails if there is no interface.
    pub fn load(&self) -> Result<Config, ConfigError> {
        self.load_with_default(Path::new(DEFAULT_CONFIG_FILE))
    }

    /// [`CommandLine::load`] with another default configuration file.
    pub fn load_with_default(&self, default_file: &Path) -> Result<Config, ConfigError> {
        let mut config = self.config.clone();
        if self.config_files.is_empty() {
            if default_file.exists() {
                config.apply_file(default_file)?;
            }
        } else {
            for f in &self.config_files {
                if !f.as_os_str().is_empty() {
                    config.apply_file(f)?;
                }
            }
        }
        for name in &self.interfaces {
            if !config.interfaces.iter().any(|(n, _)| n == name) {
                config
                    .interfaces
                    .push((name.clone(), InterfaceConfig::default()));
            }
        }
        if config.interfaces.is_empty() {
            return Err(ConfigError::Usage("asked to run on no interfaces".into()));
        }
        Ok(config)
    }
}

/// Which options exist and whether they take an argument.
fn takes_argument(opt: char) -> Option<bool> {
    match opt {
        'm' | 'p' | 'h' | 'H' | 'i' | 'k' | 'A' | 'S' | 'd' | 'g' | 'G' | 'z' | 'M' | 't' | 'T'
        | 'c' | 'C' | 'L' | 'I' => Some(true),
        's' | 'r' | 'l' | 'w' | 'D' | 'V' => Some(false),
        _ => None,
    }
}

/// Parses the arguments after the program name.
pub fn parse_args<I, S>(args: I) -> Result<Invocation, ConfigError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    let mut cl = CommandLine::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            cl.interfaces.extend(args[i..].iter().cloned());
            break;
        }
        if arg == "--help" {
            return Ok(Invocation::Help);
        }
        if arg.starts_with("--") {
            return Err(ConfigError::Option {
                option: arg.clone(),
                reason: "unknown option (the only long option is --help)".into(),
            });
        }
        if !arg.starts_with('-') || arg == "-" {
            cl.interfaces.push(arg.clone());
            continue;
        }
        let body = &arg[1..];
        let mut pos = 0;
        while let Some(opt) = body[pos..].chars().next() {
            pos += opt.len_utf8();
            let err = |reason: &str| ConfigError::Option {
                option: format!("-{opt}"),
                reason: reason.to_string(),
            };
            match takes_argument(opt) {
                None => return Err(err("unknown option")),
                Some(false) => {
                    if opt == 'V' {
                        return Ok(Invocation::Version);
                    }
                    flag(&mut cl, opt);
                }
                Some(true) => {
                    let value = if pos < body.len() {
                        body[pos..].to_string()
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        return Err(err("requires an argument"));
                    };
                    with_argument(&mut cl, opt, &value)?;
                    break;
                }
            }
        }
    }
    Ok(Invocation::Run(Box::new(cl)))
}

fn flag(cl: &mut CommandLine, opt: char) {
    let g = &mut cl.config.globals;
    match opt {
        's' => g.split_horizon = Some(false),
        'r' => g.random_id = Some(true),
        'l' => g.link_detect = Some(true),
        'w' => g.all_wireless = Some(true),
        'D' => g.daemonise = Some(true),
        _ => {}
    }
}

fn with_argument(cl: &mut CommandLine, opt: char, value: &str) -> Result<(), ConfigError> {
    let err = |reason: String| ConfigError::Option {
        option: format!("-{opt}"),
        reason,
    };
    let nat_in = |lo: u32, hi: u32, what: &str| -> Result<u32, ConfigError> {
        match parse_nat(value) {
            Some(v) if (lo..=hi).contains(&v) => Ok(v),
            _ => Err(err(format!(
                "bad {what} \"{value}\" (expected {lo} to {hi})"
            ))),
        }
    };
    let g = &mut cl.config.globals;
    match opt {
        'm' => {
            let a = parse_ip(value)
                .map(ip_as_v6)
                .ok_or_else(|| err(format!("bad address \"{value}\"")))?;
            let o = a.octets();
            if o[0] != 0xff {
                return Err(err(format!("{value} is not a multicast address")));
            }
            if o[1] != 2 {
                cl.warnings
                    .push(format!("{value} is not a link-local multicast address"));
            }
            g.protocol_group = Some(a);
        }
        'p' => g.protocol_port = Some(nat_in(1, 0xFFFF, "port")? as u16),
        'h' | 'H' => {
            let iv = parse_interval(value, MAX_INTERVAL_MS).ok_or_else(|| {
                err(format!(
                    "bad hello interval \"{value}\" (expected seconds, e.g. 4 or 0.5, at most 655.35)"
                ))
            })?;
            if opt == 'h' {
                g.wireless_hello_interval = Some(iv);
            } else {
                g.wired_hello_interval = Some(iv);
            }
        }
        'k' => g.kernel_priority = Some(nat_in(0, 0xFFFF, "priority")? as u16),
        'A' => g.allow_duplicates = Some(nat_in(0, 0xFFFF, "priority")? as u16),
        'S' => g.state_file = Some(FileSetting::from_text(value)),
        'd' => g.debug = Some(nat_in(0, i32::MAX as u32, "debug level")?),
        'g' | 'G' => {
            let endpoint = if value.starts_with('/') {
                LocalEndpoint::Path(PathBuf::from(value))
            } else {
                LocalEndpoint::Port(nat_in(1, 0xFFFF, "port")? as u16)
            };
            g.local_server = Some(LocalServer {
                endpoint,
                read_write: opt == 'G',
            });
        }
        'z' => {
            let (kind, factor) = match value.split_once(',') {
                Some((k, f)) => (k, Some(f)),
                None => (value, None),
            };
            let kind = match parse_c_int(kind) {
                Some(k @ 0..=3) => k as u8,
                _ => {
                    return Err(err(format!(
                        "bad diversity kind \"{kind}\" (expected 0, 1, 2 or 3)"
                    )))
                }
            };
            let factor = match factor {
                None => super::types::DEFAULT_DIVERSITY_FACTOR,
                Some(f) => match parse_nat(f) {
                    Some(f @ 1..=256) => f as u16,
                    _ => {
                        return Err(err(format!(
                            "bad diversity factor \"{f}\" (expected 1 to 256)"
                        )))
                    }
                },
            };
            g.diversity = Some(kind);
            g.diversity_factor = Some(factor);
        }
        'M' => g.smoothing_half_life = Some(nat_in(0, 3600, "half-life")?),
        't' => g.export_table = Some(nat_in(0, 0xFFFF, "table")? as u16),
        'T' => {
            let t = nat_in(0, 0xFFFF, "table")? as u16;
            add_import_table(g, t).map_err(err)?;
        }
        'c' => cl.config_files.push(PathBuf::from(value)),
        'C' => cl.config.apply_command_statement(value)?,
        'L' => g.log_file = Some(FileSetting::from_text(value)),
        'I' => g.pid_file = Some(FileSetting::from_text(value)),
        'i' => {
            return Err(err(
                "not supported (babeld 1.12 lists it but only prints its usage)".into(),
            ))
        }
        _ => return Err(err("unknown option".into())),
    }
    Ok(())
}
