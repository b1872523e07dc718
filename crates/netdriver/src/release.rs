//! Start-up pages given back: once a daemon has started, the pages of its own binary that
//! only the start-up touched (option and configuration parsing, the C library's set-up,
//! tables read once) stay mapped, and count in its resident memory, for as long as it runs.
//! [`release_start_up_pages`] unmaps the binary's read-only, file-backed pages from the
//! process; the kernel maps again, from the page cache, those the daemon goes on to use.
//! Nothing is lost: only pages that are the file's own (not private copies, which a text
//! relocation, a debugger's breakpoint or a uprobe makes) are dropped, and the file holds
//! exactly what they held.

use std::ffi::{c_int, c_void};
use std::fs::File;
use std::os::unix::fs::FileExt;

#[cfg(target_pointer_width = "64")]
type Phdr = libc::Elf64_Phdr;
#[cfg(target_pointer_width = "32")]
type Phdr = libc::Elf32_Phdr;

/// The page range `[start, end)` of a loaded segment.
fn pages(base: usize, ph: &Phdr, page: usize) -> (usize, usize) {
    let start = base + ph.p_vaddr as usize;
    let end = start + ph.p_memsz as usize;
    (start & !(page - 1), (end + page - 1) & !(page - 1))
}

/// The parts of the read-only segments' page ranges that no writable segment shares a page
/// with (a page holding the start of the relocated data, for example, must keep its copy).
pub(crate) fn read_only_ranges(base: usize, phdrs: &[Phdr], page: usize) -> Vec<(usize, usize)> {
    let load = |p: &&Phdr| p.p_type == libc::PT_LOAD && p.p_memsz > 0;
    let writable: Vec<(usize, usize)> = phdrs
        .iter()
        .filter(load)
        .filter(|p| p.p_flags & libc::PF_W != 0)
        .map(|p| pages(base, p, page))
        .collect();
    let mut out = Vec::new();
    for p in phdrs
        .iter()
        .filter(load)
        .filter(|p| p.p_flags & libc::PF_W == 0)
    {
        let (mut s, mut e) = pages(base, p, page);
        for &(ws, we) in &writable {
            if ws < e && s < we {
                if ws <= s {
                    s = we.min(e);
                } else {
                    e = ws;
                }
            }
        }
        if s < e {
            out.push((s, e));
        }
    }
    out
}

/// A page whose pagemap entry says it is the file's own or absent: present and mapped from
/// the file (bit 63 and bit 61), or neither present nor swapped (bits 63 and 62 clear). A
/// private copy (present and anonymous, or swapped out) is not.
fn droppable(entry: u64) -> bool {
    let present = entry & (1 << 63) != 0;
    let swapped = entry & (1 << 62) != 0;
    let file = entry & (1 << 61) != 0;
    if present {
        file
    } else {
        !swapped
    }
}

/// The runs of droppable pages of `[start, end)`, from `/proc/self/pagemap` (one 8-byte
/// entry per page); nothing when it cannot be read.
fn droppable_runs(pagemap: &File, start: usize, end: usize, page: usize) -> Vec<(usize, usize)> {
    let n = (end - start) / page;
    let mut raw = vec![0u8; n * 8];
    if pagemap
        .read_exact_at(&mut raw, (start / page * 8) as u64)
        .is_err()
    {
        return Vec::new();
    }
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (i, e) in raw.chunks_exact(8).enumerate() {
        let Ok(entry) = <[u8; 8]>::try_from(e).map(u64::from_ne_bytes) else {
            continue;
        };
        if !droppable(entry) {
            continue;
        }
        let at = start + i * page;
        match runs.last_mut() {
            Some(r) if r.1 == at => r.1 = at + page,
            _ => runs.push((at, at + page)),
        }
    }
    runs
}

struct Walk {
    pagemap: File,
    page: usize,
    released: usize,
}

