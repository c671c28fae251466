//! `FittedDetector` decoding: a decoded model re-encodes to bytes that decode to the same model, and scores a
//! sample of its dimension with a finite score or an error.
#![no_main]
use kinetype::detectors::{Detector, FittedDetector, VectorDetector};
use kinetype::limits::decode_model;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = decode_model::<FittedDetector>(data) else {
        return;
    };
    // postcard accepts over-long varints, so the input bytes are not always canonical (the
    // fuzzer found `[5, 128, 0, 0]`, which re-encodes as `[5, 0, 0]`). Re-encoding is a fixed
    // point instead: decode(encode(decode(x))) encodes to the same bytes as decode(x).
    let bytes = postcard::to_allocvec(&model).expect("a decoded model encodes");
    let again: FittedDetector = decode_model(&bytes).expect("an encoded model decodes");
    assert_eq!(postcard::to_allocvec(&again).expect("encodes"), bytes);
    let dimension = model.dimension();
    if dimension > 4096 {
        return;
    }
    for value in [0.0, 0.1, -3.5, 1e6] {
        let sample = vec![value; dimension];
        if let Ok(score) = model.score(&sample) {
            assert!(score.is_finite(), "score {score} for {model:?}");
        }
    }
});
