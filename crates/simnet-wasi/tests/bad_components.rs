//! Components simnet cannot run are refused before they start, with errors that say why.

mod common;

use simnet_wasi::LoadError;

fn load(bytes: &[u8]) -> LoadError {
    common::runtime()
        .load_bytes("test.wasm", bytes)
        .expect_err("must be refused")
}

fn component(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("valid text")
}

#[test]
fn not_webassembly() {
    let e = load(b"#!/bin/sh\necho hello\n");
    assert!(matches!(e, LoadError::NotWasm { .. }));
    assert_eq!(
        e.to_string(),
        "test.wasm is not a WebAssembly file (no \\0asm header)"
    );
}

#[test]
fn a_core_module_is_not_a_component() {
    let e = load(&wat::parse_str("(module)").unwrap());
    assert!(matches!(e, LoadError::CoreModule { .. }));
    assert!(
        e.to_string()
            .contains("core WebAssembly module, not a component"),
        "{e}"
    );
}

#[test]
fn a_corrupt_component() {
    let mut bytes = component("(component)");
    bytes.extend_from_slice(&[0xff, 0xff, 0xff]);
    let e = load(&bytes);
    assert!(matches!(e, LoadError::Invalid { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("test.wasm is not a valid WebAssembly component: "),
        "{e}"
    );
}

#[test]
fn a_component_that_is_not_a_command() {
    let e = load(&component("(component)"));
    assert!(matches!(e, LoadError::NotACommand { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("exports neither wasi:cli/run@0.2.x nor"),
        "{e}"
    );
}

#[test]
fn unsupported_imports_are_all_listed() {
    let e = load(&component(
        r#"(component
             (import "wasi:http/outgoing-handler@0.2.0" (instance))
             (import "wasi:io/poll@0.2.6" (instance))
             (import "wasi:keyvalue/store@0.2.0-draft" (instance))
             (import "wasi:sockets/tcp@0.3.0" (instance)))"#,
    ));
    let LoadError::UnsupportedImports { imports, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(
        imports,
        &[
            "wasi:http/outgoing-handler@0.2.0",
            "wasi:keyvalue/store@0.2.0-draft",
            "wasi:sockets/tcp@0.3.0"
        ]
    );
    assert!(
        e.to_string()
            .starts_with("test.wasm imports interfaces simnet cannot simulate: wasi:http"),
        "{e}"
    );
}

#[test]
fn an_import_with_the_wrong_shape_cannot_link() {
    let e = load(&component(
        r#"(component (import "wasi:cli/environment@0.2.0" (instance (export "no-such-function" (func)))))"#,
    ));
    assert!(matches!(e, LoadError::Link { .. }), "{e}");
    assert!(e.to_string().contains("no-such-function"), "{e}");
}

#[test]
fn missing_files_name_the_path() {
    let e = common::runtime()
        .load(std::path::Path::new("/nonexistent/guest.wasm"))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("cannot read /nonexistent/guest.wasm: "),
        "{e}"
    );
}

#[test]
fn good_components_load_and_are_compiled_once() {
    let rt = simnet_wasi::Runtime::with_cache_dir(None).unwrap();
    let guest = simnet_guests::ECHO_SERVER;
    let a = rt.load_bytes(guest.name, guest.bytes).unwrap();
    let b = rt.load_bytes("renamed.wasm", guest.bytes).unwrap();
    assert_eq!(
        rt.compilations(),
        1,
        "the second load reuses the first compilation"
    );
    assert_eq!(a.hash(), b.hash());
    assert_eq!((a.name(), b.name()), ("echo-server", "renamed.wasm"));
    // A 0.3 component is compiled once too (its engine is chosen first).
    let p3 = simnet_guests::P3_NET;
    rt.load_bytes(p3.name, p3.bytes).unwrap();
    rt.load_bytes(p3.name, p3.bytes).unwrap();
    assert_eq!(rt.compilations(), 2);
}

#[test]
fn a_wasi_0_3_component_without_run_is_not_a_command_not_invalid() {
    let e = load(&component(
        r#"(component
            (import "wasi:clocks/monotonic-clock@0.3.0" (instance
                (export "now" (func (result u64)))
                (export "wait-for" (func async (param "how-long" u64)))))
        )"#,
    ));
    let text = e.to_string();
    assert!(matches!(e, LoadError::NotACommand { .. }), "{text}");
    assert!(!text.contains("not a valid"), "{text}");
    assert!(text.contains("wasi:cli/run@0.3.x"), "{text}");
}

#[test]
fn a_wasi_0_3_import_simnet_does_not_serve_is_named() {
    let e = load(&component(
        r#"(component
            (import "wasi:http/client@0.3.0" (instance
                (export "fetch" (func async (param "url" string) (result string)))))
        )"#,
    ));
    let text = e.to_string();
    assert!(matches!(e, LoadError::UnsupportedImports { .. }), "{text}");
    assert!(text.contains("wasi:http/client@0.3.0"), "{text}");
}