unsafe extern "C" fn each_object(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut c_void,
) -> c_int {
    // SAFETY: dl_iterate_phdr calls this with a valid `info` for the duration of the call,
    // whose `dlpi_phdr` points at `dlpi_phnum` program headers, and with the `data` pointer
    // given to it below, a `&mut Walk` that outlives the call.
    let (info, walk) = unsafe { (&*info, &mut *(data as *mut Walk)) };
    let phdrs = if info.dlpi_phdr.is_null() {
        &[][..]
    } else {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
    };
    for (s, e) in read_only_ranges(info.dlpi_addr as usize, phdrs, walk.page) {
        for (s, e) in droppable_runs(&walk.pagemap, s, e, walk.page) {
            // SAFETY: the run is page-aligned and lies within a read-only, private,
            // file-backed mapping of the program (a writable segment's pages are left out
            // above), and each of its pages is either absent or the page cache's own (not a
            // private copy): MADV_DONTNEED only drops this process's mapping of them, and
            // the next access maps the file's page again, with the same contents.
            if unsafe { libc::madvise(s as *mut c_void, e - s, libc::MADV_DONTNEED) } == 0 {
                walk.released += e - s;
            }
        }
    }
    // The first object is the program itself: the shared libraries, and the vDSO, are left.
    1
}

/// Unmaps the read-only pages of the running program's own binary from this process (see the
/// module's documentation); returns the bytes of address range given back. Call it once
/// start-up is over, from the thread that goes on. Under a debugger (a tracer), or when the
/// binary lies on a network or user-space file system (NFS, FUSE, SMB, 9P, ...), it does
/// nothing; a page it cannot tell to be the file's own (a private copy: a text relocation,
/// a uprobe) is kept.
///
/// Never inlined: `scripts/hot-text.sh` ends the start-up's part of its profile where this
/// is called.
#[inline(never)]
pub fn release_start_up_pages() -> usize {
    if traced() || on_remote_fs() {
        return 0;
    }
    let Some(page) = page_size() else {
        return 0;
    };
    // Without the page map, private copies cannot be told apart: nothing is given back.
    let Ok(pagemap) = File::open("/proc/self/pagemap") else {
        return 0;
    };
    let mut walk = Walk {
        pagemap,
        page,
        released: 0,
    };
    // SAFETY: `each_object` matches the callback's signature and only reads the headers
    // it is given; `walk` outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(each_object), &mut walk as *mut Walk as *mut c_void) };
    walk.released
}

/// The system's page size, if it is a power of two.
fn page_size() -> Option<usize> {
    // SAFETY: sysconf only reads a system parameter.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
        .ok()
        .filter(|p| p.is_power_of_two())
}

/// File systems whose pages may fail to come back: network file systems (their server gone,
/// or reached through this daemon's own routes) and user-space ones (their daemon gone).
const REMOTE_FS: [u32; 12] = [
    0x6969,      // NFS
    0x6573_5546, // FUSE
    0x517b,      // SMB
    0xff53_4d42, // CIFS
    0xfe53_4d42, // SMB2
    0x0102_1997, // 9P
    0x00c3_6400, // Ceph
    0x5346_414f, // AFS
    0x7375_7245, // Coda
    0x564c,      // NCP
    0x7461_636f, // OCFS2
    0x0116_1970, // GFS2
];

/// Whether the program's file lies on a file system of [`REMOTE_FS`] (or cannot be told).
fn on_remote_fs() -> bool {
    match nix::sys::statfs::statfs("/proc/self/exe") {
        // The magic numbers are 32 bits; the field is a C long.
        Ok(st) => REMOTE_FS.contains(&(st.filesystem_type().0 as u32)),
        Err(_) => true,
    }
}

