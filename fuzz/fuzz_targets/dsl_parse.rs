//! `dsl::parse` on arbitrary bytes: an error or a consistent, finite dataset.
#![no_main]
use kinetype::datasets::dsl;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dataset) = dsl::parse(data, std::path::Path::new("fuzz.csv")) else {
        return;
    };
    for subject in &dataset.subjects {
        assert_eq!(subject.vectors.ncols(), dataset.dimension());
        assert!(subject.vectors.iter().all(|v| v.is_finite()));
        if let Some(sessions) = &subject.sessions {
            assert_eq!(sessions.len(), subject.vectors.nrows());
        }
    }
});
