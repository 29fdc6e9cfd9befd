//! libFuzzer entry point of the `files` target; the body is `fuzzing::files::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::files::run(data));
