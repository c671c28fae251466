//! `balabit::parse_labels` on arbitrary bytes: an error or at least one label.
#![no_main]
use kinetype::datasets::balabit;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("public_labels.csv");
    if let Ok(labels) = balabit::parse_labels(path, data) {
        assert!(!labels.is_empty());
    }
});
