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

mod extract;
mod fusion;
mod gp;
mod keys;
mod ngraph;
mod stream;
mod table;

pub use extract::{
    Anomalies, ExtractConfig, FreeTextSample, Keystroke, Observation, SessionStats, TimingKind,
    keystrokes,
};
pub use fusion::Fusion;
pub use gp::{A_RATIO, GpMeasure, GunettiPicardi};
pub use keys::KeySecret;
pub use ngraph::{AdditiveDetector, Background, NgraphRatio, NgraphRobust};
pub use stream::{StreamingScorer, window_score};

#[cfg(test)]
mod tests;
