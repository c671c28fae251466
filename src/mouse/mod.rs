//! Mouse dynamics: cutting an event stream into actions, per-action features, and per-user
//! models that score actions and sessions.
//!
//! The pipeline follows Antal and Egyed-Zsigmond, "Intrusion detection using mouse dynamics",
//! IET Biometrics, 2019: [`segment`](fn@segment) cuts events into mouse-move, point-and-click and
//! drag-and-drop actions, [`features`] describes each action by a fixed-length vector, a
//! per-user [`forest::RandomForest`] separates the user's actions from other users', and
//! [`score`] aggregates action scores into one score per session. [`one_class`] is a model
//! that needs no other users' data.

pub mod boost;
pub mod features;
pub mod forest;
pub mod one_class;
pub mod score;
pub mod segment;
pub mod two_class;

pub use features::{FEATURE_NAMES, N_FEATURES, action_features};
pub use segment::{
    Action, ActionKind, PathPoint, SegmentParams, SegmentStats, WARP_MS, WARP_PX, is_warp, segment,
    segment_after,
};
