//! Compiles `proto/kinetype/v1/scoring.proto` with protox (a protobuf compiler in Rust), so the
//! build needs no `protoc` binary and downloads nothing.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto");
    let file = proto_root.join("kinetype/v1/scoring.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    let descriptors = protox::compile([&file], [&proto_root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    // The encoded descriptor set feeds the reflection service.
    std::fs::write(
        out_dir.join("kinetype_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
