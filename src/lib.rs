//! kinetype turns raw keyboard and mouse events into timing features, fits a model per user, and
//! scores new input against it.
//!
//! The crate is organised by concept:
//!
//! - [`events`]: raw key events as a browser or desktop agent records them.
//! - [`keystroke`]: fixed-text timing vectors (hold, press-press and release-press times).
//! - [`mouse`]: mouse actions (move, point-and-click, drag-and-drop), their features, and
//!   per-user forests that score sessions.
//! - [`detectors`]: anomaly detectors fitted on one user's vectors; higher scores are more
//!   anomalous.
//! - [`evaluation`]: error-rate metrics and the benchmark protocols that replay public datasets.
//! - [`datasets`]: loaders for the public datasets and the dataset catalog.
//! - [`engine`]: the continuous-authentication engine: enrolment, streaming trust, decisions.
//! - [`store`]: the versioned, checksummed model file format and atomic writes.
//! - [`limits`]: size limits on untrusted input, and model decoding under them.
//!
//! # Example
//!
//! Fit the scaled Manhattan detector on a user's enrolment vectors and score a new attempt:
//!
//! ```
//! use kinetype::detectors::{Detector, DetectorKind, DetectorParams};
//! use ndarray::array;
//!
//! let enrolment = array![[0.10, 0.25, 0.15], [0.12, 0.22, 0.10], [0.11, 0.24, 0.13]];
//! let model = DetectorParams::new(DetectorKind::ManhattanScaled).fit(enrolment.view())?;
//! let close = model.score(&[0.11, 0.24, 0.13])?;
//! let far = model.score(&[0.30, 0.60, 0.40])?;
//! assert!(close < far);
//! # Ok::<(), kinetype::Error>(())
//! ```

#![forbid(unsafe_code)]

pub mod datasets;
pub mod detectors;
pub mod engine;
mod error;
pub mod evaluation;
pub mod events;
pub mod freetext;
pub mod keystroke;
pub mod limits;
mod linalg;
pub mod mouse;
pub mod store;

pub use error::{BatchProblem, EnrolmentProblem, ModelFileProblem};
pub use error::{Error, Result};
