//! Loading guest components: validation with clear errors, compilation once per
//! process, and a disk cache of compiled artifacts keyed by content hash, so that
//! running one scenario under many seeds (or many processes) compiles each component
//! once.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};
use wasmtime_wasi::p2::bindings::CommandPre;

use crate::guest::GuestState;
use crate::linker;

/// Why a component cannot run on simnet.
#[derive(Debug)]
pub enum LoadError {
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    NotWasm {
        name: String,
    },
    CoreModule {
        name: String,
    },
    Invalid {
        name: String,
        error: String,
    },
    /// A component that uses a component-model async feature the engine leaves
    /// off, as wasmtime 48 does by default (stackful async, async builtins).
    NeedsAsync {
        name: String,
        error: String,
    },
    NotACommand {
        name: String,
    },
    UnsupportedImports {
        name: String,
        imports: Vec<String>,
    },
    Link {
        name: String,
        error: String,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            LoadError::NotWasm { name } => {
                write!(f, "{name} is not a WebAssembly file (no \\0asm header)")
            }
            LoadError::CoreModule { name } => write!(
                f,
                "{name} is a core WebAssembly module, not a component; build it for \
                 wasm32-wasip2 (or wrap it with `wasm-tools component new` and a WASI adapter)"
            ),
            LoadError::Invalid { name, error } => {
                write!(f, "{name} is not a valid WebAssembly component: {error}")
            }
            LoadError::NeedsAsync { name, error } => write!(
                f,
                "{name} uses a component-model async feature beyond what `wasmtime run` 48 \
                 enables by default (and simnet with it): {error}"
            ),
            LoadError::NotACommand { name } => write!(
                f,
                "{name} is a component but not a command: it exports neither \
                 wasi:cli/run@0.2.x nor wasi:cli/run@0.3.x"
            ),
            LoadError::UnsupportedImports { name, imports } => write!(
                f,
                "{name} imports interfaces simnet cannot simulate: {}",
                imports.join(", ")
            ),
            LoadError::Link { name, error } => write!(f, "cannot link {name}: {error}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// A validated, compiled command component, ready to instantiate many times.
#[derive(Clone)]
pub struct Program {
    name: Arc<str>,
    pub(crate) entry: Entry,
    hash: [u8; 32],
}

/// The `run` a command exports, by WASI version: a component exporting both (a 0.3
/// program built with Rust's std exports 0.2's too) runs its 0.3 one, as `wasmtime
/// run` does.
#[derive(Clone)]
pub(crate) enum Entry {
    /// `wasi:cli/run@0.2.x`, a plain function called on the guest's fiber.
    P2(CommandPre<GuestState>),
    /// `wasi:cli/run@0.3.x`, an async function run under the component model's
    /// concurrency.
    P3(wasmtime_wasi::p3::bindings::CommandPre<GuestState>),
}

impl Entry {
    /// The engine the component was compiled with, which its stores must use.
    pub(crate) fn engine(&self) -> &Engine {
        match self {
            Entry::P2(pre) => pre.engine(),
            Entry::P3(pre) => pre.engine(),
        }
    }
}

impl Program {
    /// The name it was loaded under (the file name for files).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of the component's bytes.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Program").field("name", &self.name).finish()
    }
}

/// The wasmtime engines and linkers all simulations of a process share, with the
/// components compiled so far.
pub struct Runtime {
    /// For WASI 0.2 components: without the component model's concurrency, which
    /// costs 0.2 guests about a quarter of their speed on short round trips.
    p2: EngineLinker,
    /// For components that use the component model's async (WASI 0.3 ones).
    p3: EngineLinker,
    cache_dir: Option<PathBuf>,
    loaded: Mutex<IndexMap<[u8; 32], Program>>,
    compilations: AtomicUsize,
    /// Disk images read from host directories, shared by every simulation.
    images: std::sync::Arc<crate::image::ImageCache>,
}

/// An engine and the linker over it.
struct EngineLinker {
    engine: Engine,
    linker: Linker<GuestState>,
}

impl EngineLinker {
    fn new(config: &Config, wasi_0_3: bool) -> wasmtime::Result<Self> {
        let mut config = config.clone();
        config.concurrency_support(wasi_0_3);
        let engine = Engine::new(&config)?;
        let linker = linker::build(&engine, wasi_0_3)?;
        Ok(EngineLinker { engine, linker })
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("cache_dir", &self.cache_dir)
            .finish()
    }
}

/// The default disk cache: `$SIMNET_CACHE_DIR`, else `$XDG_CACHE_HOME/simnet`, else
/// `~/.cache/simnet`. `SIMNET_CACHE_DIR=off` disables it.
pub fn default_cache_dir() -> Option<PathBuf> {
    match std::env::var_os("SIMNET_CACHE_DIR") {
        Some(v) if v == "off" => return None,
        Some(v) if !v.is_empty() => return Some(PathBuf::from(v)),
        _ => {}
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("simnet"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("simnet"))
}

/// The engine settings every runtime starts from; [`Runtime::with_config`] takes a
/// changed copy (another compiler, say). Fuel must stay on: preemption depends on it.
/// Memories get the default [`MemoryLayout`].
pub fn engine_config() -> Config {
    let mut config = Config::new();
    // Fuel makes preemption deterministic: a spinning guest yields at the same
    // instruction counts every run.
    config.consume_fuel(true);
    config.wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Enable);
    MemoryLayout::default().apply(&mut config);
    config
}

/// How guests' linear memories are laid out in the process: a trade between the
/// speed of guest code and how many guests one process holds. Runs are deterministic
/// under either, but fuel is counted slightly differently between them (as between
/// compilers), so a seed replays exactly under the layout it ran with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MemoryLayout {
    /// wasmtime's own: a 4 GiB reservation with guard regions for each memory, so
    /// compiled code needs no bounds checks, and memories initialised by mapping the
    /// component's image copy-on-write (instantiating a large component, such as a
    /// Python one, copies nothing). About six memory mappings a guest, so some
    /// 10,000 guests at most under Linux's default `vm.max_map_count` (65,530).
    #[default]
    Fast,
    /// A 1 GiB reservation (the default memory limit) without guard regions, so
    /// compiled code checks bounds, and memories initialised by copying: about four
    /// mappings a guest, so that 15,000 guests fit in one process. Compute-heavy
    /// guests run up to 1.6 times slower (`docs/performance.md`).
    Compact,
}

impl MemoryLayout {
    /// Above this many guests in one process, [`MemoryLayout::for_guests`] is compact.
    pub const COMPACT_ABOVE: usize = 2_000;

