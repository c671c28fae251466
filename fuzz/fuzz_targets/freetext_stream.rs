//! Streaming free-text scoring over arbitrary key events: scores are finite, and on a
//! time-ordered stream that hits no limit the streaming score equals the batch `window_score`.
#![no_main]
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use kinetype::events::KeyEvent;
use kinetype::freetext::{
    ExtractConfig, FreeTextSample, KeySecret, NgraphRobust, StreamingScorer, window_score,
};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    window: u8,
    max_hold_ms: u16,
    sort: bool,
    /// Key code (a few keys, so n-graphs repeat), press or release, time step or absolute time.
    events: Vec<(u8, bool, i64)>,
}

const SECRET: [u8; 16] = *b"fuzz-key-secret!";

/// Returns the key secret, built once per process because deriving its key classes hashes
/// several thousand n-graphs, more than the rest of a run costs.
fn secret() -> KeySecret {
    static KEY: OnceLock<KeySecret> = OnceLock::new();
    KEY.get_or_init(|| KeySecret::from_bytes(SECRET)).clone()
}

fn model() -> &'static NgraphRobust {
    static MODEL: OnceLock<NgraphRobust> = OnceLock::new();
    MODEL.get_or_init(|| {
        let mut events = Vec::new();
        for (i, code) in b"THE QUICK BROWN FOX".iter().enumerate() {
            let t = i as i64 * 150_000;
            events.push(KeyEvent::press(u32::from(*code), t));
            events.push(KeyEvent::release(u32::from(*code), t + 80_000));
        }
        let secret = secret();
        let (sample, _) = FreeTextSample::from_events(&events, &secret, &ExtractConfig::default());
        NgraphRobust::fit(&[sample], &secret).expect("the enrolment has timings")
    })
}

fuzz_target!(|input: Input| {
    let secret = secret();
    let config = ExtractConfig {
        max_hold_us: i64::from(input.max_hold_ms.max(1)) * 1000,
        ..ExtractConfig::default()
    };
    let window = usize::from(input.window.max(1));
    let mut events: Vec<KeyEvent> = input
        .events
        .iter()
        .map(|&(code, press, time_us)| {
            let code = u32::from(code % 8) + 65;
            if press {
                KeyEvent::press(code, time_us)
            } else {
                KeyEvent::release(code, time_us)
            }
        })
        .collect();
    if input.sort {
        events.sort_by_key(|e| e.time_us);
    }
    let model = model();
    let mut stream = StreamingScorer::new(model, secret.clone(), config, window).expect("valid");
    for &event in &events {
        stream.push(event);
        if let Some(score) = stream.score() {
            assert!(score.is_finite(), "stream score {score}");
        }
    }
    stream.flush();
    let batch = window_score(model, &events, &secret, &config, window).expect("same secret");
    if let Some(score) = batch {
        assert!(score.is_finite(), "batch score {score}");
    }
    let anomalies = stream.anomalies();
    if input.sort && anomalies.over_limit == 0 {
        match (stream.score(), batch) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                assert!(
                    (a - b).abs() <= 1e-9 * (1.0 + b.abs()),
                    "stream {a} vs batch {b}"
                )
            }
            (a, b) => panic!("stream {a:?} vs batch {b:?}"),
        }
    }
});
