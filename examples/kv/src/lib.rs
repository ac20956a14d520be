//! A project that tests its own WebAssembly components with simnet: the components
//! are in `guests/` (a key-value server and a client), the tests in `tests/kv.rs`.