    /// About how many guests of this layout one process holds under Linux's default
    /// `vm.max_map_count`.
    pub fn guests_per_process(self) -> usize {
        match self {
            MemoryLayout::Fast => 8_000,
            MemoryLayout::Compact => 15_000,
        }
    }

    /// The layout for worlds of `guests` guests.
    pub fn for_guests(guests: usize) -> MemoryLayout {
        if guests > Self::COMPACT_ABOVE {
            MemoryLayout::Compact
        } else {
            MemoryLayout::Fast
        }
    }

    /// Set the memory settings of `config` to this layout.
    pub fn apply(self, config: &mut Config) {
        match self {
            // wasmtime's defaults on 64-bit hosts, restated so that the layout does
            // not depend on what was set before.
            MemoryLayout::Fast => {
                config.memory_reservation(4 << 30);
                config.memory_guard_size(32 << 20);
                config.guard_before_linear_memory(true);
                config.memory_reservation_for_growth(2 << 30);
                config.memory_init_cow(true);
            }
            MemoryLayout::Compact => {
                config.memory_reservation(1 << 30);
                config.memory_guard_size(0);
                config.guard_before_linear_memory(false);
                config.memory_reservation_for_growth(64 << 20);
                config.memory_init_cow(false);
            }
        }
    }
}

/// Which of wasmtime's compilers turns components into machine code. Runs are
/// deterministic with either, but not the same across them: fuel is counted
/// slightly differently, so preemption points (and with them a seed's schedule)
/// move.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compiler {
    /// The optimising compiler: slower to compile, faster code.
    #[default]
    Cranelift,
    /// The baseline compiler (needs simnet's `winch` feature): about four times
    /// faster to compile, for test suites whose components are large and short-lived.
    Winch,
}

