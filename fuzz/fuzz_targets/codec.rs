//! `Decoder::feed`: any chunking of the modem's output gives the frames of a single feed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = modemqtt::fuzzing::check_codec(data) {
        panic!("codec: {e}");
    }
});
