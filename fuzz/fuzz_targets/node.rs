#![no_main]
//! Feeds one `Node` an arbitrary sequence of datagrams (raw and well-formed), interface
//! events, commands and time steps. The driver (`babel_core::testing::fuzz_node`) asserts
//! that nothing panics and that every table and queue stays within its configured bound.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    babel_core::testing::fuzz_node(data);
});