/// Whether a debugger traces this process: its breakpoints are private copies of code pages,
/// which giving the pages back would drop.
fn traced() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("TracerPid:"))
            .is_some_and(|pid| pid.trim() != "0")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ph(flags: u32, vaddr: u32, memsz: u32) -> Phdr {
        Phdr {
            p_type: libc::PT_LOAD,
            p_flags: flags,
            p_offset: 0,
            p_vaddr: vaddr.into(),
            p_paddr: vaddr.into(),
            p_filesz: memsz.into(),
            p_memsz: memsz.into(),
            p_align: 0x1000,
        }
    }

    #[test]
    fn a_page_shared_with_writable_data_is_kept() {
        // Read-only data, code sharing its first page with the end of the read-only data,
        // then relocated data starting in the code's last page.
        let phdrs = [
            ph(libc::PF_R, 0x20_0000, 0x7_c08c),
            ph(libc::PF_R | libc::PF_X, 0x27_c08c, 0x1_0000),
            ph(libc::PF_R | libc::PF_W, 0x28_c0f0, 0x3000),
        ];
        assert_eq!(
            read_only_ranges(0x1000_0000, &phdrs, 0x1000),
            vec![(0x1020_0000, 0x1027_d000), (0x1027_c000, 0x1028_c000),]
        );
    }

    #[test]
    fn only_the_files_own_pages_and_absent_ones_are_dropped() {
        let (present, swapped, file) = (1u64 << 63, 1u64 << 62, 1u64 << 61);
        assert!(droppable(present | file | 0x1234));
        assert!(droppable(0));
        assert!(!droppable(present | 0x1234), "a private copy");
        assert!(!droppable(swapped | 0x55), "a private copy, swapped out");
    }

    #[test]
    fn pages_of_a_binary_on_a_network_file_system_are_kept() {
        assert!(REMOTE_FS.contains(&0x6969), "NFS");
        assert!(REMOTE_FS.contains(&0x6573_5546), "FUSE");
        assert!(!REMOTE_FS.contains(&0xef53), "ext4");
        assert!(!REMOTE_FS.contains(&0x0102_1994), "tmpfs");
    }

    /// A read-only table of the test binary, one page of which gets a private copy.
    static TABLE: [u8; 16384] = [7; 16384];

    #[test]
    fn a_private_copy_of_a_read_only_page_is_kept() {
        if traced() {
            eprintln!("skipped: under a debugger, nothing is given back");
            return;
        }
        let page = page_size().unwrap();
        let at = (TABLE.as_ptr() as usize + page - 1) & !(page - 1);
        assert!(at + page <= TABLE.as_ptr() as usize + TABLE.len());
        // What a text relocation or a debugger's breakpoint does: the page made writable,
        // written (the kernel gives this process its own copy of it), made read-only again.
        // SAFETY: `at` is a page of TABLE's private mapping; no reference to TABLE reads
        // the byte while it changes (reads go through read_volatile).
        unsafe {
            assert_eq!(
                libc::mprotect(at as *mut c_void, page, libc::PROT_READ | libc::PROT_WRITE),
                0
            );
            std::ptr::write_volatile(at as *mut u8, 42);
            assert_eq!(libc::mprotect(at as *mut c_void, page, libc::PROT_READ), 0);
        }
        assert!(release_start_up_pages() > 0, "nothing given back");
        // SAFETY: `at` lies within TABLE.
        let after = unsafe { std::ptr::read_volatile(at as *const u8) };
        assert_eq!(after, 42, "the private copy was dropped");
    }

    /// Resident pages of mapped files, from /proc/self/status.
    fn rss_file_kb() -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("RssFile:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    #[test]
    fn the_program_keeps_running_after_its_pages_are_given_back() {
        if traced() {
            eprintln!("skipped: under a debugger, nothing is given back");
            return;
        }
        let before: u64 = (1..=20).product();
        let resident = rss_file_kb();
        let released = release_start_up_pages();
        let after_release = rss_file_kb();
        assert!(released > 0, "nothing given back");
        assert!(
            after_release < resident,
            "file-backed RSS {resident} kB before, {after_release} kB after"
        );
        // Code and read-only data used after the release come back from the file.
        let after: u64 = (1..=20).product();
        assert_eq!(before, after);
        assert_eq!(format!("{:?}", [1.5f64, 2.25]), "[1.5, 2.25]");
    }
}
