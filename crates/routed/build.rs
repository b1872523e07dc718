//! Release builds of the daemon on Linux link with `hot-text.ld`: the functions a running
//! daemon executes are put together at the start of its code (see that file), and the
//! segments are aligned to the page cache's folios.

use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=hot-text.ld");
    println!("cargo:rerun-if-changed=build.rs");
    let linux = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let Ok(dir) = env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    if linux && release {
        let script = Path::new(&dir).join("hot-text.ld");
        println!(
            "cargo:rustc-link-arg-bin=routed=-Wl,-T,{}",
            script.display()
        );
        // Each segment at an address congruent to its file offset modulo 2 MiB: the page
        // cache holds the binary in naturally aligned folios (64 KiB here), and Linux maps a
        // fault's 64 KiB fault-around block and the whole folios under it. With lld's
        // default 4 KiB alignment the code segment sat one page off the folios, so every
        // block touched mapped two folios (docs/performance.md, "Resident code").
        println!("cargo:rustc-link-arg-bin=routed=-Wl,-z,max-page-size=2097152");
    }
}
