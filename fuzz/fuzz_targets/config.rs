#![no_main]
//! Feeds arbitrary text to the configuration parser as a whole file, as single statements and
//! as a NUL-separated command line. Nothing may panic, a file error must name a line that
//! exists, and every statement that parses prints back to text that parses to the same
//! statement.

use libfuzzer_sys::fuzz_target;
use routed::config::{parse_args, parse_statement, Config, ConfigError};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut config = Config::default();
    match config.apply_text(&text, Path::new("fuzz.conf")) {
        Ok(()) => {}
        Err(ConfigError::File { line, .. }) => {
            assert!(
                line >= 1 && line <= text.split('\n').count(),
                "line {line} out of range"
            )
        }
        Err(e) => panic!("unexpected error kind for file text: {e:?}"),
    }
    for line in text.split('\n') {
        if let Ok(Some(stmt)) = parse_statement(line) {
            let printed = stmt.to_string();
            assert_eq!(
                parse_statement(&printed),
                Ok(Some(stmt.clone())),
                "{line:?} printed as {printed:?}"
            );
            let _ = Config::default().apply(stmt);
        }
    }
    // parse_args reads no files: -c only records the name.
    let args: Vec<String> = text.split('\0').map(str::to_string).collect();
    let _ = parse_args(args);
});
