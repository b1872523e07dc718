//! `babelctl`: the command-line client of routed.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

use clap::{Parser, Subcommand};

use routed::decode::{
    datagram_record, hex_line_record, write_record, CaptureError, CaptureReader, PacketRecord,
    MAX_HEX_LINE,
};

#[derive(Parser)]
#[command(
    name = "babelctl",
    version,
    about = "Client tools for the routed Babel daemon"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the daemon's control socket is.
#[derive(clap::Args, Clone)]
struct Endpoint {
    /// TCP port on ::1 (routed/babeld `-g PORT`).
    #[arg(short = 'p', long, default_value_t = 33123, conflicts_with = "socket")]
    port: u16,
    /// Unix socket path (routed/babeld `-g PATH`).
    #[arg(short = 's', long)]
    socket: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the daemon's interfaces, neighbours, exported and learned routes, in babeld's
    /// `dump` format (works with babeld too).
    Dump {
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Print the daemon's state, then every change as it happens (`add`, `change`, `flush`
    /// lines), until interrupted.
    Monitor {
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Print routed's counters of dropped and refused input, one `counter NAME VALUE` line
    /// each: bad packets, refusals at each `max-*` limit, authentication rejections (bad MAC,
    /// replay, ...). babeld has no such command and answers `bad`.
    Counters {
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Decode Babel packets into JSON, one object per packet.
    ///
    /// Reads a pcap or pcapng capture (Ethernet, Linux cooked or raw IP link types) and
    /// prints every UDP datagram to or from port 6696 as
    /// {"time":…,"src":…,"dst":…,"tlvs":[…],"trailer":[…],"errors":[…]}, in capture order.
    /// Each TLV is an object whose "type" names it (hello, ihu, update, …); prefixes are
    /// printed in full, router-ids like babeld, intervals in centiseconds as on the wire. A
    /// packet that cannot be parsed gets an entry in "errors" and decoding goes on.
    ///
    /// Exits with status 1 when FILE cannot be opened, is not a capture, or ends in the
    /// middle of a record (the packets before are printed).
    Decode {
        /// Read UDP payloads from standard input as hex, one packet per line (blank lines
        /// and lines starting with '#' are skipped); time, src and dst are then null.
        #[arg(long)]
        hex: bool,
        /// The capture file; "-" reads the capture from standard input.
        #[arg(
            value_name = "FILE",
            required_unless_present = "hex",
            conflicts_with = "hex"
        )]
        file: Option<PathBuf>,
    },
}

/// How a run ended badly.
enum Failure {
    /// Standard output was closed (`| head`): stop quietly.
    ClosedOutput,
    /// An error to report.
    Message(String),
}

fn output_error(e: io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Failure::ClosedOutput
    } else {
        Failure::Message(format!("cannot write output: {e}"))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dump { endpoint } => control_client(&endpoint, "dump", false),
        Command::Monitor { endpoint } => control_client(&endpoint, "monitor", true),
        Command::Counters { endpoint } => control_client(&endpoint, "counters", false),
        Command::Decode { hex: true, .. } => decode_hex(),
        Command::Decode {
            file: Some(path), ..
        } => decode_capture(&path),
        Command::Decode { .. } => Err(Failure::Message("no FILE given".into())),
    };
    match result {
        Ok(()) | Err(Failure::ClosedOutput) => ExitCode::SUCCESS,
        Err(Failure::Message(m)) => {
            eprintln!("babelctl: {m}");
            ExitCode::FAILURE
        }
    }
}

/// Standard output, buffered, shared with the input side that flushes it.
type Output = Rc<RefCell<BufWriter<io::StdoutLock<'static>>>>;

/// An input that flushes the output before every read: output goes out in large writes, yet
/// nothing decoded waits while babelctl waits for input (`tcpdump -w - | babelctl decode -`).
struct FlushBeforeRead<R> {
    inner: R,
    out: Output,
    /// Set when flushing failed, so that the caller can tell a closed output from a read error.
    out_error: Rc<Cell<Option<io::ErrorKind>>>,
}

impl<R: Read> Read for FlushBeforeRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Err(e) = self.out.borrow_mut().flush() {
            self.out_error.set(Some(e.kind()));
            return Err(e);
        }
        self.inner.read(buf)
    }
}

fn output() -> Output {
    Rc::new(RefCell::new(BufWriter::with_capacity(
        1 << 16,
        io::stdout().lock(),
    )))
}

