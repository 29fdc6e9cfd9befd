//! libFuzzer entry point of the `http` target; the body is `fuzzing::transport::http`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::transport::http(data));
