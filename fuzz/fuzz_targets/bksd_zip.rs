//! `bksd::load_reader` on arbitrary archive bytes: never a panic, and a loaded set has the
//! published shape.
#![no_main]
use kinetype::datasets::bksd::{self, BksdSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cursor = std::io::Cursor::new(data);
    let set = BksdSet::PasswordEnglish;
    let Ok(dataset) = bksd::load_reader(set, cursor, std::path::Path::new("fuzz.zip")) else {
        return;
    };
    assert_eq!(dataset.subjects.len(), set.subjects());
    for subject in &dataset.subjects {
        assert_eq!(subject.vectors.ncols(), dataset.dimension());
    }
});