/// The environment variable that chooses the compiler: `cranelift` or `winch`.
pub const COMPILER_VAR: &str = "SIMNET_COMPILER";

impl Compiler {
    /// `cranelift` or `winch`.
    pub fn parse(name: &str) -> Result<Compiler, String> {
        match name.trim() {
            "cranelift" => Ok(Compiler::Cranelift),
            "winch" => Ok(Compiler::Winch),
            other => Err(format!("unknown compiler {other:?}: cranelift or winch")),
        }
    }

    /// `SIMNET_COMPILER`, or Cranelift when it is unset or empty.
    pub fn from_env() -> Result<Compiler, String> {
        match std::env::var(COMPILER_VAR) {
            Ok(v) if !v.trim().is_empty() => {
                Compiler::parse(&v).map_err(|e| format!("{COMPILER_VAR}: {e}"))
            }
            _ => Ok(Compiler::Cranelift),
        }
    }

    /// [`engine_config`] with this compiler.
    pub fn config(self) -> Result<Config, String> {
        self.config_with(MemoryLayout::default())
    }

    /// [`engine_config`] with this compiler and memory layout.
    pub fn config_with(self, layout: MemoryLayout) -> Result<Config, String> {
        let mut config = engine_config();
        layout.apply(&mut config);
        match self {
            Compiler::Cranelift => {
                config.strategy(wasmtime::Strategy::Cranelift);
            }
            #[cfg(feature = "winch")]
            Compiler::Winch => {
                config.strategy(wasmtime::Strategy::Winch);
            }
            #[cfg(not(feature = "winch"))]
            Compiler::Winch => {
                return Err("the winch compiler is not built in: enable simnet's \
                     `winch` feature"
                    .to_string());
            }
        }
        Ok(config)
    }
}

impl Runtime {
    /// A runtime with the default disk cache and the compiler `SIMNET_COMPILER`
    /// chooses (Cranelift by default).
    pub fn new() -> wasmtime::Result<Self> {
        Self::with_cache_dir(default_cache_dir())
    }

    /// A runtime caching compiled components in `dir` (or nowhere), with the
    /// compiler `SIMNET_COMPILER` chooses.
    pub fn with_cache_dir(dir: Option<PathBuf>) -> wasmtime::Result<Self> {
        Self::with_layout(MemoryLayout::default(), dir)
    }

    /// A runtime with the given memory layout (see [`MemoryLayout::for_guests`]),
    /// caching in `dir` (or nowhere), with the compiler `SIMNET_COMPILER` chooses.
    pub fn with_layout(layout: MemoryLayout, dir: Option<PathBuf>) -> wasmtime::Result<Self> {
        let config = Compiler::from_env()
            .and_then(|c| c.config_with(layout))
            .map_err(wasmtime::Error::msg)?;
        Self::with_config(&config, dir)
    }

    /// A runtime with engine settings of its own, based on [`engine_config`], caching
    /// compiled components in `dir` (or nowhere). Fuel must be left on.
    pub fn with_config(config: &Config, dir: Option<PathBuf>) -> wasmtime::Result<Self> {
        Ok(Runtime {
            p2: EngineLinker::new(config, false)?,
            p3: EngineLinker::new(config, true)?,
            cache_dir: dir,
            loaded: Mutex::new(IndexMap::new()),
            compilations: AtomicUsize::new(0),
            images: std::sync::Arc::default(),
        })
    }

    /// How many components this runtime compiled (found neither among those already
    /// loaded nor in the disk cache).
    pub fn compilations(&self) -> usize {
        self.compilations.load(Ordering::Relaxed)
    }

    /// The engine WASI 0.2 components are compiled with.
    pub fn engine(&self) -> &Engine {
        &self.p2.engine
    }

    pub(crate) fn images(&self) -> std::sync::Arc<crate::image::ImageCache> {
        self.images.clone()
    }

