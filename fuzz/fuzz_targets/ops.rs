//! Arbitrary bytes decoded into operation sequences on several hosts and sockets;
//! the runner checks the delivery invariants and that nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simnet_core::NetConfig;
use simnet_core::testkit::{Op, OpRunner};

fuzz_target!(|data: &[u8]| {
    // The first 8 bytes seed the network, the rest are operations.
    let (seed, ops) = data.split_at(data.len().min(8));
    let mut seed_bytes = [0u8; 8];
    seed_bytes[..seed.len()].copy_from_slice(seed);
    let ops = Op::decode(ops);
    let mut config = NetConfig::default();
    config.tcp.nagle = seed_bytes[0] & 1 == 0;
    if let Err(violation) = OpRunner::new(u64::from_le_bytes(seed_bytes), config).run(&ops) {
        panic!("invariant violated: {violation}");
    }
});
