//! Builds the guest programs in `tests/guests` for `wasm32-wasip2` with the same
//! toolchain, and embeds the components. The guests are a cargo workspace of their
//! own, built into `target/wasm-guests` so the outer build's lock is not contended.

use std::path::{Path, PathBuf};
use std::process::Command;

const GUESTS: &[&str] = &[
    "echo-server",
    "echo-client",
    "probe",
    "many",
    "conformance",
    "conformance-std",
    "conformance-tokio",
    "conformance-udp",
    "tokio-load",
    "durable-store",
    "conformance-files",
    "p3-net",
    "conformance-p3",
];
const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let root = manifest.join("../..");
    let guests = root.join("tests/guests");
    for p in [
        "src",
        "wit",
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={}", guests.join(p).display());
    }
    // The guests build with the toolchain rust-toolchain.toml pins (found from their
    // directory by rustup), whatever toolchain builds this crate (a fuzzer's nightly).
    let cargo = "cargo";
    ensure_target(&guests);
    let target_dir = root.join("target/wasm-guests");
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--locked",
        "--target",
        TARGET,
        "--manifest-path",
    ])
    .arg(guests.join("Cargo.toml"))
    .arg("--target-dir")
    .arg(&target_dir)
    // The guests' own cargo configuration (tokio's unstable cfg) is found from there.
    .current_dir(&guests);
    // Flags and wrappers meant for the host build (sanitizers, clippy, coverage) must
    // not reach the guests.
    for var in [
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "RUSTDOC",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("cannot run cargo to build the guest components");
    if !status.success() {
        panic!(
            "building the guest components in {} failed (is the {TARGET} target installed? \
             `rustup target add {TARGET}`)",
            guests.display()
        );
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut code = String::new();
    for name in GUESTS {
        let built = target_dir
            .join(TARGET)
            .join("release")
            .join(format!("{name}.wasm"));
        let dest = out.join(format!("{name}.wasm"));
        std::fs::copy(&built, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", built.display()));
        code.push_str(&format!(
            "/// The `{name}` guest component.\npub const {}: Guest = Guest {{ name: {name:?}, bytes: include_bytes!({:?}), path: {:?} }};\n",
            name.to_uppercase().replace('-', "_"),
            dest.display().to_string(),
            dest.display().to_string(),
        ));
    }
    code.push_str(&format!(
        "/// Every guest.\npub const ALL: &[Guest] = &[{}];\n",
        GUESTS
            .iter()
            .map(|n| n.to_uppercase().replace('-', "_"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    std::fs::write(out.join("guests.rs"), code).expect("write guests.rs");
}

/// Install the guest target if this rustup toolchain lacks it (rust-toolchain.toml
/// asks for it, but a toolchain installed before the file was read may not have it).
fn ensure_target(guests: &Path) {
    let sysroot = Command::new("rustc")
        .current_dir(guests)
        .env_remove("RUSTUP_TOOLCHAIN")
        .args(["--print", "sysroot"])
        .output()
        .ok();
    let has_target = sysroot.is_some_and(|o| {
        let root = String::from_utf8_lossy(&o.stdout).trim().to_string();
        Path::new(&root).join("lib/rustlib").join(TARGET).exists()
    });
    if !has_target {
        let _ = Command::new("rustup")
            .current_dir(guests)
            .env_remove("RUSTUP_TOOLCHAIN")
            .args(["target", "add", TARGET])
            .status();
    }
}
