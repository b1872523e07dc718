//! The state file: the router-id and seqno kept across restarts, in babeld's format
//! (`ROUTER-ID SEQNO [UNIX-TIME]` on one line), written atomically.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use babel_core::wire::RouterId;

/// What a state file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub router_id: RouterId,
    pub seqno: u16,
}

/// Longest state file read (babeld's own is one short line).
const MAX_STATE: u64 = 512;

/// Parses a state file's text. `None` for anything malformed.
pub fn parse(text: &str) -> Option<State> {
    let mut words = text.split_whitespace();
    let router_id: RouterId = words.next()?.parse().ok()?;
    let seqno: u32 = words.next()?.parse().ok()?;
    let seqno = u16::try_from(seqno).ok()?;
    if !router_id.is_valid() {
        return None;
    }
    Some(State { router_id, seqno })
}

/// Reads the state file. `Ok(None)` when it does not exist; a malformed file is an error
/// the caller reports and ignores.
pub fn read(path: &Path) -> io::Result<Option<State>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    io::Read::read_to_string(&mut io::Read::take(f, MAX_STATE), &mut text)?;
    match parse(&text) {
        Some(s) => Ok(Some(s)),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "malformed state file",
        )),
    }
}

/// Writes the state atomically: a temporary file in the same directory, fsync, rename, and
/// an fsync of the directory, so a crash leaves either the old or the new file.
pub fn write(path: &Path, s: &State) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "state file has no name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        writeln!(f, "{} {} {}", s.router_id, s.seqno, now)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_babeld_format() {
        let dir = std::env::temp_dir().join(format!("routed-state-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("babel-state");
        assert_eq!(read(&path).unwrap(), None);
        let s = State {
            router_id: RouterId([2, 0, 0, 0, 0, 0, 0, 9]),
            seqno: 65535,
        };
        write(&path, &s).unwrap();
        assert_eq!(read(&path).unwrap(), Some(s));
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("02:00:00:00:00:00:00:09 65535 "), "{text}");
        // babeld's own line (id, seqno, time) reads back.
        assert_eq!(
            parse("02:11:22:ff:fe:33:44:55 1234 1700000000\n").map(|s| s.seqno),
            Some(1234)
        );
        for bad in [
            "",
            "garbage",
            "02:11:22:ff:fe:33:44:55",
            "02:11:22:ff:fe:33:44:55 70000",
            "00:00:00:00:00:00:00:00 5",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        fs::write(&path, "nonsense").unwrap();
        assert!(read(&path).is_err());
        // No temporary file is left behind.
        write(&path, &s).unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