fn decode_capture(path: &std::path::Path) -> Result<(), Failure> {
    let name = path.display().to_string();
    let inner: Box<dyn Read> = if name == "-" {
        Box::new(io::stdin().lock())
    } else {
        let file = File::open(path).map_err(|e| Failure::Message(format!("{name}: {e}")))?;
        Box::new(file)
    };
    let out = output();
    let out_error = Rc::new(Cell::new(None));
    let input = FlushBeforeRead {
        inner,
        out: out.clone(),
        out_error: out_error.clone(),
    };
    let failed = |e: CaptureError| match out_error.get() {
        Some(kind) => output_error(io::Error::from(kind)),
        None => Failure::Message(format!("{name}: {e}")),
    };
    let mut reader = CaptureReader::new(input).map_err(failed)?;
    let end = loop {
        match reader.next() {
            Ok(Some(d)) => {
                write_record(&mut *out.borrow_mut(), &datagram_record(&d)).map_err(output_error)?
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    out.borrow_mut().flush().map_err(output_error)?;
    for lt in reader.skipped_linktypes() {
        eprintln!(
            "babelctl: {name}: warning: frames of link type {lt} are not supported and were skipped"
        );
    }
    end.map_err(failed)
}

fn decode_hex() -> Result<(), Failure> {
    let out = output();
    let out_error = Rc::new(Cell::new(None));
    let mut input = BufReader::new(FlushBeforeRead {
        inner: io::stdin().lock(),
        out: out.clone(),
        out_error: out_error.clone(),
    });
    let mut line = Vec::new();
    let mut lineno = 0usize;
    loop {
        line.clear();
        lineno += 1;
        let (n, too_long) =
            read_bounded_line(&mut input, &mut line, MAX_HEX_LINE).map_err(|e| match out_error
                .get()
            {
                Some(kind) => output_error(io::Error::from(kind)),
                None => Failure::Message(format!("standard input: {e}")),
            })?;
        if n == 0 {
            break;
        }
        let rec = if too_long {
            Some(PacketRecord::error_only(format!(
                "line {lineno}: longer than {MAX_HEX_LINE} characters, skipped"
            )))
        } else {
            hex_line_record(lineno, &String::from_utf8_lossy(&line))
        };
        if let Some(rec) = rec {
            write_record(&mut *out.borrow_mut(), &rec).map_err(output_error)?;
        }
    }
    let result = out.borrow_mut().flush().map_err(output_error);
    result
}

/// Reads one line into `buf`, keeping at most `max` bytes of it (the rest is read and
/// dropped). Returns the bytes read (0 at the end) and whether the line was too long.
fn read_bounded_line(
    input: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<(usize, bool)> {
    let mut total = 0;
    let mut too_long = false;
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok((total, too_long));
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = max.saturating_sub(buf.len());
        if take > room {
            too_long = true;
        }
        buf.extend_from_slice(&chunk[..take.min(room)]);
        input.consume(take);
        total += take;
        if done {
            return Ok((total, too_long));
        }
    }
}

/// Speaks the control protocol: skips the banner, sends `request`, prints the answer up to
/// its final `ok` (and, when `follow`, everything after it until the daemon closes).
fn control_client(ep: &Endpoint, request: &str, follow: bool) -> Result<(), Failure> {
    use std::io::BufRead;
    let (reader, mut writer): (Box<dyn BufRead>, Box<dyn Write>) = match &ep.socket {
        Some(path) => {
            let s = std::os::unix::net::UnixStream::connect(path)
                .map_err(|e| Failure::Message(format!("{}: {e}", path.display())))?;
            let w = s.try_clone().map_err(|e| Failure::Message(e.to_string()))?;
            (Box::new(BufReader::new(s)), Box::new(w))
        }
        None => {
            let s = std::net::TcpStream::connect((std::net::Ipv6Addr::LOCALHOST, ep.port))
                .map_err(|e| Failure::Message(format!("[::1]:{}: {e}", ep.port)))?;
            let w = s.try_clone().map_err(|e| Failure::Message(e.to_string()))?;
            (Box::new(BufReader::new(s)), Box::new(w))
        }
    };
    let mut lines = reader.lines();
    // The banner: BABEL 1.0, version, host, my-id, ok.
    let mut banner_ok = false;
    for l in lines.by_ref() {
        let l = l.map_err(|e| Failure::Message(format!("reading the banner: {e}")))?;
        if l == "ok" {
            banner_ok = true;
            break;
        }
    }
    if !banner_ok {
        return Err(Failure::Message(
            "the daemon closed the connection during its banner".into(),
        ));
    }
    writer
        .write_all(format!("{request}\n").as_bytes())
        .map_err(|e| Failure::Message(format!("sending {request}: {e}")))?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut done = false;
    for l in lines {
        let l = l.map_err(|e| Failure::Message(format!("reading: {e}")))?;
        match l.as_str() {
            "ok" if !done => {
                done = true;
                if !follow {
                    let _ = writer.write_all(b"quit\n");
                    break;
                }
                out.flush().map_err(output_error)?;
                continue;
            }
            "no" | "bad" if !done => {
                return Err(Failure::Message(format!(
                    "the daemon answered {l} to {request}"
                )))
            }
            _ => {}
        }
        writeln!(out, "{l}").map_err(output_error)?;
        if follow && done {
            out.flush().map_err(output_error)?;
        }
    }
    if !done {
        return Err(Failure::Message(
            "the daemon closed the connection before ok".into(),
        ));
    }
    out.flush().map_err(output_error)
}
