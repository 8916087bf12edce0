//! Generates the Gitaly client (`CommitService`) from Gitaly's own protocol definitions,
//! which `infra/gitaly-proto.sh` installs into `.gitaly-proto/` (run here when missing),
//! compiled by protox (no `protoc` needed).

use std::path::PathBuf;
use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../..");
    let protos = root.join(".gitaly-proto");
    let script = root.join("infra/gitaly-proto.sh");
    println!(
        "cargo:rerun-if-changed={}",
        protos.join("commit.proto").display()
    );
    println!("cargo:rerun-if-changed={}", script.display());
    if !protos.join("commit.proto").exists() {
        let status = Command::new("bash").arg(&script).status()?;
        if !status.success() {
            return Err(format!(
                "Gitaly's protocol definitions are missing from {} and {} could not install them",
                protos.display(),
                script.display()
            )
            .into());
        }
    }
    let descriptors = protox::compile([protos.join("commit.proto")], [&protos])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .generate_default_stubs(true)
        .compile_fds(descriptors)?;
    Ok(())
}
