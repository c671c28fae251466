//! Free-text keystroke authentication: timings of whatever the user types, scored against a
//! per-user model of n-graph timings, in batch or as a stream.
//!
//! - [`keystrokes`] pairs raw [`KeyEvent`](crate::events::KeyEvent)s into keystrokes and
//!   [`FreeTextSample`] turns them into hashed n-graph timings ([`Observation`]).
//! - Detectors implement [`Detector<FreeTextSample>`](crate::detectors::Detector).
//! - [`StreamingScorer`] updates a windowed score one event at a time.
//!
//! Key identities are stored only as keyed hashes; see [`KeySecret`].

mod extract;
mod keys;

pub use extract::{
    Anomalies, ExtractConfig, FreeTextSample, Keystroke, Observation, SessionStats, TimingKind,
    keystrokes,
};
pub use keys::KeySecret;
