//! `bksd::parse_subject` on arbitrary bytes, with 0 to 19 keys: an error or finite vectors of
//! the feature count.
#![no_main]
use kinetype::datasets::bksd;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&keys, content)) = data.split_first() else {
        return;
    };
    let features = bksd::feature_names(usize::from(keys % 20));
    let path = std::path::Path::new("S1e-ksd.csv");
    let Ok(subject) = bksd::parse_subject(content, path, &features) else {
        return;
    };
    assert_eq!(subject.vectors.ncols(), features.len());
    assert!(subject.vectors.nrows() > 0);
    assert!(subject.vectors.iter().all(|v| v.is_finite()));
});
