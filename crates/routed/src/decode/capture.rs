//! Reading pcap and pcapng captures one record at a time, with bounded memory, and picking out
//! the Babel datagrams (UDP port 6696).

use std::collections::BTreeSet;
use std::fmt;
use std::io::{self, Cursor, Read};
use std::net::IpAddr;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError, PcapNGReader};

use babel_core::wire::PORT;

use super::link::{is_supported, udp_in_frame};

/// The read buffer starts this large and doubles, up to [`MAX_BUFFER`], for larger records.
const INITIAL_BUFFER: usize = 1 << 16;
/// No record of a capture of Babel traffic comes near this; a larger one is corruption.
const MAX_BUFFER: usize = 1 << 24;

/// Why a capture cannot be read (further).
#[derive(Debug)]
pub enum CaptureError {
    /// The input does not start like a pcap or pcapng file.
    NotCapture(String),
    /// Reading the input failed.
    Io(io::Error),
    /// The input ends in the middle of a record (a capture still being written, or cut).
    Truncated { records: u64 },
    /// A record that cannot be parsed.
    Corrupt { records: u64, what: String },
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::NotCapture(why) => write!(f, "not a pcap or pcapng capture ({why})"),
            CaptureError::Io(e) => write!(f, "read error: {e}"),
            CaptureError::Truncated { records } => {
                write!(
                    f,
                    "capture ends in the middle of a record (after {records} records)"
                )
            }
            CaptureError::Corrupt { records, what } => {
                write!(f, "corrupt capture after {records} records: {what}")
            }
        }
    }
}

impl std::error::Error for CaptureError {}

impl From<io::Error> for CaptureError {
    fn from(e: io::Error) -> Self {
        CaptureError::Io(e)
    }
}

/// A Babel datagram found in a capture.
#[derive(Debug, Clone, PartialEq)]
pub struct Datagram {
    /// Seconds since the Unix epoch; `None` when the record carries no time (pcapng simple
    /// packet blocks).
    pub time: Option<f64>,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The UDP payload as captured.
    pub payload: Vec<u8>,
    /// The payload length announced by the UDP header.
    pub udp_payload_len: usize,
    /// The first fragment of a fragmented datagram.
    pub fragmented: bool,
}

impl Datagram {
    /// Whether the capture kept fewer bytes than the datagram had (snap length).
    pub fn is_cut(&self) -> bool {
        self.payload.len() < self.udp_payload_len
    }
}

/// The kind of file, from its first four octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Pcap,
    PcapNg,
}

fn sniff(head: &[u8]) -> Result<Format, String> {
    match head {
        [] => Err("the file is empty".into()),
        // pcap magics, microsecond and nanosecond, both byte orders, and the "modified" one.
        [0xd4, 0xc3, 0xb2, 0xa1, ..]
        | [0xa1, 0xb2, 0xc3, 0xd4, ..]
        | [0x4d, 0x3c, 0xb2, 0xa1, ..]
        | [0xa1, 0xb2, 0x3c, 0x4d, ..]
        | [0x34, 0xcd, 0xb2, 0xa1, ..] => Ok(Format::Pcap),
        // pcapng: every file starts with a section header block, type 0x0a0d0d0a.
        [0x0a, 0x0d, 0x0d, 0x0a, ..] => Ok(Format::PcapNg),
        h if h.len() < 4 => Err(format!("only {} bytes long", h.len())),
        h => Err(format!(
            "starts with bytes {:02x} {:02x} {:02x} {:02x}",
            h[0], h[1], h[2], h[3]
        )),
    }
}

