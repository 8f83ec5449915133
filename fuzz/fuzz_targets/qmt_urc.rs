//! QMT `+QMTRECV` (inline, buffer notices, length-less form), `+QMTSTAT` and `+QIURC`
//! routing: the modem's output, with or without a command in flight, routed as the engine
//! does; never a panic, and the same messages and outcome in any chunking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modemqtt::fuzzing::{check_dialect, Family};

fuzz_target!(|data: &[u8]| {
    if let Err(e) = check_dialect(Family::Qmt, data) {
        panic!("qmt: {e}");
    }
});
