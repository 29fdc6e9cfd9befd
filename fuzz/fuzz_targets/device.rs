//! libFuzzer entry point of the `device` target; the body is `fuzzing::device::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::device::run(data));
