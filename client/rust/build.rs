// Generates the gRPC client from the one contract in the repository's proto/
// directory at build time (protoc from Debian's protobuf-compiler, or $PROTOC).
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "airlock/auth/v1/auth.proto",
        "airlock/channels/v1/channels.proto",
        "google/rpc/status.proto",
        "google/rpc/error_details.proto",
    ]
    .map(|file| root.join(file));
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .compile_protos(&files, &[root])?;
    Ok(())
}
