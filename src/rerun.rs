//! Which test failed and how to rerun it: the test's file (its cargo target) and
//! name, and the `cargo test` command that reruns one seed of it, with the shrunk
//! plan to replay when there is one.

use std::panic::Location;

/// One seed to run, overriding every test's default.
pub const SEED_VAR: &str = "SIMNET_SEED";

/// The test a check runs in, for its rerun commands: the file it is in (its cargo
/// target) and its name, when known.
#[derive(Clone, Debug)]
pub struct TestName {
    pub file: String,
    pub name: Option<String>,
}

impl TestName {
    /// The calling test: its file, and its name as libtest names its thread (a test
    /// run on the main thread, with `--test-threads=1`, has no name this way: the
    /// [`crate::test`] attribute names it).
    #[track_caller]
    pub fn caller() -> TestName {
        let name = std::thread::current()
            .name()
            .filter(|n| *n != "main")
            .map(str::to_string);
        TestName {
            file: Location::caller().file().to_string(),
            name,
        }
    }

    /// A test named by its attribute: `module_path!()` and the function's name
    /// (the crate's name is left out, as libtest leaves it out).
    pub fn named(file: &str, module: &str, function: &str) -> TestName {
        let path = match module.split_once("::") {
            Some((_, rest)) => format!("{rest}::{function}"),
            None => function.to_string(),
        };
        TestName {
            file: file.to_string(),
            name: Some(path),
        }
    }
}

/// The cargo option that selects the test target `file` belongs to (paths as
/// `file!()` gives them): `tests/kv.rs` and `tests/kv/main.rs` are `--test kv`,
/// `src/bin/x.rs` is `--bin x`, `src/main.rs` is `--bin PACKAGE`, other `src/`
/// files `--lib`.
fn target_option(file: &str, package: Option<&str>) -> String {
    let parts: Vec<&str> = file.split(['/', '\\']).collect();
    let stem = |name: &str| name.strip_suffix(".rs").unwrap_or(name).to_string();
    let Some(tests) = parts.iter().rposition(|p| *p == "tests" || *p == "src") else {
        return String::new();
    };
    match (parts[tests], &parts[tests + 1..]) {
        ("tests", [name]) => format!(" --test {}", stem(name)),
        ("tests", [dir, "main.rs"]) => format!(" --test {dir}"),
        ("src", ["bin", name]) => format!(" --bin {}", stem(name)),
        ("src", ["bin", dir, "main.rs"]) => format!(" --bin {dir}"),
        ("src", ["main.rs"]) => package.map(|p| format!(" --bin {p}")).unwrap_or_default(),
        ("src", _) => " --lib".to_string(),
        _ => String::new(),
    }
}

/// `SIMNET_SEED=N cargo test -p PACKAGE --test TARGET -- --exact NAME`, as far as
/// the package (cargo sets `CARGO_PKG_NAME` when it runs tests), the test target
/// (from the test's file) and its name are known; with `SIMNET_PLAN=...` when a
/// shrunk plan is to be replayed, and `--include-ignored` when the test ran as an
/// ignored one.
pub fn rerun_command(
    seed: u64,
    plan: Option<&crate::shrink::ShrinkPath>,
    test: &TestName,
) -> String {
    // An ignored test runs only when asked for.
    let ignored = std::env::args().any(|a| a == "--ignored" || a == "--include-ignored");
    rerun_command_for(seed, plan, test, ignored)
}

/// [`rerun_command`], for a test that ran as an ignored one or not.
fn rerun_command_for(
    seed: u64,
    plan: Option<&crate::shrink::ShrinkPath>,
    test: &TestName,
    ignored: bool,
) -> String {
    let mut cmd = format!("{SEED_VAR}={seed}");
    if let Some(path) = plan {
        cmd.push_str(&format!(" {}={path}", crate::shrink::PLAN_VAR));
    }
    // A run under another compiler has its own schedule.
    if let Ok(compiler) = std::env::var(simnet_wasi::COMPILER_VAR)
        && !compiler.trim().is_empty()
    {
        cmd.push_str(&format!(
            " {}={}",
            simnet_wasi::COMPILER_VAR,
            compiler.trim()
        ));
    }
    cmd.push_str(" cargo test");
    let package = std::env::var("CARGO_PKG_NAME").ok();
    if let Some(package) = &package {
        cmd.push_str(&format!(" -p {package}"));
    }
    cmd.push_str(&target_option(&test.file, package.as_deref()));
    match &test.name {
        Some(name) => cmd.push_str(&format!(" -- --exact {name}")),
        None => cmd.push_str(" -- TEST_NAME"),
    }
    if ignored {
        cmd.push_str(" --include-ignored");
    }
    cmd
}

/// [`rerun_command`] for a test known by its file and thread name.
pub fn rerun_command_with_plan(
    seed: u64,
    plan: Option<&crate::shrink::ShrinkPath>,
    file: &str,
    thread: Option<&str>,
) -> String {
    let test = TestName {
        file: file.to_string(),
        name: thread.filter(|n| *n != "main").map(str::to_string),
    };
    rerun_command(seed, plan, &test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rerun_command_names_the_target_and_the_test() {
        let cmd = rerun_command(
            7,
            None,
            &TestName {
                file: "tests/kv.rs".into(),
                name: Some("under_loss".into()),
            },
        );
        assert!(cmd.starts_with("SIMNET_SEED=7 cargo test"), "{cmd}");
        assert!(cmd.ends_with(" --test kv -- --exact under_loss"), "{cmd}");
        let cmd = rerun_command(
            7,
            None,
            &TestName {
                file: "crates/x/src/lib.rs".into(),
                name: Some("tests::a".into()),
            },
        );
        assert!(cmd.ends_with(" --lib -- --exact tests::a"), "{cmd}");
        let cmd = rerun_command_with_plan(7, None, "tests/kv.rs", Some("main"));
        assert!(cmd.ends_with(" --test kv -- TEST_NAME"), "{cmd}");
    }

    #[test]
    fn an_ignored_test_and_a_shrunk_plan_are_in_the_rerun_command() {
        let test = TestName {
            file: "tests/kv.rs".into(),
            name: Some("slow".into()),
        };
        let plan = crate::shrink::ShrinkPath::parse("1SCS").unwrap();
        let cmd = rerun_command_for(4, Some(&plan), &test, true);
        assert!(
            cmd.starts_with("SIMNET_SEED=4 SIMNET_PLAN=1SCS cargo test"),
            "{cmd}"
        );
        assert!(cmd.ends_with(" -- --exact slow --include-ignored"), "{cmd}");
        assert!(!rerun_command_for(4, None, &test, false).contains("ignored"));
    }

    #[test]
    fn every_kind_of_test_target_is_named() {
        let t = |file| target_option(file, Some("pkg"));
        assert_eq!(t("examples/kv/tests/kv.rs"), " --test kv");
        assert_eq!(t("tests/suite/main.rs"), " --test suite");
        assert_eq!(t("src/bin/tool.rs"), " --bin tool");
        assert_eq!(t("src/bin/tool/main.rs"), " --bin tool");
        assert_eq!(t("src/main.rs"), " --bin pkg");
        assert_eq!(t("crates/x/src/net/mod.rs"), " --lib");
        assert_eq!(t("build.rs"), "");
    }
}
