//! libFuzzer entry point of the `protobuf` target; the body is `fuzzing::wire::protobuf`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::wire::protobuf(data));
