//! Components for tests: built from a cargo package's source for `wasm32-wasip2`, or
//! loaded from any `.wasm` file, compiled once by one shared [`Runtime`].
//!
//! Building goes through cargo itself (release profile), so its up-to-date checks
//! decide: a changed source is always rebuilt, an unchanged one costs a no-op cargo
//! run. The build uses a target directory of its own, `simnet-components/` inside the
//! target directory of the tests (or of the package, outside cargo), so it never
//! waits on the lock of the `cargo test` that runs it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, anyhow, bail};
use simnet_wasi::{Program, Runtime};

/// The target components are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// The runtime every component of this process is compiled by (compiled code is
/// cached on disk; see [`simnet_wasi::default_cache_dir`]).
pub fn runtime() -> Result<&'static Runtime> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| Runtime::new().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("cannot create the WebAssembly runtime: {e}"))
}

/// Load the component at `path` (any language's `wasm32-wasip2` component).
pub fn load(path: impl AsRef<Path>) -> Result<Program> {
    let path = path.as_ref();
    Ok(runtime()?.load(path)?)
}

/// Build the cargo package in `dir` for `wasm32-wasip2` and load its binary `bin`.
///
/// ```no_run
/// let server = simnet::build_component("guests/kv", "kv-server")?;
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn build_component(dir: impl AsRef<Path>, bin: &str) -> Result<Program> {
    // The runtime keeps what it compiled, by content: loading again is cheap.
    load(build(dir, bin)?)
}

/// Build the cargo package in `dir` for `wasm32-wasip2` (release) and return the path
/// of its binary `bin`'s component. Built once per process; cargo decides what to
/// rebuild.
pub fn build(dir: impl AsRef<Path>, bin: &str) -> Result<PathBuf> {
    static BUILT: Mutex<BTreeMap<PathBuf, BTreeMap<String, PathBuf>>> = Mutex::new(BTreeMap::new());
    let dir = dir.as_ref();
    let manifest = dir.join("Cargo.toml");
    let manifest = manifest
        .canonicalize()
        .with_context(|| format!("no cargo package in {}", dir.display()))?;
    // One build at a time: tests of one binary run on parallel threads.
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.contains_key(&manifest) {
        let bins = cargo_build(&manifest)?;
        built.insert(manifest.clone(), bins);
    }
    let bins = &built[&manifest];
    bins.get(bin).cloned().ok_or_else(|| {
        anyhow!(
            "{} has no binary named `{bin}` (it has: {})",
            manifest.display(),
            bins.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })
}

/// Run `cargo build --release --target wasm32-wasip2` for `manifest`; the components
/// it produced, by binary name.
fn cargo_build(manifest: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let target_dir = match running_target_dir() {
        Some(dir) => dir,
        None => target_dir(manifest)?,
    }
    .join("simnet-components");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--target", TARGET])
        .arg("--message-format=json-render-diagnostics")
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        // The package's own cargo configuration is found from its directory.
        .current_dir(manifest.parent().unwrap_or(Path::new(".")))
        .stdin(Stdio::null());
    // Settings of the build running the tests are not the component's.
    for var in [
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
    let out = cmd
        .output()
        .with_context(|| format!("cannot run cargo to build {}", manifest.display()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
        let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
        let hint = if stderr.contains("may not be installed") || stderr.contains("E0463") {
            format!("\n(the {TARGET} target is missing: `rustup target add {TARGET}`)")
        } else {
            String::new()
        };
        bail!(
            "building {} for {TARGET} failed ({}):\n{tail}{hint}",
            manifest.display(),
            out.status
        );
    }
    let bins = artifacts(&String::from_utf8_lossy(&out.stdout));
    if bins.is_empty() {
        bail!("building {} produced no binary", manifest.display());
    }
    Ok(bins)
}

/// The target directory of the build this process came from (cargo marks it with
/// `CACHEDIR.TAG`): a test binary lives in `target/debug/deps/`.
pub(crate) fn running_target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
}

/// The target directory of the workspace `manifest` belongs to.
fn target_dir(manifest: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .arg("--manifest-path")
        .arg(manifest)
        .env_remove("CARGO_TARGET_DIR")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run cargo metadata for {}", manifest.display()))?;
    if !out.status.success() {
        bail!(
            "cargo metadata for {} failed: {}",
            manifest.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("cargo metadata printed something else")?;
    meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("cargo metadata names no target directory"))
}

/// The `.wasm` files of the binaries in cargo's JSON messages, by binary name.
fn artifacts(messages: &str) -> BTreeMap<String, PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
        .filter_map(|m| {
            let name = m["target"]["name"].as_str()?.to_string();
            let path = m["executable"].as_str()?;
            Some((name, PathBuf::from(path)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_are_found_in_cargo_messages() {
        let messages = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"dep"},"executable":null}
{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"kv-server"},"executable":"/t/wasm32-wasip2/release/kv-server.wasm"}
{"reason":"build-finished","success":true}
not json"#;
        let bins = artifacts(messages);
        assert_eq!(bins.len(), 1);
        assert_eq!(
            bins["kv-server"],
            PathBuf::from("/t/wasm32-wasip2/release/kv-server.wasm")
        );
    }

    #[test]
    fn a_directory_without_a_package_is_a_clear_error() {
        let err = build("/nonexistent/simnet-package", "x").unwrap_err();
        assert!(
            format!("{err:#}").contains("no cargo package in /nonexistent/simnet-package"),
            "{err:#}"
        );
    }
}
