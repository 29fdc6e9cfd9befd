//! libFuzzer entry point of the `client` target; the body is `fuzzing::wire::client`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::wire::client(data));
