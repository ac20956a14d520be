//! Python guests (sources in `tests/guests/python`), built on demand with
//! componentize-py from PyPI into `target/python-guests`.
//!
//! Building needs `python3` with `venv` and access to PyPI the first time (the
//! tool is installed into a virtual environment there, pinned); the WASI 0.2 WIT
//! comes from the `wasip2` crate the Rust guests already depend on. When any of it
//! is missing, [`build`] says why, so a test can report that it skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::tools::{fnv, run};

/// The componentize-py release the guests are built with.
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// The WIT packages a Python command component imports (a subset of `wasip2`'s).
const WIT_PACKAGES: &[&str] = &["cli", "clocks", "filesystem", "io", "random", "sockets"];

const WORLD: &str = "package simnet:python-guest;

world app {
  include wasi:cli/imports@0.2.12;
  export wasi:cli/run@0.2.12;
}
";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn work_dir() -> PathBuf {
    root().join("target/python-guests")
}

/// Build the Python guest `name` (`tests/guests/python/NAME.py`) into a component,
/// unless the one built last is still current; its path, or why it cannot be built.
pub fn build(name: &str) -> Result<PathBuf, String> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = work_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let source_dir = root().join("tests/guests/python");
    let source = source_dir.join(format!("{name}.py"));
    let code =
        std::fs::read(&source).map_err(|e| format!("cannot read {}: {e}", source.display()))?;
    let out = dir.join(format!("{name}.wasm"));
    let stamp = dir.join(format!("{name}.stamp"));
    let key = format!("{COMPONENTIZE_PY}\n{WORLD}\n{:016x}", fnv(&code));
    if out.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == key) {
        return Ok(out);
    }
    let tool = install_componentize_py(&dir)?;
    let wit = assemble_wit(&dir)?;
    let status = Command::new(&tool)
        .arg("-q")
        .arg("-d")
        .arg(&wit)
        .args(["-w", "app", "componentize", "-p"])
        .arg(&source_dir)
        .arg(name)
        .arg("-o")
        .arg(&out)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", tool.display()))?;
    if !status.success() {
        return Err(format!(
            "componentize-py failed to build {} ({status})",
            source.display()
        ));
    }
    std::fs::write(&stamp, key).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    Ok(out)
}

/// componentize-py in a virtual environment of its own; installed on first use.
fn install_componentize_py(dir: &Path) -> Result<PathBuf, String> {
    let venv = dir.join("venv");
    let tool = venv.join("bin/componentize-py");
    let marker = venv.join(COMPONENTIZE_PY);
    if tool.exists() && marker.exists() {
        return Ok(tool);
    }
    run(
        Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg("--clear")
            .arg(&venv),
        "python3 -m venv (is python3 with venv installed?)",
    )?;
    run(
        Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            COMPONENTIZE_PY,
        ]),
        &format!("pip install {COMPONENTIZE_PY} (is PyPI reachable?)"),
    )?;
    std::fs::write(&marker, "").map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    Ok(tool)
}

/// A WIT directory with the guest world and the WASI packages it needs, taken from
/// the `wasip2` crate in cargo's registry (located with `cargo metadata`).
fn assemble_wit(dir: &Path) -> Result<PathBuf, String> {
    let deps = wasip2_wit_deps()?;
    let wit = dir.join("wit");
    let into = wit.join("deps");
    std::fs::create_dir_all(&into).map_err(|e| format!("cannot create {}: {e}", into.display()))?;
    for package in WIT_PACKAGES {
        let from = deps.join(format!("{package}.wit"));
        std::fs::copy(&from, into.join(format!("{package}.wit")))
            .map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
    }
    std::fs::write(wit.join("world.wit"), WORLD)
        .map_err(|e| format!("cannot write the world: {e}"))?;
    Ok(wit)
}

fn wasip2_wit_deps() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(root().join("tests/guests/Cargo.toml"))
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    let manifest = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "wasip2")
        .and_then(|p| p["manifest_path"].as_str())
        .map(PathBuf::from)
        .ok_or("cargo metadata lists no wasip2 package")?;
    let deps = manifest
        .parent()
        .ok_or("wasip2's manifest has no directory")?
        .join("wit/deps");
    if !deps.is_dir() {
        return Err(format!("{} does not exist", deps.display()));
    }
    Ok(deps)
}
