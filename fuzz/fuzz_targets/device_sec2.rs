//! libFuzzer entry point of the `device_sec2` target; the body is `fuzzing::device::run_sec2`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::device::run_sec2(data));
