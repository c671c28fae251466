//! Free-text model decoding: re-encoding a decoded model is a fixed point, and scores are
//! finite or errors.
#![no_main]
use std::fmt::Debug;

use arbitrary::{Arbitrary, Unstructured};
use kinetype::detectors::Detector;
use kinetype::freetext::{
    AdditiveDetector, Background, FreeTextSample, Fusion, GunettiPicardi, NgraphRatio,
    NgraphRobust, Observation, SessionStats, TimingKind,
};
use kinetype::limits::decode_model;
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Decodes `T`, checks the round trip, and returns the model.
///
/// Models may hold NaN, which is not equal to itself, so equality is checked on encodings:
/// decode(encode(m)) must encode to the same bytes as m. Hash maps encode their entries in
/// ascending key order, so the encoding does not depend on a map's capacity.
fn round_trip<T: DeserializeOwned + Serialize + Debug>(data: &[u8]) -> Option<T> {
    let model: T = decode_model(data).ok()?;
    let bytes = postcard::to_allocvec(&model).expect("a decoded model encodes");
    let again: T = decode_model(&bytes).expect("an encoded model decodes");
    assert_eq!(postcard::to_allocvec(&again).expect("encodes"), bytes);
    Some(model)
}

/// A sample hashed with `fingerprint`, built from the fuzzer's remaining bytes.
fn sample(fingerprint: u64, u: &mut Unstructured<'_>) -> FreeTextSample {
    let kinds = TimingKind::ALL;
    let mut observations = Vec::new();
    while observations.len() < 64 && !u.is_empty() {
        let Ok((ngraph, class, kind, value_ms)) = <(u64, u64, u8, f64)>::arbitrary(u) else {
            break;
        };
        observations.push(Observation {
            ngraph,
            class,
            kind: kinds[usize::from(kind) % kinds.len()],
            value_ms: if value_ms.is_finite() {
                value_ms
            } else {
                100.0
            },
        });
    }
    FreeTextSample {
        secret_fingerprint: fingerprint,
        observations,
        stats: SessionStats::default(),
    }
}

fn check_additive<D: AdditiveDetector + Detector<FreeTextSample>>(model: &D, rest: &[u8]) {
    let sample = sample(model.secret_fingerprint(), &mut Unstructured::new(rest));
    if let Ok(score) = model.score(&sample) {
        assert!(score.is_finite(), "score {score}");
    }
}

fuzz_target!(|data: &[u8]| {
    // First byte: model type; next two: length of the model bytes; then the model, then bytes
    // for a sample to score.
    let [kind, high, low, rest @ ..] = data else {
        return;
    };
    let length = usize::from(u16::from_be_bytes([*high, *low])).min(rest.len());
    let (model, extra) = rest.split_at(length);
    match kind % 5 {
        0 => {
            if let Some(m) = round_trip::<NgraphRobust>(model) {
                check_additive(&m, extra);
            }
        }
        1 => {
            if let Some(m) = round_trip::<NgraphRatio>(model) {
                check_additive(&m, extra);
            }
        }
        2 => {
            round_trip::<GunettiPicardi>(model);
        }
        3 => {
            if let Some(fusion) = round_trip::<Fusion>(model) {
                let scores = vec![0.5; fusion.weights.len()];
                if let Ok(s) = fusion.combine(&scores) {
                    assert!(s.is_finite(), "fused score {s}");
                }
            }
        }
        _ => {
            round_trip::<Background>(model);
        }
    }
});
