//! libFuzzer entry point of the `ble` target; the body is `fuzzing::transport::ble`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::transport::ble(data));
