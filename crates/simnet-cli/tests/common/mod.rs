//! What the command-line tests share: running the `simnet` binary from the
//! repository root, its output, scratch files, and scenario errors.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root: scenario examples and guests are found from there.
pub const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

pub fn simnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simnet"))
        .args(args)
        .current_dir(ROOT)
        .env(
            "SIMNET_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("simnet-cache"),
        )
        .env_remove("RUST_LOG")
        .output()
        .expect("run simnet")
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exit status")
}

pub fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Run a scenario file of `body` that must be refused; the error, with the file
/// named `name`.
pub fn scenario_error(name: &str, body: &str) -> String {
    let path = tmp(name);
    std::fs::write(&path, body).unwrap();
    let out = simnet(&["run", path.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{:?}", text(&out));
    let (_, stderr) = text(&out);
    stderr
        .trim()
        .strip_prefix("simnet: error: ")
        .unwrap_or(&stderr)
        .replace(&format!("{}", path.display()), name)
}

pub const HOST: &str = "[[host]]\nname = \"a\"\nip = \"10.0.0.1\"\ncomponent = \"builtin:probe\"\n";
