#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| microdense_fuzz::tflite_import(data));
