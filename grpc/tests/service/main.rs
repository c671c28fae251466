//! The gRPC service on 127.0.0.1 with an ephemeral port, driven by the generated client.

mod auth;
mod common;
mod flow;
mod limits;
mod real_data;
mod tls;
