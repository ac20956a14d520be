//! Echo client on std::net: `echo-client ADDR COUNT SIZE` sends COUNT messages of SIZE
//! bytes, one at a time, and checks each echo.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

fn main() {
    let args = simnet_test_guests::args();
    let addr: String = simnet_test_guests::arg(&args, 0, "address");
    let count: u64 = simnet_test_guests::arg(&args, 1, "count");
    let size: usize = simnet_test_guests::arg(&args, 2, "size");
    let start = Instant::now();
    let mut conn = TcpStream::connect(&addr).expect("connect");
    conn.set_nodelay(true).ok();
    println!("connected to {addr} in {:?}", start.elapsed());
    let mut out = vec![0u8; size];
    let mut back = vec![0u8; size];
    for i in 0..count {
        for (j, b) in out.iter_mut().enumerate() {
            *b = simnet_test_guests::pattern(i + j as u64);
        }
        conn.write_all(&out).expect("write");
        conn.read_exact(&mut back).expect("read");
        assert_eq!(out, back, "echo {i} differs");
    }
    println!(
        "{count} round trips of {size} bytes in {:?}",
        start.elapsed()
    );
}
