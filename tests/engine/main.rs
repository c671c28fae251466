//! Acceptance tests of the continuous-authentication engine and the model store.

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod concurrency;
mod crash;
mod default_modalities;
mod flow;
mod optional_modalities;
mod restart;
mod schema_upgrade;
mod store_files;
mod training;