    /// The disk image `source` mounts: a host directory is read once per runtime,
    /// and every simulation of it shares the pages.
    pub fn disk_image(
        &self,
        source: &crate::image::DiskSource,
    ) -> Result<std::sync::Arc<simnet_core::disk::DiskImage>, String> {
        self.images.get(source)
    }

    /// Load a component file.
    pub fn load(&self, path: &Path) -> Result<Program, LoadError> {
        let bytes = std::fs::read(path).map_err(|error| LoadError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        self.load_bytes(&name, &bytes)
    }

    /// Load a component from memory; `name` names it in errors and reports.
    pub fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<Program, LoadError> {
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        if let Some(p) = self.lock_loaded().get(&hash) {
            let mut p = p.clone();
            p.name = name.into();
            return Ok(p);
        }
        check_header(name, bytes)?;
        // A component that needs the component model's async (as every WASI 0.3 one
        // does) fails to validate without it, and is compiled with the engine that
        // has it.
        let (with, component) = match self.compile(name, bytes, &hash, &self.p2) {
            Ok(c) if !imports_wasi_0_3(&self.p2.engine, &c) => (&self.p2, c),
            Ok(_) | Err(LoadError::NeedsAsync { .. }) => {
                (&self.p3, self.compile(name, bytes, &hash, &self.p3)?)
            }
            Err(e) => return Err(e),
        };
        check_imports(name, &with.engine, &component)?;
        let instance_pre =
            with.linker
                .instantiate_pre(&component)
                .map_err(|e| LoadError::Link {
                    name: name.into(),
                    error: format!("{e:#}"),
                })?;
        let not_a_command = |_| LoadError::NotACommand { name: name.into() };
        let entry = match command_version(&with.engine, &component) {
            Some(WasiVersion::P3) => Entry::P3(
                wasmtime_wasi::p3::bindings::CommandPre::new(instance_pre)
                    .map_err(not_a_command)?,
            ),
            Some(WasiVersion::P2) => {
                Entry::P2(CommandPre::new(instance_pre).map_err(not_a_command)?)
            }
            None => return Err(LoadError::NotACommand { name: name.into() }),
        };
        let program = Program {
            name: name.into(),
            entry,
            hash,
        };
        self.lock_loaded().insert(hash, program.clone());
        Ok(program)
    }

    fn lock_loaded(&self) -> std::sync::MutexGuard<'_, IndexMap<[u8; 32], Program>> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cache_path(&self, hash: &[u8; 32], engine: &Engine) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        let mut h = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine = h.finish();
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        Some(dir.join(format!("{hex}-{engine:016x}.cwasm")))
    }

    fn compile(
        &self,
        name: &str,
        bytes: &[u8],
        hash: &[u8; 32],
        with: &EngineLinker,
    ) -> Result<Component, LoadError> {
        let cached = self.cache_path(hash, &with.engine);
        if let Some(path) = &cached
            && let Ok(artifact) = std::fs::read(path)
        {
            // Read into memory rather than mapped: another process may replace the file.
            // SAFETY: the file was written by `Component::serialize` of an engine with
            // the same compatibility hash (it is in the file name) into simnet's own
            // cache directory, and wasmtime re-checks its header; a corrupt file is an
            // error and is recompiled. Whoever can write arbitrary files there can
            // already run code as this user.
            if let Ok(c) = unsafe { Component::deserialize(&with.engine, &artifact) } {
                return Ok(c);
            }
        }
        let component = Component::new(&with.engine, bytes).map_err(|e| {
            let error = format!("{e:#}");
            // wasmtime's validator names the feature an async construct needs.
            match error.contains("component model async") {
                true => LoadError::NeedsAsync {
                    name: name.into(),
                    error,
                },
                false => LoadError::Invalid {
                    name: name.into(),
                    error,
                },
            }
        })?;
        // Counted once compiled: a 0.3 component's first attempt, with the engine
        // that lacks async, fails validation and compiles nothing.
        self.compilations.fetch_add(1, Ordering::Relaxed);
        if let Some(path) = cached {
            // The cache is an optimisation: failing to write it only costs a recompile.
            let _ = write_atomically(&path, &component);
        }
        Ok(component)
    }
}

