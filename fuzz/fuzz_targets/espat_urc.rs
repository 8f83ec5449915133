//! ESP-AT `+MQTTSUBRECV` (length-framed raw data), `+MQTTDISCONNECTED`, `WIFI DISCONNECT`
//! routing: the modem's output, with or without a command in flight, routed as the engine
//! does; never a panic, and the same messages and outcome in any chunking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modemqtt::fuzzing::{check_dialect, Family};

fuzz_target!(|data: &[u8]| {
    if let Err(e) = check_dialect(Family::EspAt, data) {
        panic!("espat: {e}");
    }
});
