//! Mouse model decoding: a decoded forest or booster re-encodes to bytes that decode to the
//! same model and predicts a probability in 0..=1 without panicking or looping.
#![no_main]
use kinetype::limits::decode_model;
use kinetype::mouse::boost::BoostedTrees;
use kinetype::mouse::forest::RandomForest;
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Checks one model type on the input; `n_features` and `predict` give the model's width and
/// its probability for a row.
fn check<M: Serialize + DeserializeOwned>(
    data: &[u8],
    n_features: impl Fn(&M) -> usize,
    predict: impl Fn(&M, &[f64]) -> f64,
) {
    let Ok(model) = decode_model::<M>(data) else {
        return;
    };
    // postcard accepts over-long varints, so the input bytes are not always canonical (the
    // fuzzer found `[5, 128, 0, 0]`, which re-encodes as `[5, 0, 0]`). Re-encoding is a fixed
    // point instead: decode(encode(decode(x))) encodes to the same bytes as decode(x).
    let bytes = postcard::to_allocvec(&model).expect("a decoded model encodes");
    let again: M = decode_model(&bytes).expect("an encoded model decodes");
    assert_eq!(postcard::to_allocvec(&again).expect("encodes"), bytes);
    if n_features(&model) > 4096 {
        return;
    }
    for value in [0.0, 0.5, -1e9, 1e9] {
        let row = vec![value; n_features(&model)];
        let p = predict(&model, &row);
        assert!((0.0..=1.0).contains(&p), "probability {p}");
    }
}

fuzz_target!(|data: &[u8]| {
    check::<RandomForest>(data, RandomForest::n_features, |m, row| {
        m.predict_proba(row).expect("a row of the right length is valid")
    });
    check::<BoostedTrees>(data, BoostedTrees::n_features, |m, row| {
        m.predict_proba(row).expect("a row of the right length is valid")
    });
});
