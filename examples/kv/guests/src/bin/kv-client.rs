//! Sets and reads back OPS keys on a kv-server, reconnecting after any connection
//! error (or, with `--give-up`, failing at the first one).
//! Usage: kv-client HOST:PORT OPS [--give-up]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args.first().cloned().unwrap_or_else(|| "server:7000".into());
    let ops: u32 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(5);
    let give_up = args.iter().any(|a| a == "--give-up");
    let mut conn: Option<TcpStream> = None;
    for op in 1..=ops {
        loop {
            match attempt(&addr, &mut conn, op) {
                Ok(()) => break,
                Err(e) => {
                    println!("op {op}: {e}");
                    if give_up {
                        std::process::exit(1);
                    }
                    conn = None;
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        println!("op {op} ok");
    }
    println!("done");
}

/// Set key `op` and read it back, connecting first if need be.
fn attempt(
    addr: &str,
    conn: &mut Option<TcpStream>,
    op: u32,
) -> Result<(), String> {
    if conn.is_none() {
        let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        *conn = Some(stream);
    }
    let Some(stream) = conn.as_ref() else {
        return Err("not connected".into());
    };
    let value = op * 10;
    request(stream, &format!("SET k{op} {value}"), "OK")?;
    request(stream, &format!("GET k{op}"), &format!("VALUE {value}"))
}

/// Send one request line and read its one-line answer.
fn request(mut stream: &TcpStream, line: &str, expected: &str) -> Result<(), String> {
    stream
        .write_all(format!("{line}\n").as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut answer = String::new();
    // The server answers one line per request, so nothing is read past it.
    match BufReader::new(stream).read_line(&mut answer) {
        Ok(0) => Err("the server closed the connection".into()),
        Ok(_) if answer.trim() == expected => Ok(()),
        Ok(_) => Err(format!("{line:?} answered {:?}", answer.trim())),
        Err(e) => Err(format!("receive: {e}")),
    }
}
