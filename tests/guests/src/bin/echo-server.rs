//! Echo server on std::net: accepts connections one after another and echoes each
//! until the client closes. `echo-server ADDR [MAX_CONNECTIONS]`.

use std::io::{Read, Write};
use std::net::TcpListener;

fn main() {
    let args = simnet_test_guests::args();
    let addr: String = simnet_test_guests::arg(&args, 0, "address");
    let max: Option<usize> = args
        .get(1)
        .map(|_| simnet_test_guests::arg(&args, 1, "max connections"));
    let listener = TcpListener::bind(&addr).expect("bind");
    println!(
        "listening on {}",
        listener.local_addr().expect("local_addr")
    );
    let mut served = 0;
    while max.is_none_or(|m| served < m) {
        // A connection reset before it was accepted fails `accept` (ECONNABORTED on
        // Linux): a server takes the next one.
        let (mut conn, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                println!("accept failed: {e}");
                continue;
            }
        };
        let mut total = 0u64;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match conn.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    total += n as u64;
                    if let Err(e) = conn.write_all(&buf[..n]) {
                        println!("write to {peer} failed: {e}");
                        break;
                    }
                }
                Err(e) => {
                    println!("read from {peer} failed: {e}");
                    break;
                }
            }
        }
        println!("connection from {peer} closed after {total} bytes");
        served += 1;
    }
}
