//! Start-up pages given back: once a daemon has started, the pages of its own binary that
//! only the start-up touched (option and configuration parsing, the C library's set-up,
//! tables read once) stay mapped, and count in its resident memory, for as long as it runs.
//! [`release_start_up_pages`] unmaps the binary's read-only, file-backed pages from the
//! process; the kernel maps again, from the page cache, those the daemon goes on to use.
//! Nothing is lost: those pages are never written, so the file holds exactly what they held.

use std::ffi::{c_int, c_void};

const PAGE: usize = 4096;

/// The page range `[start, end)` of a loaded segment.
fn pages(base: usize, ph: &libc::Elf64_Phdr) -> (usize, usize) {
    let start = base + ph.p_vaddr as usize;
    let end = start + ph.p_memsz as usize;
    (start & !(PAGE - 1), (end + PAGE - 1) & !(PAGE - 1))
}

/// The parts of the read-only segments' page ranges that no writable segment shares a page
/// with (a page holding the start of the relocated data, for example, must keep its copy).
pub(crate) fn read_only_ranges(base: usize, phdrs: &[libc::Elf64_Phdr]) -> Vec<(usize, usize)> {
    let load = |p: &&libc::Elf64_Phdr| p.p_type == libc::PT_LOAD && p.p_memsz > 0;
    let writable: Vec<(usize, usize)> = phdrs
        .iter()
        .filter(load)
        .filter(|p| p.p_flags & libc::PF_W != 0)
        .map(|p| pages(base, p))
        .collect();
    let mut out = Vec::new();
    for p in phdrs
        .iter()
        .filter(load)
        .filter(|p| p.p_flags & libc::PF_W == 0)
    {
        let (mut s, mut e) = pages(base, p);
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

unsafe extern "C" fn each_object(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut c_void,
) -> c_int {
    // SAFETY: dl_iterate_phdr calls this with a valid `info` for the duration of the call,
    // whose `dlpi_phdr` points at `dlpi_phnum` program headers, and with the `data` pointer
    // given to it below, a `&mut usize` that outlives the call.
    let (info, released) = unsafe { (&*info, &mut *(data as *mut usize)) };
    let phdrs = if info.dlpi_phdr.is_null() {
        &[][..]
    } else {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
    };
    for (s, e) in read_only_ranges(info.dlpi_addr as usize, phdrs) {
        // SAFETY: the range is page-aligned and lies within a read-only, private, file-backed
        // mapping of the program: no page of it was ever written (a writable segment's pages
        // are left out above), so MADV_DONTNEED only drops this process's mapping of page
        // cache pages, which the next access maps again with the same contents.
        if unsafe { libc::madvise(s as *mut c_void, e - s, libc::MADV_DONTNEED) } == 0 {
            *released += e - s;
        }
    }
    // The first object is the program itself: the shared libraries, and the vDSO, are left.
    1
}

/// Unmaps the read-only pages of the running program's own binary from this process (see the
/// module's documentation); returns the bytes of address range given back. Call it once
/// start-up is over, from the thread that goes on. Under a debugger (a tracer) it does
/// nothing. Probes placed in the code by other means before the call (uprobes) are lost.
///
/// Never inlined: `scripts/hot-text.sh` ends the start-up's part of its profile where this
/// is called.
#[inline(never)]
pub fn release_start_up_pages() -> usize {
    let mut released = 0usize;
    if traced() {
        return 0;
    }
    // SAFETY: `each_object` matches the callback's signature and only reads the headers
    // it is given; `released` outlives the call.
    unsafe {
        libc::dl_iterate_phdr(
            Some(each_object),
            &mut released as *mut usize as *mut c_void,
        )
    };
    released
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

    fn ph(flags: u32, vaddr: u64, memsz: u64) -> libc::Elf64_Phdr {
        libc::Elf64_Phdr {
            p_type: libc::PT_LOAD,
            p_flags: flags,
            p_offset: 0,
            p_vaddr: vaddr,
            p_paddr: vaddr,
            p_filesz: memsz,
            p_memsz: memsz,
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
            read_only_ranges(0x1000_0000, &phdrs),
            vec![(0x1020_0000, 0x1027_d000), (0x1027_c000, 0x1028_c000),]
        );
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