fn write_atomically(path: &Path, component: &Component) -> std::io::Result<()> {
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn check_header(name: &str, bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::NotWasm { name: name.into() });
    }
    // Version 1 with layer 0 is a core module; components use layer 1.
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(LoadError::CoreModule { name: name.into() });
    }
    Ok(())
}

/// `wasi:sockets/tcp@0.2.6` -> (`wasi:sockets/tcp`, `0.2.6`).
fn split_version(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((iface, version)) => (iface, Some(version)),
        None => (name, None),
    }
}

/// The WASI versions simnet serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WasiVersion {
    P2,
    P3,
}

/// `0.2.x` or `0.3.x` (with an optional pre-release or build suffix), else `None`.
fn wasi_version(version: Option<&str>) -> Option<WasiVersion> {
    let v = version?;
    let (minor, rest) = match v {
        _ if v.starts_with("0.2.") => (WasiVersion::P2, &v[4..]),
        _ if v.starts_with("0.3.") => (WasiVersion::P3, &v[4..]),
        _ => return None,
    };
    let patch = rest.split(['-', '+']).next()?;
    patch.parse::<u32>().is_ok().then_some(minor)
}

fn check_imports(name: &str, engine: &Engine, component: &Component) -> Result<(), LoadError> {
    let ty = component.component_type();
    let unsupported: Vec<String> = ty
        .imports(engine)
        .map(|(import, _)| import)
        .filter(|import| {
            let (iface, version) = split_version(import);
            let served = match wasi_version(version) {
                Some(WasiVersion::P2) => linker::SUPPORTED.contains(&iface),
                Some(WasiVersion::P3) => linker::SUPPORTED_P3.contains(&iface),
                None => false,
            };
            !served
        })
        .map(str::to_string)
        .collect();
    if !unsupported.is_empty() {
        return Err(LoadError::UnsupportedImports {
            name: name.into(),
            imports: unsupported,
        });
    }
    Ok(())
}

/// Whether the component imports a WASI 0.3 interface.
fn imports_wasi_0_3(engine: &Engine, component: &Component) -> bool {
    component
        .component_type()
        .imports(engine)
        .any(|(import, _)| wasi_version(split_version(import).1) == Some(WasiVersion::P3))
}

/// The newest `wasi:cli/run` the component exports.
fn command_version(engine: &Engine, component: &Component) -> Option<WasiVersion> {
    let versions: Vec<WasiVersion> = component
        .component_type()
        .exports(engine)
        .filter_map(|(export, _)| {
            let (iface, version) = split_version(export);
            (iface == "wasi:cli/run").then(|| wasi_version(version))?
        })
        .collect();
    [WasiVersion::P3, WasiVersion::P2]
        .into_iter()
        .find(|v| versions.contains(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let p2 = Some(WasiVersion::P2);
        assert_eq!(wasi_version(Some("0.2.0")), p2);
        assert_eq!(wasi_version(Some("0.2.12")), p2);
        assert_eq!(wasi_version(Some("0.2.0-rc-2023-11-10")), p2);
        assert_eq!(wasi_version(Some("0.3.0")), Some(WasiVersion::P3));
        assert_eq!(
            wasi_version(Some("0.3.0-rc-2025-09-16")),
            Some(WasiVersion::P3)
        );
        assert_eq!(wasi_version(Some("0.4.0")), None);
        assert_eq!(wasi_version(None), None);
        assert_eq!(wasi_version(Some("0.2.x")), None);
        assert_eq!(
            split_version("wasi:io/poll@0.2.6"),
            ("wasi:io/poll", Some("0.2.6"))
        );
    }

    #[test]
    fn headers() {
        assert!(matches!(
            check_header("x", b"hello world"),
            Err(LoadError::NotWasm { .. })
        ));
        assert!(matches!(
            check_header("x", b"\0asm\x01\0\0\0"),
            Err(LoadError::CoreModule { .. })
        ));
        assert!(check_header("x", b"\0asm\x0d\0\x01\0").is_ok());
    }
}
