//! `routed`: the Babel routing daemon, started like babeld 1.12.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Mutex, OnceLock};

use routed::config::{parse_args, Config, Invocation, USAGE};
use routed::daemon::{self, RunOptions};

/// Set in the child started by `-D`.
const DAEMON_ENV: &str = "ROUTED_DAEMONISED";

/// The log file, reopened by `reopen-logfile` and SIGUSR2.
struct LogFile {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

static LOG: OnceLock<LogFile> = OnceLock::new();

fn open_log(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn reopen_log() {
    if let Some(l) = LOG.get() {
        match open_log(&l.path) {
            Ok(f) => {
                if let Ok(mut g) = l.file.lock() {
                    *g = Some(f);
                }
            }
            Err(e) => tracing::error!("cannot reopen log file {}: {e}", l.path.display()),
        }
    }
}

/// Text to the log as it is: the logger's lines, and the SIGUSR1 dump of the tables whatever
/// the log level.
fn write_log(text: &str) {
    let _ = LogWriter.write_all(text.as_bytes());
}

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match LOG.get() {
            Some(l) => match l.file.lock() {
                Ok(mut g) => match g.as_mut() {
                    Some(f) => f.write(buf),
                    None => Ok(buf.len()),
                },
                Err(_) => Ok(buf.len()),
            },
            None => io::stderr().write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// babeld's `-d` levels mapped to tracing levels (RUST_LOG, when set, wins).
fn init_logging(debug: u32, log_file: Option<&Path>) -> Result<(), String> {
    if let Some(p) = log_file {
        let f = open_log(p).map_err(|e| format!("cannot open log file {}: {e}", p.display()))?;
        let _ = LOG.set(LogFile {
            path: p.to_path_buf(),
            file: Mutex::new(Some(f)),
        });
    }
    let level = match debug {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // `Targets` takes RUST_LOG's `target=level,...` form without EnvFilter's regular
    // expressions, whose code was about a tenth of the daemon's.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| match v.parse::<tracing_subscriber::filter::Targets>() {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!(
                    "routed: warning: RUST_LOG={v:?} ignored ({e}); it takes target=level,..."
                );
                None
            }
        })
        .unwrap_or_else(|| {
            level
                .parse::<tracing_subscriber::filter::Targets>()
                .unwrap_or_default()
        });
    // Colours only on a terminal. `init` sets the log crate's messages (netlink-sys') to go
    // through it too.
    use std::io::IsTerminal;
    use tracing_subscriber::util::SubscriberInitExt;
    let ansi = log_file.is_none() && io::stderr().is_terminal();
    routed::logger::Logger::new(filter, ansi, write_log).init();
    Ok(())
}

fn process_alive(pid: &str) -> bool {
    !pid.is_empty()
        && pid.chars().all(|c| c.is_ascii_digit())
        && Path::new("/proc").join(pid).exists()
}

/// Writes the pid file; refuses if another live process holds it (babeld refuses too).
fn write_pid_file(path: &Path) -> Result<(), String> {
    for _ in 0..2 {
        match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(mut f) => {
                return writeln!(f, "{}", std::process::id())
                    .map_err(|e| format!("cannot write pid file {}: {e}", path.display()));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let old = std::fs::read_to_string(path).unwrap_or_default();
                let old = old.trim();
                if process_alive(old) && old != std::process::id().to_string() {
                    return Err(format!(
                        "pid file {} names running process {old}: is another daemon running?",
                        path.display()
                    ));
                }
                let _ = std::fs::remove_file(path);
            }
            Err(e) => return Err(format!("cannot create pid file {}: {e}", path.display())),
        }
    }
    Err(format!("cannot create pid file {}", path.display()))
}

