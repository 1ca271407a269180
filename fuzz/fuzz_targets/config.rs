//! `tether_fuzzing::config` under libFuzzer (the body lives in crates/fuzzing, which the
//! normal build compiles and replays this target's corpus through).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tether_fuzzing::config(data));
