//! A key-value server: one line per request, `SET key value` (answer `OK`) or
//! `GET key` (answer `VALUE value` or `NONE`). Keys live in memory only.
//! Usage: kv-server PORT

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(7000);
    let listener = TcpListener::bind(("0.0.0.0", port)).expect("bind");
    println!("listening on port {port}");
    let mut store = BTreeMap::new();
    for conn in listener.incoming() {
        match conn {
            Ok(conn) => serve(conn, &mut store),
            Err(e) => eprintln!("accept failed: {e}"),
        }
    }
}

fn serve(conn: TcpStream, store: &mut BTreeMap<String, String>) {
    let peer = conn.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    println!("client {peer} connected");
    let mut writer = &conn;
    for line in BufReader::new(&conn).lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["SET", key, value] => {
                store.insert(key.to_string(), value.to_string());
                "OK".to_string()
            }
            ["GET", key] => match store.get(*key) {
                Some(v) => format!("VALUE {v}"),
                None => "NONE".to_string(),
            },
            _ => "ERROR".to_string(),
        };
        if writer.write_all(format!("{answer}\n").as_bytes()).is_err() {
            break;
        }
    }
    println!("client {peer} gone");
}