/// Reads until `buf` holds `want` bytes or the input ends.
fn fill_to(r: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> io::Result<()> {
    while buf.len() < want {
        let mut chunk = [0u8; 4096];
        let n = (want - buf.len()).min(chunk.len());
        match r.read(&mut chunk[..n]) {
            Ok(0) => break,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What the records of a pcapng interface need to be decoded.
#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u32,
    /// Timestamp units per second; `None` for an invalid `if_tsresol`.
    units_per_sec: Option<u64>,
    offset_secs: i64,
}

/// Streams the Babel datagrams of a pcap or pcapng capture, in capture order.
pub struct CaptureReader<'a> {
    reader: Box<dyn PcapReaderIterator + 'a>,
    capacity: usize,
    state: State,
}

/// What the reader learns from the blocks it has seen.
struct State {
    /// Legacy pcap: the link type and whether fractions are nanoseconds.
    pcap: Option<(u32, bool)>,
    /// pcapng: the interfaces of the current section, by id.
    interfaces: Vec<Interface>,
    records: u64,
    skipped_linktypes: BTreeSet<u32>,
    /// The port Babel datagrams are recognised by.
    port: u16,
}

impl<'a> CaptureReader<'a> {
    /// Checks the file magic and reads the file header.
    pub fn new(mut input: impl Read + 'a) -> Result<Self, CaptureError> {
        let mut head = Vec::new();
        fill_to(&mut input, &mut head, 4)?;
        let format = sniff(&head).map_err(CaptureError::NotCapture)?;
        // The readers of pcap-parser check the file header with a single read: give it the
        // whole header up front (24 octets for pcap; the section header block for pcapng).
        let want = match format {
            Format::Pcap => 24,
            Format::PcapNg => {
                fill_to(&mut input, &mut head, 12)?;
                let len_le = head
                    .get(4..8)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                let big = head.get(8..12) == Some(&[0x1a, 0x2b, 0x3c, 0x4d][..]);
                let len = match len_le {
                    Some(l) if big => l.swap_bytes(),
                    Some(l) => l,
                    None => 0,
                } as usize;
                if len > MAX_BUFFER / 2 {
                    return Err(CaptureError::NotCapture(format!(
                        "section header block of {len} bytes"
                    )));
                }
                len.max(28)
            }
        };
        fill_to(&mut input, &mut head, want)?;
        if head.len() < want {
            return Err(CaptureError::NotCapture(format!(
                "the file header is cut short: {} bytes",
                head.len()
            )));
        }
        let capacity = INITIAL_BUFFER.max(want * 2);
        let chained = Cursor::new(head).chain(input);
        let reader: Box<dyn PcapReaderIterator + 'a> = match format {
            Format::Pcap => Box::new(
                LegacyPcapReader::new(capacity, chained)
                    .map_err(|e| CaptureError::NotCapture(format!("bad pcap header: {e}")))?,
            ),
            Format::PcapNg => Box::new(
                PcapNGReader::new(capacity, chained)
                    .map_err(|e| CaptureError::NotCapture(format!("bad pcapng header: {e}")))?,
            ),
        };
        Ok(CaptureReader {
            reader,
            capacity,
            state: State {
                pcap: None,
                interfaces: Vec::new(),
                records: 0,
                skipped_linktypes: BTreeSet::new(),
                port: PORT,
            },
        })
    }

    /// Link types met in the capture whose frames could not be decoded.
    pub fn skipped_linktypes(&self) -> impl Iterator<Item = u32> + '_ {
        self.state.skipped_linktypes.iter().copied()
    }

    /// Packet records read so far (Babel or not).
    pub fn records(&self) -> u64 {
        self.state.records
    }

    /// The next Babel datagram, `Ok(None)` at the end of the capture.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Datagram>, CaptureError> {
        loop {
            let step = match self.reader.next() {
                Ok((consumed, block)) => {
                    let found = self.state.handle(block);
                    self.reader.consume(consumed);
                    match found {
                        Some(d) => return Ok(Some(d)),
                        None => continue,
                    }
                }
                Err(PcapError::Eof) => return Ok(None),
                Err(PcapError::Incomplete(_)) | Err(PcapError::BufferTooSmall) => Step::MoreData,
                Err(PcapError::UnexpectedEof) => Step::Truncated,
                Err(e) => Step::Corrupt(e.to_string()),
            };
            match step {
                Step::MoreData => {
                    // Read first: a record that claims to be huge in a short file is a cut
                    // capture, found without growing the buffer.
                    let before = self.reader.data().len();
                    self.reader
                        .refill()
                        .map_err(|e| CaptureError::Io(io::Error::other(e.to_string())))?;
                    // A full buffer reads nothing: make room for the record.
                    if self.reader.data().len() == before && !self.reader.reader_exhausted() {
                        self.grow()?;
                    }
                }
                Step::Truncated => {
                    return Err(CaptureError::Truncated {
                        records: self.state.records,
                    })
                }
                Step::Corrupt(what) => {
                    return Err(CaptureError::Corrupt {
                        records: self.state.records,
                        what,
                    })
                }
            }
        }
    }

    fn grow(&mut self) -> Result<(), CaptureError> {
        let bigger = self.capacity * 2;
        if bigger > MAX_BUFFER || !self.reader.grow(bigger) {
            return Err(CaptureError::Corrupt {
                records: self.state.records,
                what: format!("a record larger than {} bytes", self.capacity),
            });
        }
        self.capacity = bigger;
        Ok(())
    }
}

