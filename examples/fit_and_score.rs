//! Fits a detector on one user's timing vectors and scores new attempts, using the library API
//! directly.
//!
//! With the CMU file available (`KINETYPE_DATA_DIR` or `./datasets`), it enrols subject s002 on
//! its first 200 repetitions and scores one of its later repetitions and one of subject s003's:
//!
//! ```text
//! cargo run --release --example fit_and_score
//! ```
//!
//! Without the file it builds timing vectors from raw key events instead.

use kinetype::datasets::{catalog, dsl};
use kinetype::detectors::{Detector, DetectorKind, DetectorParams};
use kinetype::events::KeyEvent;
use kinetype::keystroke::FixedPhrase;
use ndarray::{Array2, s};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = catalog::data_root(None);
    let path = root.join(dsl::NAME).join(dsl::FILE_NAME);
    if path.is_file() {
        let data = dsl::load(&path)?;
        let genuine = &data.subjects[0];
        let other = &data.subjects[1];
        let params = DetectorParams::new(DetectorKind::ManhattanScaled);
        let model = params.fit(genuine.vectors.slice(s![..200, ..]))?;
        let later = genuine.vectors.row(250).to_vec();
        let stranger = other.vectors.row(0).to_vec();
        println!(
            "{} enrolled on 200 repetitions with {}",
            genuine.id, params.kind
        );
        println!(
            "  score of its own repetition 251: {:.3}",
            model.score(&later)?
        );
        println!(
            "  score of {}'s first repetition:  {:.3}",
            other.id,
            model.score(&stranger)?
        );
        return Ok(());
    }

    println!("{} not found; using synthetic key events", path.display());
    let phrase = FixedPhrase::new(vec![4, 5, 6], vec!["a".into(), "b".into(), "c".into()])?;
    // Enrolment: the user types a-b-c with ~100 ms holds and ~200 ms between presses.
    let mut rows = Vec::new();
    for i in 0..20_i64 {
        // Deterministic jitter of a few milliseconds on every event.
        let jitter = |k: i64| ((i * 7 + k * 3) % 11) * 1_500;
        let events = [
            KeyEvent::press(4, 0),
            KeyEvent::release(4, 100_000 + jitter(1)),
            KeyEvent::press(5, 200_000 + jitter(2)),
            KeyEvent::release(5, 290_000 + jitter(3)),
            KeyEvent::press(6, 410_000 + jitter(4)),
            KeyEvent::release(6, 520_000 + jitter(5)),
        ];
        rows.extend(phrase.timing_vector(&events, &[])?.values);
    }
    let enrolment = Array2::from_shape_vec((20, phrase.dimension()), rows)?;
    let model = DetectorParams::new(DetectorKind::ManhattanScaled).fit(enrolment.view())?;
    let attempt = [
        KeyEvent::press(4, 0),
        KeyEvent::release(4, 300_000),
        KeyEvent::press(5, 900_000),
        KeyEvent::release(5, 1_000_000),
        KeyEvent::press(6, 1_400_000),
        KeyEvent::release(6, 1_450_000),
    ];
    let genuine = enrolment.row(3).to_vec();
    let slow = phrase.timing_vector(&attempt, &[])?.values;
    println!("genuine-like attempt: {:.2}", model.score(&genuine)?);
    println!("slow attempt:         {:.2}", model.score(&slow)?);
    Ok(())
}
