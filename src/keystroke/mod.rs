//! Keystroke timing features.

mod fixed;

pub use fixed::{FixedPhrase, TimingVector};
