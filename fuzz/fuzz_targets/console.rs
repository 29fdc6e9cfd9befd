//! libFuzzer entry point of the `console` target; the body is `fuzzing::transport::console`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::transport::console(data));