impl State {
    /// Looks at one block: remembers headers and interfaces, returns a Babel datagram.
    fn handle(&mut self, block: PcapBlockOwned<'_>) -> Option<Datagram> {
        match block {
            PcapBlockOwned::LegacyHeader(h) => {
                self.pcap = Some((h.network.0 as u32, h.is_nanosecond_precision()));
                None
            }
            PcapBlockOwned::Legacy(b) => {
                self.records += 1;
                let (lt, nanos) = self.pcap?;
                let time = if nanos {
                    decimal_time(b.ts_sec as i64, b.ts_usec as u64, 9)
                } else {
                    decimal_time(b.ts_sec as i64, b.ts_usec as u64, 6)
                };
                self.datagram(lt, Some(time), b.data)
            }
            PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                // Interface ids are local to their section.
                self.interfaces.clear();
                None
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                self.interfaces.push(Interface {
                    linktype: idb.linktype.0 as u32,
                    units_per_sec: idb.ts_resolution(),
                    offset_secs: idb.ts_offset(),
                });
                None
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                self.records += 1;
                let iface = *self.interfaces.get(epb.if_id as usize)?;
                let ts = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                let time = iface
                    .units_per_sec
                    .map(|units| ng_time(ts, units, iface.offset_secs));
                // The block's data may carry padding to 32 bits: keep the captured length.
                let caplen = (epb.caplen as usize).min(epb.data.len());
                self.datagram(iface.linktype, time, &epb.data[..caplen])
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                self.records += 1;
                // A simple packet block belongs to the first interface and has no time.
                let iface = *self.interfaces.first()?;
                let caplen = (spb.origlen as usize).min(spb.data.len());
                self.datagram(iface.linktype, None, &spb.data[..caplen])
            }
            PcapBlockOwned::NG(_) => None,
        }
    }

    fn datagram(&mut self, lt: u32, time: Option<f64>, frame: &[u8]) -> Option<Datagram> {
        if !is_supported(lt) {
            self.skipped_linktypes.insert(lt);
            return None;
        }
        let d = udp_in_frame(lt, frame)?;
        // RFC 8966 §5: Babel runs on UDP port 6696, as source and destination.
        if d.dst_port != self.port && d.src_port != self.port {
            return None;
        }
        Some(Datagram {
            time,
            src: d.src,
            dst: d.dst,
            payload: d.payload.to_vec(),
            udp_payload_len: d.udp_payload_len,
            fragmented: d.fragmented,
        })
    }
}

enum Step {
    MoreData,
    Truncated,
    Corrupt(String),
}