/// `-D`: start a copy of ourselves in a new session, detached from the terminal, and exit.
/// (fork() without exec is unsound in a multi-threaded Rust program; a re-exec is not.)
fn daemonise() -> Result<(), String> {
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().map_err(|e| format!("cannot find our executable: {e}"))?;
    let child = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(DAEMON_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the daemon process: {e}"))?;
    let _ = child.id();
    Ok(())
}

/// Allocations of 128 KiB and more get pages of their own from the kernel, always. glibc
/// raises that threshold (up to 32 MiB) after the first such block is freed, and from then
/// on the route tables' big vectors live in the heap: a growing one is copied instead of
/// remapped, and a freed one stays resident. At 100,000 routes this saves 2-4 MiB of peak
/// RSS (docs/performance.md) for no measurable CPU.
///
/// One malloc arena for the whole process: the kernel installer thread would otherwise get
/// an arena of its own (a 64 MiB reservation, 100-200 KiB resident, its free memory never
/// reused by the main thread). Two threads hardly contend for it; each has its own small
/// cache of freed blocks.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_malloc() {
    // SAFETY: mallopt only sets parameters of glibc's allocator; it is called before any
    // other thread exists and takes no pointers.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

fn main() -> ExitCode {
    let (config, pid_file, rt) = match start() {
        Ok(started) => started,
        Err(code) => return code,
    };
    let result = rt.block_on(daemon::run(
        config,
        RunOptions {
            reopen_log: Some(reopen_log),
            write_log: Some(write_log),
        },
    ));
    finish(result, pid_file.as_deref())
}

/// The configuration to run, the pid file written and the runtime, or the exit code of a
/// start-up that ends here. Never inlined into `main`, which goes on running the daemon:
/// this is start-up code, whose pages the daemon gives back once it runs
/// (`netdriver::release_start_up_pages`).
#[inline(never)]
fn start() -> Result<(Config, Option<PathBuf>, tokio::runtime::Runtime), ExitCode> {
    tune_malloc();
    let inv = match parse_args(std::env::args().skip(1)) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return Err(ExitCode::from(1));
        }
    };
    let cl = match inv {
        Invocation::Help => {
            println!("{USAGE}");
            return Err(ExitCode::SUCCESS);
        }
        Invocation::Version => {
            println!("{}", routed::control::VERSION);
            return Err(ExitCode::SUCCESS);
        }
        Invocation::Run(cl) => cl,
    };
    for w in &cl.warnings {
        eprintln!("routed: warning: {w}");
    }
    // An unknown or malformed statement stops start-up here, before anything is started.
    let config = match cl.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Err(ExitCode::from(1));
        }
    };
    if let Err(e) = daemon::check(&config) {
        eprintln!("routed: {e}");
        return Err(ExitCode::from(1));
    }
    let g = &config.globals;
    let daemonised = std::env::var_os(DAEMON_ENV).is_some();
    if g.daemonise == Some(true) && !daemonised {
        return Err(match daemonise() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("routed: {e}");
                ExitCode::from(1)
            }
        });
    }
    if daemonised {
        // A new session: no controlling terminal, not killed with the parent's group.
        let _ = nix::unistd::setsid();
    }
    if let Err(e) = init_logging(g.debug.unwrap_or(0), g.log_file().as_deref()) {
        eprintln!("routed: {e}");
        return Err(ExitCode::from(1));
    }
    let pid_file = g.pid_file();
    if let Some(p) = &pid_file {
        if let Err(e) = write_pid_file(p) {
            tracing::error!("{e}");
            eprintln!("routed: {e}");
            return Err(ExitCode::from(1));
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("routed: cannot start the runtime: {e}");
            return Err(ExitCode::from(1));
        }
    };
    Ok((config, pid_file, rt))
}

/// The pid file removed, the daemon's error reported: the exit code.
#[inline(never)]
fn finish(result: anyhow::Result<()>, pid_file: Option<&Path>) -> ExitCode {
    if let Some(p) = pid_file {
        let _ = std::fs::remove_file(p);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("routed: {e:#}");
            ExitCode::from(1)
        }
    }
}
