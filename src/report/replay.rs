//! Replay files: a scenario file with a failing seed and the (shrunk) fault plan
//! that failed, which `simnet run` replays as it failed and a test reruns with
//! `SIMNET_SEED=N SIMNET_PLAN=...` (the shrink's path the failure printed).

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use crate::plan::PlanFault;
use crate::world::World;

/// The replay of `seed` with `plan` for the scenario file `scenario`, written into
/// `dir` as `NAME.seed-N.replay.toml`. Component and disk paths relative to the
/// scenario are rewritten relative to `dir`, so the replay runs from wherever it
/// is; the command that replays it is returned with its path.
pub fn write_replay(
    scenario: &Path,
    seed: u64,
    plan: &[PlanFault],
    dir: &Path,
) -> Result<(PathBuf, String)> {
    let original = std::fs::read_to_string(scenario)
        .with_context(|| format!("cannot read {}", scenario.display()))?;
    let stem = scenario
        .file_stem()
        .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
    if dir.exists() && !dir.is_dir() {
        anyhow::bail!("cannot write into {}: not a directory", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let file = dir.join(format!("{stem}.seed-{seed}.replay.toml"));
    let original = relocate_paths(&original, scenario, dir);
    let body = format!(
        "{}\n# A shrunk fault plan found for seed {seed}.\n{}",
        with_seed(&original, seed),
        World::from_file(scenario)?.plan_entries(plan)?
    );
    std::fs::write(&file, body).with_context(|| format!("cannot write {}", file.display()))?;
    let command = format!("simnet run {}", file.display());
    Ok((file, command))
}

/// The default directory for replays of `scenario`: `NAME.replays/` beside it.
pub fn default_replay_dir(scenario: &Path) -> PathBuf {
    let stem = scenario
        .file_stem()
        .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
    scenario.with_file_name(format!("{stem}.replays"))
}

/// The scenario text with its top-level `seed` set to `seed`.
pub(crate) fn with_seed(text: &str, seed: u64) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut replaced = false;
    let mut in_table = false;
    for line in text.lines() {
        let t = line.trim_start();
        in_table |= t.starts_with('[');
        if !in_table && !replaced && t.starts_with("seed") && t[4..].trim_start().starts_with('=') {
            out.push_str(&format!("seed = {seed}\n"));
            replaced = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if replaced {
        out
    } else {
        format!("seed = {seed}\n{out}")
    }
}

/// `component = "path"` and `disk`/`disk_ro`/`dir` entries' host directories, when
/// relative to the scenario, made relative to `dir` instead.
fn relocate_paths(text: &str, scenario: &Path, dir: &Path) -> String {
    let base = scenario.parent().unwrap_or(Path::new("."));
    if absolute(base) == absolute(dir) {
        return text.to_string();
    }
    let moved = |p: &str| -> String {
        let path = Path::new(p);
        if path.is_absolute() {
            return p.to_string();
        }
        let target = absolute(&base.join(path));
        relative_to(&target, &absolute(dir)).display().to_string()
    };
    text.lines()
        .map(|line| relocate_line(line, &moved))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One line with the path it names relocated, if it is a `component` line or a
/// `disk` / `disk_ro` / `dir` list of `"HOST_DIR::GUEST"` entries.
fn relocate_line(line: &str, moved: &dyn Fn(&str) -> String) -> String {
    let t = line.trim_start();
    let indent = &line[..line.len() - t.len()];
    let Some((key, value)) = t.split_once('=') else {
        return line.to_string();
    };
    let key = key.trim();
    let value = value.trim();
    match key {
        "component" => match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(p) if !p.starts_with("builtin:") => {
                format!("{indent}component = {:?}", moved(p))
            }
            _ => line.to_string(),
        },
        "disk" | "disk_ro" | "dir" => {
            let Some(items) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) else {
                return line.to_string();
            };
            let items: Vec<String> = items
                .split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(|item| {
                    let inner = item.trim_matches('"');
                    match inner.split_once("::") {
                        Some((host, guest)) if !host.is_empty() => {
                            format!("{:?}", format!("{}::{guest}", moved(host)))
                        }
                        _ => item.to_string(),
                    }
                })
                .collect();
            format!("{indent}{key} = [{}]", items.join(", "))
        }
        _ => line.to_string(),
    }
}

/// `path` made absolute (resolving links where it exists) and free of `.` and `..`.
fn absolute(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let joined = match path.is_absolute() {
        true => path.to_path_buf(),
        false => std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path),
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `target` as a path relative to the directory `from` (both absolute).
fn relative_to(target: &Path, from: &Path) -> PathBuf {
    let t: Vec<Component> = target.components().collect();
    let f: Vec<Component> = from.components().collect();
    let common = t.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_sets_the_seed_at_the_top_level_only() {
        assert_eq!(
            with_seed("seed = 1\n[[host]]\nseed = 5\n", 9),
            "seed = 9\n[[host]]\nseed = 5\n"
        );
        assert_eq!(
            with_seed("# x\n[network]\n", 4),
            "seed = 4\n# x\n[network]\n"
        );
    }

    #[test]
    fn paths_are_made_relative_to_the_replay() {
        let rel = |t: &str, f: &str| relative_to(Path::new(t), Path::new(f));
        assert_eq!(rel("/a/b/c.wasm", "/a/b/r"), Path::new("../c.wasm"));
        assert_eq!(rel("/a/x/c.wasm", "/a/b/r"), Path::new("../../x/c.wasm"));
        assert_eq!(rel("/a/b", "/a/b"), Path::new("."));
        let text = "component = \"guests/s.wasm\"\n  disk = [\"data::/data\", \"::/tmp\"]\n\
                    component = \"builtin:probe\"\ndir = [\"logs::/logs\", \"in::/in\"]";
        let out = relocate_paths(
            text,
            Path::new("/w/world.toml"),
            Path::new("/w/world.replays"),
        );
        assert_eq!(
            out,
            "component = \"../guests/s.wasm\"\n  disk = [\"../data::/data\", \"::/tmp\"]\n\
             component = \"builtin:probe\"\ndir = [\"../logs::/logs\", \"../in::/in\"]"
        );
    }
}