/// `secs + frac / 10^digits`, rounded once, so that the printed float reads like the decimal
/// the capture holds (`1764095150.123456`, not `1764095150.1234560013`).
fn decimal_time(secs: i64, frac: u64, digits: u32) -> f64 {
    let unit = 10u64.pow(digits.min(19));
    // A fraction of a second at or beyond one second is malformed; carry it over.
    let secs = secs.saturating_add(i64::try_from(frac / unit).unwrap_or(i64::MAX));
    let frac = frac % unit;
    if secs < 0 {
        return secs as f64 + frac as f64 / unit as f64;
    }
    let width = digits as usize;
    format!("{secs}.{frac:0width$}")
        .parse()
        .unwrap_or(secs as f64)
}

/// A pcapng timestamp: `ts` units of `1/units` seconds, plus an offset in seconds.
fn ng_time(ts: u64, units: u64, offset_secs: i64) -> f64 {
    let secs = i64::try_from(ts / units)
        .unwrap_or(i64::MAX)
        .saturating_add(offset_secs);
    let frac = ts % units;
    // Decimal resolutions (the usual 10^-6 and 10^-9) print exactly; binary ones cannot.
    match (0..=19u32).find(|&d| 10u64.checked_pow(d) == Some(units)) {
        Some(digits) => decimal_time(secs, frac, digits),
        None => secs as f64 + frac as f64 / units as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_recognises_every_magic_and_names_the_rest() {
        assert_eq!(sniff(&[0xd4, 0xc3, 0xb2, 0xa1]), Ok(Format::Pcap));
        assert_eq!(sniff(&[0xa1, 0xb2, 0xc3, 0xd4]), Ok(Format::Pcap));
        assert_eq!(sniff(&[0x4d, 0x3c, 0xb2, 0xa1]), Ok(Format::Pcap));
        assert_eq!(sniff(&[0x0a, 0x0d, 0x0d, 0x0a]), Ok(Format::PcapNg));
        assert_eq!(sniff(b""), Err("the file is empty".into()));
        assert_eq!(sniff(b"ab"), Err("only 2 bytes long".into()));
        assert_eq!(
            sniff(b"{\"time\""),
            Err("starts with bytes 7b 22 74 69".into())
        );
    }

    #[test]
    fn times_print_as_the_decimal_in_the_capture() {
        assert_eq!(
            decimal_time(1764095150, 123456, 6).to_string(),
            "1764095150.123456"
        );
        assert_eq!(
            decimal_time(1764095150, 5, 6).to_string(),
            "1764095150.000005"
        );
        assert_eq!(ng_time(1_764_095_150_250_000, 1_000_000, 0), 1764095150.25);
        assert_eq!(ng_time(3 * 1024 + 512, 1024, 10), 13.5);
        assert_eq!(ng_time(7_000_000_000, 1_000_000_000, -2), 5.0);
        // Malformed values give a number, never a panic or a misreading.
        assert_eq!(decimal_time(10, 1_500_000, 6), 11.5);
        assert_eq!(decimal_time(-2, 500_000, 6), -1.5);
        assert_eq!(ng_time(u64::MAX, 1, i64::MAX), i64::MAX as f64);
        assert_eq!(ng_time(5, 1, i64::MIN), (i64::MIN + 5) as f64);
    }

    /// Reads a whole capture, decoding every datagram; returns how it ended.
    fn drain(bytes: &[u8]) -> Result<usize, String> {
        let mut r = CaptureReader::new(bytes).map_err(|e| e.to_string())?;
        let mut n = 0;
        // Each datagram comes from a record of at least one byte: more calls than bytes
        // would mean the reader is stuck.
        for _ in 0..=bytes.len() {
            match r.next() {
                Ok(Some(d)) => {
                    let _ = crate::decode::datagram_record(&d);
                    n += 1;
                }
                Ok(None) => return Ok(n),
                Err(e) => return Err(e.to_string()),
            }
        }
        panic!("reader did not finish");
    }

    const PCAP_HEADER: [u8; 24] = [
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0,
    ];

    /// A pcapng section header block and an Ethernet interface, little-endian.
    fn pcapng_head() -> Vec<u8> {
        let mut v = vec![
            0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
        ];
        v.extend_from_slice(&[0xff; 8]);
        v.extend_from_slice(&[28, 0, 0, 0]);
        v.extend_from_slice(&[1, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 4, 0, 20, 0, 0, 0]);
        v
    }

    proptest::proptest! {
        #[test]
        fn garbage_after_a_pcap_header_never_panics_or_hangs(
            tail in proptest::collection::vec(proptest::num::u8::ANY, 0..600)
        ) {
            let mut bytes = PCAP_HEADER.to_vec();
            bytes.extend_from_slice(&tail);
            let _ = drain(&bytes);
        }

        #[test]
        fn garbage_after_a_pcapng_header_never_panics_or_hangs(
            tail in proptest::collection::vec(proptest::num::u8::ANY, 0..600)
        ) {
            let mut bytes = pcapng_head();
            bytes.extend_from_slice(&tail);
            let _ = drain(&bytes);
        }

        #[test]
        fn flipped_bytes_in_a_real_capture_never_panic_or_hang(
            flips in proptest::collection::vec((0usize..6000, proptest::num::u8::ANY), 1..8),
            cut in 0usize..6000,
        ) {
            let mut bytes = include_bytes!("../../tests/data/babeld-two-nodes.pcapng").to_vec();
            for (at, v) in flips {
                let i = at % bytes.len();
                bytes[i] = v;
            }
            bytes.truncate(cut.max(1));
            let _ = drain(&bytes);
        }
    }

    #[test]
    fn the_real_capture_is_read_to_the_end() {
        let bytes = include_bytes!("../../tests/data/babeld-two-nodes.pcapng");
        assert_eq!(drain(bytes), Ok(27));
        // tshark ends the file with an interface statistics block: cutting it leaves all
        // 27 packet records whole.
        let cut = &bytes[..bytes.len() - 7];
        assert_eq!(
            drain(cut),
            Err("capture ends in the middle of a record (after 27 records)".into())
        );
        // A record claiming 1 GiB at the end of a short file is a cut capture, found without
        // a 1 GiB buffer.
        let mut huge = PCAP_HEADER.to_vec();
        huge.extend_from_slice(&[0; 8]);
        huge.extend_from_slice(&(1u32 << 30).to_le_bytes());
        huge.extend_from_slice(&(1u32 << 30).to_le_bytes());
        huge.extend_from_slice(&[0; 100]);
        assert_eq!(
            drain(&huge),
            Err("capture ends in the middle of a record (after 0 records)".into())
        );
    }

    fn record(out: &mut Vec<u8>, frame: &[u8]) {
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(frame);
    }

    #[test]
    fn records_larger_than_the_first_buffer_are_read() {
        // Ethernet, IPv6, UDP 6696 -> 6696, then an empty Babel packet.
        let mut babel = vec![0; 12];
        babel.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 12, 17, 1]);
        babel.extend_from_slice(&[0; 32]);
        babel.extend_from_slice(&[0x1a, 0x28, 0x1a, 0x28, 0, 12, 0, 0, 42, 2, 0, 0]);
        let mut bytes = PCAP_HEADER.to_vec();
        record(&mut bytes, &vec![0u8; 3 * INITIAL_BUFFER]);
        record(&mut bytes, &babel);
        let mut r = CaptureReader::new(&bytes[..]).unwrap();
        let d = r.next().unwrap().unwrap();
        assert_eq!(d.payload, vec![42, 2, 0, 0]);
        assert_eq!(r.records(), 2);
        assert!(r.next().unwrap().is_none());
    }

    #[test]
    fn truncated_header_is_not_a_capture() {
        let r = CaptureReader::new(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0][..]);
        assert!(matches!(r, Err(CaptureError::NotCapture(m)) if m.contains("cut short")));
    }
}
