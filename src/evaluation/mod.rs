//! Error-rate metrics and the protocols that replay public datasets.

pub mod attack;
pub mod background;
pub mod balabit;
pub mod continuous;
pub mod fixed_text;
pub mod metrics;
pub mod published;
