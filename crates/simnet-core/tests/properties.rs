//! Property tests: random link configurations, random loss and random interleavings of
//! operations across many connections; the invariants are checked by `OpRunner`.

use proptest::prelude::*;
use simnet_core::testkit::{Op, OpRunner};
use simnet_core::{Latency, LinkConfig, NetConfig, Side, TraceEvent};
use std::time::Duration;

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Client), Just(Side::Server)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<u8>(), any::<u8>()).prop_map(|(from, to)| Op::Connect { from, to }),
        2 => any::<u8>().prop_map(|host| Op::Accept { host }),
        6 => (any::<u8>(), side(), 0u16..20_000).prop_map(|(conn, side, len)| Op::Write { conn, side, len }),
        4 => (any::<u8>(), side(), 1u16..9_000).prop_map(|(conn, side, max)| Op::Read { conn, side, max }),
        1 => (any::<u8>(), side()).prop_map(|(conn, side)| Op::Shutdown { conn, side }),
        1 => (any::<u8>(), side()).prop_map(|(conn, side)| Op::Close { conn, side }),
        1 => (any::<u8>(), side(), 1u32..200_000).prop_map(|(conn, side, size)| Op::SetReceiveBuffer { conn, side, size }),
        4 => (0u32..300_000).prop_map(|micros| Op::Run { micros }),
        1 => (any::<u8>(), any::<u8>(), 0u16..20_000, 0u16..5_000, 0u16..300).prop_map(
            |(a, b, latency_us, jitter_us, loss_permille)| Op::SetLink { a, b, latency_us, jitter_us, loss_permille }
        ),
    ]
}

fn link() -> impl Strategy<Value = LinkConfig> {
    let latency = prop_oneof![
        (0u64..20_000).prop_map(|us| Latency::Fixed(Duration::from_micros(us))),
        (0u64..5_000, 0u64..20_000).prop_map(|(a, b)| Latency::Uniform {
            min: Duration::from_micros(a),
            max: Duration::from_micros(a + b),
        }),
        (0u64..20_000, 0u64..10_000).prop_map(|(m, s)| Latency::Normal {
            mean: Duration::from_micros(m),
            std_dev: Duration::from_micros(s),
        }),
        (1u64..5_000, 1.2f64..4.0).prop_map(|(m, alpha)| Latency::Pareto {
            min: Duration::from_micros(m),
            alpha,
            max: Duration::from_millis(500),
        }),
    ];
    (
        latency,
        0u64..5_000,
        prop_oneof![3 => Just(0.0), 2 => 0.0f64..0.3],
        prop_oneof![2 => Just(None), 1 => (1_000_000u64..1_000_000_000).prop_map(Some)],
    )
        .prop_map(|(latency, jitter_us, loss, bandwidth)| LinkConfig {
            latency,
            jitter: Duration::from_micros(jitter_us),
            loss,
            bandwidth,
            duplicate: 0.0,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_workloads_deliver_exactly_what_was_written(
        seed in any::<u64>(),
        default_link in link(),
        nagle in any::<bool>(),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let mut config = NetConfig { default_link, ..NetConfig::default() };
        config.tcp.nagle = nagle;
        let summary = OpRunner::new(seed, config).run(&ops);
        prop_assert!(summary.is_ok(), "{}", summary.unwrap_err());
    }
}

#[test]
fn a_lossy_workload_moves_data_and_retransmits() {
    let default_link = LinkConfig {
        loss: 0.2,
        ..LinkConfig::with_latency(Duration::from_millis(3))
    };
    let mut ops = vec![
        Op::Connect { from: 0, to: 1 },
        Op::Connect { from: 2, to: 1 },
    ];
    ops.extend([Op::Run { micros: 4_000_000 }; 4]);
    for k in 0..40u8 {
        ops.push(Op::Accept { host: 1 });
        ops.push(Op::Write {
            conn: k,
            side: Side::Client,
            len: 3000,
        });
        ops.push(Op::Write {
            conn: k,
            side: Side::Server,
            len: 700,
        });
        ops.push(Op::Run { micros: 20_000 });
        ops.push(Op::Read {
            conn: k,
            side: Side::Server,
            max: 1000,
        });
    }
    let mut runner = OpRunner::new(
        9,
        NetConfig {
            default_link,
            ..NetConfig::default()
        },
    );
    let summary = runner.run(&ops).expect("invariants hold");
    assert_eq!(summary.connections, 2);
    assert_eq!(summary.failed, 0);
    // Writes beyond the 8 KiB send buffer are refused, so less than 40 * 3700 goes in.
    assert!(summary.bytes_written > 40_000, "{summary:?}");
    assert_eq!(summary.bytes_read, summary.bytes_written);
    let lost = runner
        .net()
        .trace()
        .count(|e| matches!(e, TraceEvent::SegmentLost { .. }));
    let retransmitted = runner.net().trace().count(|e| {
        matches!(
            e,
            TraceEvent::SegmentSent {
                retransmit: true,
                ..
            }
        )
    });
    assert!(
        lost > 10 && retransmitted >= lost / 2,
        "lost {lost}, retransmitted {retransmitted}"
    );
}

#[test]
fn decoded_byte_strings_run_cleanly() {
    // The fuzzer's decoder on a few fixed inputs, including degenerate ones.
    let inputs: [&[u8]; 4] = [
        b"",
        &[
            0, 0, 1, 0, 7, 0, 0, 10, 2, 0, 255, 255, 1, 1, 0, 0, 3, 1, 0, 16, 7, 0, 0, 255,
        ],
        &[
            8, 0x10, 200, 0xff, 0, 0, 1, 0, 2, 0, 100, 0, 7, 0, 255, 255, 5, 0, 0, 0, 7, 0, 255,
            255,
        ],
        &[255; 64],
    ];
    for bytes in inputs {
        let ops = Op::decode(bytes);
        assert_eq!(ops.len(), bytes.len() / 4);
        OpRunner::new(1, NetConfig::default())
            .run(&ops)
            .expect("invariants hold");
    }
}
