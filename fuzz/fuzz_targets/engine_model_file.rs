//! The engine's model file: envelope and `UserModel` payload decoding, then use of a decoded
//! model by an engine.
//!
//! The first byte picks what the rest is:
//! - 0: a whole file, envelope included.
//! - 1: a payload, wrapped in a valid envelope so the checksum does not hide the decoder.
//! - 2: edits `(offset u16 big-endian, byte)` applied to a real enrolled user's payload, then
//!   wrapped, so mutations start from a structurally valid model.
//!
//! Invariants: decoding fails only with `Error::ModelFile`; a decoded model re-encodes to a
//! fixed point; an engine that loads it either rejects it with `Error::ModelFile` (templates
//! for other modalities) or scores sessions with trust and thresholds in [0, 1], before and
//! after ingesting a genuine-looking batch.
#![no_main]

#[path = "common/engine_fixture.rs"]
mod fixture;

use std::path::Path;

use kinetype::Error;
use kinetype::engine::{DefaultEngine, FreeTextModality, Modality, MouseModality, UserModel};
use kinetype::store::{Header, decode_file, encode_file, envelope};
use libfuzzer_sys::fuzz_target;

type Model = UserModel<<FreeTextModality as Modality>::Model, <MouseModality as Modality>::Model>;

/// Returns the payload of a valid envelope.
fn payload_of(file: &[u8], header: &Header) -> Vec<u8> {
    envelope::decode(Path::new("reference"), file, header)
        .expect("the reference file is valid")
        .to_vec()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let header = DefaultEngine::model_header();
    let file = match mode % 3 {
        0 => rest.to_vec(),
        1 => envelope::encode(&header, rest),
        _ => {
            let mut payload = payload_of(fixture::model_file(), &header);
            for edit in rest.chunks_exact(3) {
                let offset = usize::from(u16::from_be_bytes([edit[0], edit[1]]));
                if let Some(byte) = payload.get_mut(offset) {
                    *byte = edit[2];
                }
            }
            envelope::encode(&header, &payload)
        }
    };
    let model = match decode_file::<Model>(Path::new("fuzz.ktm"), &file, &header) {
        Ok(model) => model,
        Err(Error::ModelFile { .. }) => return,
        Err(other) => panic!("decode failed with {other:?}, not a ModelFile error"),
    };
    let bytes = encode_file(&header, &model).expect("a decoded model encodes");
    let again: Model =
        decode_file(Path::new("again.ktm"), &bytes, &header).expect("an encoded model decodes");
    assert_eq!(encode_file(&header, &again).expect("encodes"), bytes);

    let dir = fixture::scratch_dir("model-file");
    fixture::install_model(&dir, &file);
    let (engine, clock) = fixture::engine(Some(dir), 0);
    // A model whose templates do not match the engine's modalities is rejected when loaded.
    let score = match engine.score(fixture::USER, 1) {
        Ok(score) => score,
        Err(Error::ModelFile { .. }) => return,
        Err(e) => panic!("a decoded model failed to score an empty session: {e}"),
    };
    fixture::check_score(&score);
    let keys = fixture::typing(1, 3, 77);
    let mouse = fixture::mousing(1, 12, 77);
    engine
        .ingest_keyboard(fixture::USER, 1, &keys)
        .expect("valid keyboard batch");
    engine
        .ingest_mouse(fixture::USER, 1, &mouse)
        .expect("valid mouse batch");
    clock.advance_us(1_000_000);
    let score = engine.score(fixture::USER, 1).expect("scores");
    fixture::check_score(&score);
    let _ = engine.decide(fixture::USER, 1).expect("decides");
});
