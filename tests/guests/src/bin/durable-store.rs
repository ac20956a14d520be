//! A key-value store whose writes must survive a crash of its host, and a client that
//! checks they do.
//!
//! `durable-store serve ADDR DIR [--ack-before-sync]`: on start, replays DIR/log (one
//! `SET key value` line per write) and prints how many keys it recovered; then answers
//! `SET key value` with `OK` once the line is in the log, and `GET key` with
//! `VALUE value` or `NONE`. It syncs each line before acknowledging it, and syncs the
//! directory once the log is created; with `--ack-before-sync` it acknowledges first
//! and syncs only every fourth write (the bug the store's test must catch).
//!
//! `durable-store client ADDR COUNT`: writes COUNT keys, one every 50 ms, reconnecting
//! whenever the server goes away (a write not acknowledged is sent again); then
//! reads every key back, again reconnecting as needed, and prints `LOST key` for any
//! acknowledged write the store no longer has (exit code 1).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") if args.len() >= 3 => serve(&args[1], Path::new(&args[2]), &args[3..]),
        Some("client") if args.len() == 3 => {
            let count = args[2].parse().expect("a count");
            client(&args[1], count)
        }
        _ => {
            eprintln!("usage: durable-store serve ADDR DIR [--ack-before-sync] | client ADDR COUNT");
            std::process::exit(2)
        }
    }
}

fn serve(addr: &str, dir: &Path, flags: &[String]) {
    let ack_first = flags.iter().any(|f| f == "--ack-before-sync");
    let path = dir.join("log");
    let mut store = BTreeMap::new();
    if let Ok(log) = File::open(&path) {
        for line in BufReader::new(log).lines() {
            let Ok(line) = line else { break };
            // A torn last line is no write: it was never acknowledged.
            if let ["SET", key, value] = line.split(' ').collect::<Vec<_>>().as_slice() {
                store.insert(key.to_string(), value.to_string());
            }
        }
    }
    println!("recovered {} keys", store.len());
    let existed = path.exists();
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open the log");
    if !existed {
        // The log's directory entry must be durable too, or a crash loses the file.
        File::open(dir).and_then(|d| d.sync_all()).expect("sync the directory");
    }
    let listener = TcpListener::bind(addr).expect("bind");
    println!("listening on {addr}");
    let mut unsynced = 0;
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let mut writer = &conn;
        for line in BufReader::new(&conn).lines() {
            let Ok(line) = line else { break };
            let answer = match line.split(' ').collect::<Vec<_>>().as_slice() {
                ["SET", key, value] => {
                    log.write_all(format!("SET {key} {value}\n").as_bytes())
                        .expect("append to the log");
                    unsynced += 1;
                    if !ack_first || unsynced == 4 {
                        log.sync_data().expect("sync the log");
                        unsynced = 0;
                    }
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
    }
}

/// One request with its answer, over a connection made (again) as needed.
fn request(addr: &str, conn: &mut Option<BufReader<TcpStream>>, line: &str) -> String {
    loop {
        if conn.is_none() {
            match TcpStream::connect(addr) {
                Ok(c) => {
                    c.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
                    *conn = Some(BufReader::new(c));
                }
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let mut answer = String::new();
        let ok = c.get_mut().write_all(format!("{line}\n").as_bytes()).is_ok()
            && matches!(c.read_line(&mut answer), Ok(n) if n > 0);
        if ok {
            return answer.trim_end().to_string();
        }
        *conn = None;
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn client(addr: &str, count: u32) {
    let mut conn = None;
    for i in 0..count {
        let answer = request(addr, &mut conn, &format!("SET key{i} value{i}"));
        if answer != "OK" {
            println!("SET key{i}: {answer}");
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("wrote {count} keys");
    let mut lost = 0;
    for i in 0..count {
        let answer = request(addr, &mut conn, &format!("GET key{i}"));
        if answer != format!("VALUE value{i}") {
            println!("LOST key{i}: {answer}");
            lost += 1;
        }
    }
    if lost > 0 {
        std::process::exit(1);
    }
    println!("all {count} keys survived");
}
