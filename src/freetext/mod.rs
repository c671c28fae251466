//! Free-text keystroke authentication: timings of whatever the user types, scored against a
//! per-user model of n-graph timings, in batch or as a stream.
//!
//! - [`keystrokes`] pairs raw [`KeyEvent`](crate::events::KeyEvent)s into keystrokes and
//!   [`FreeTextSample`] turns them into hashed n-graph timings ([`Observation`]).
//! - Detectors implement [`Detector<FreeTextSample>`](crate::detectors::Detector):
//!   [`GunettiPicardi`] (R and A measures), [`NgraphRobust`] (robust per-n-graph distance
//!   with back-off to key classes) and [`NgraphRatio`] (likelihood ratio against a
//!   [`Background`] population). [`Fusion`] combines their scores.
//! - [`StreamingScorer`] updates a windowed score one event at a time.
//!
//! Key identities are stored only as keyed hashes; see [`KeySecret`].
//!
//! # Example
//!
//! Enrol on one stretch of typing, then score new typing event by event:
//!
//! ```
//! use kinetype::events::KeyEvent;
//! use kinetype::freetext::{
//!     ExtractConfig, FreeTextSample, KeySecret, NgraphRobust, StreamingScorer,
//! };
//!
//! // Browser key codes of "HELLO THERE", one key every 180 ms, each held 90 ms.
//! let typing = |start_us: i64| -> Vec<KeyEvent> {
//!     let mut events = Vec::new();
//!     for (i, code) in [72, 69, 76, 76, 79, 32, 84, 72, 69, 82, 69].into_iter().enumerate() {
//!         let t = start_us + i as i64 * 180_000;
//!         events.push(KeyEvent::press(code, t));
//!         events.push(KeyEvent::release(code, t + 90_000));
//!     }
//!     events
//! };
//! let secret = KeySecret::from_bytes([42; 16]);
//! let config = ExtractConfig::default();
//! let (enrolment, _) = FreeTextSample::from_events(&typing(0), &secret, &config);
//! let model = NgraphRobust::fit(&[enrolment], &secret)?;
//!
//! let mut stream = StreamingScorer::new(&model, secret, config, 50)?;
//! for event in typing(10_000_000) {
//!     stream.push(event);
//! }
//! let score = stream.score().expect("some keys were released");
//! assert!(score < 0.5);
//! # Ok::<(), kinetype::Error>(())
//! ```

mod extract;
mod fusion;
mod gp;
mod keys;
mod ngraph;
mod stream;
mod table;

pub(crate) use extract::push_observations;
pub use extract::{
    Anomalies, ExtractConfig, FreeTextSample, Keystroke, Observation, SessionStats, TimingKind,
    keystrokes,
};
pub use fusion::{Fusion, UserScores};
pub use gp::{A_RATIO, GpMeasure, GunettiPicardi};
pub use keys::KeySecret;
pub use ngraph::{AdditiveDetector, Background, NgraphRatio, NgraphRobust, TimingScale};
pub use stream::{StreamingScorer, window_score};

#[cfg(test)]
mod tests;
