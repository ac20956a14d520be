mod common;

use std::time::Duration;

use common::{describe, guest, two_hosts};
use simnet_wasi::Outcome;

#[test]
fn echo_server_and_client() {
    let (mut sim, server, client) = two_hosts(1, Duration::from_millis(5));
    sim.spawn(guest(
        "server",
        server,
        "echo-server",
        &["10.0.0.1:7000", "1"],
    ));
    sim.spawn(
        guest(
            "client",
            client,
            "echo-client",
            &["10.0.0.1:7000", "10", "64"],
        )
        .start_at(Duration::from_millis(1)),
    );
    let report = sim.run();
    let all = describe(&sim, &report);
    assert_eq!(
        report.guest("client").unwrap().outcome,
        Outcome::Exited(0),
        "{all}"
    );
    assert_eq!(
        report.guest("server").unwrap().outcome,
        Outcome::Exited(0),
        "{all}"
    );
    println!("{all}");
}
