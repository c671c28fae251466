//! Mouse forest decoding: a decoded forest re-encodes to bytes that decode to the same model and predicts a
//! probability in 0..=1 without panicking or looping.
#![no_main]
use kinetype::limits::decode_model;
use kinetype::mouse::forest::RandomForest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(forest) = decode_model::<RandomForest>(data) else {
        return;
    };
    // postcard accepts over-long varints, so the input bytes are not always canonical (the
    // fuzzer found `[5, 128, 0, 0]`, which re-encodes as `[5, 0, 0]`). Re-encoding is a fixed
    // point instead: decode(encode(decode(x))) encodes to the same bytes as decode(x).
    let bytes = postcard::to_allocvec(&forest).expect("a decoded model encodes");
    let again: RandomForest = decode_model(&bytes).expect("an encoded model decodes");
    assert_eq!(postcard::to_allocvec(&again).expect("encodes"), bytes);
    if forest.n_features() > 4096 {
        return;
    }
    for value in [0.0, 0.5, -1e9, 1e9] {
        let row = vec![value; forest.n_features()];
        let p = forest
            .predict_proba(&row)
            .expect("a row of the right length is valid");
        assert!((0.0..=1.0).contains(&p), "probability {p}");
    }
});
