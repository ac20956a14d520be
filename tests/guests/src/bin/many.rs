//! Many connections at once on raw `wasi:sockets`, non-blocking, with one
//! `wasi:io/poll.poll` over all their pollables.
//!
//! - `many serve ADDR [CONNS]`: an echo server for any number of concurrent clients;
//!   with CONNS, it exits once that many connections have come and gone.
//! - `many clients ADDR N SIZE`: N clients at once, each sending SIZE bytes and
//!   reading them back.
//! - `many calls KIND N`: one host call N times over a loopback connection to itself,
//!   for timing from outside (KIND: `clock`, `check-write`, `read-empty`, `ready`,
//!   `round-trip` (64 bytes written and read on the other end, then back: four
//!   calls, each write answered so that no acknowledgement waits on a timer)).
//! - `many listen ADDR BACKLOG SECONDS`: listen and never accept.
//! - `many connect-all ADDR N WAIT_MS`: start N connects, wait WAIT_MS, report how
//!   many completed (a full backlog leaves the rest pending).

use std::net::SocketAddr;

use simnet_test_guests::{arg, args, family_of, from_wasi, pattern, to_wasi};
use wasi::clocks::monotonic_clock;
use wasi::io::poll::{Pollable, poll};
use wasi::io::streams::{InputStream, OutputStream, StreamError};
use wasi::sockets::instance_network::instance_network;
use wasi::sockets::network::ErrorCode;
use wasi::sockets::tcp::TcpSocket;
use wasi::sockets::tcp_create_socket::create_tcp_socket;

/// Streams before the socket: fields drop in order, and a socket outlives its streams.
struct Conn {
    input: InputStream,
    output: OutputStream,
    _socket: TcpSocket,
    pending: Vec<u8>,
    received: usize,
    sent: usize,
    done: bool,
}

fn main() {
    let args = args();
    let mode = args.first().map(String::as_str).unwrap_or("");
    let rest = &args[1.min(args.len())..];
    match mode {
        "serve" => serve(
            arg(rest, 0, "address"),
            rest.get(1).map(|_| arg(rest, 1, "connection count")),
        ),
        "clients" => clients(
            arg(rest, 0, "address"),
            arg(rest, 1, "count"),
            arg(rest, 2, "size"),
        ),
        "calls" => calls(&arg::<String>(rest, 0, "kind"), arg(rest, 1, "count")),
        "listen" => listen_idle(
            arg(rest, 0, "address"),
            arg(rest, 1, "backlog"),
            arg(rest, 2, "seconds"),
        ),
        "connect-all" => connect_all(
            arg(rest, 0, "address"),
            arg(rest, 1, "count"),
            arg(rest, 2, "wait ms"),
        ),
        other => {
            eprintln!("unknown mode {other:?}");
            std::process::exit(2)
        }
    }
}

fn listen(addr: SocketAddr) -> TcpSocket {
    let net = instance_network();
    let sock = create_tcp_socket(family_of(addr)).expect("create");
    sock.start_bind(&net, to_wasi(addr)).expect("start_bind");
    sock.subscribe().block();
    sock.finish_bind().expect("finish_bind");
    sock.start_listen().expect("start_listen");
    sock.subscribe().block();
    sock.finish_listen().expect("finish_listen");
    sock
}

fn serve(addr: SocketAddr, limit: Option<usize>) {
    let listener = listen(addr);
    let mut finished = 0;
    println!(
        "serving on {}",
        from_wasi(listener.local_address().expect("local"))
    );
    let accept_ready = listener.subscribe();
    let mut conns: Vec<Conn> = Vec::new();
    loop {
        // One pollable per connection: readable when idle, writable while echoing.
        let mut polls: Vec<Pollable> = Vec::with_capacity(conns.len());
        for c in &conns {
            polls.push(if c.pending.is_empty() {
                c.input.subscribe()
            } else {
                c.output.subscribe()
            });
        }
        let mut all: Vec<&Pollable> = vec![&accept_ready];
        all.extend(polls.iter());
        let ready = poll(&all);
        drop(all);
        drop(polls);
        for i in ready {
            if i == 0 {
                while let Ok((socket, input, output)) = listener.accept() {
                    conns.push(Conn {
                        input,
                        output,
                        _socket: socket,
                        pending: Vec::new(),
                        received: 0,
                        sent: 0,
                        done: false,
                    });
                }
                continue;
            }
            pump_echo(&mut conns[i as usize - 1]);
        }
        conns.retain(|c| {
            if c.done {
                finished += 1;
                if limit.is_none() {
                    println!("connection closed after {} bytes", c.received);
                }
            }
            !c.done
        });
        if limit.is_some_and(|n| finished >= n) {
            println!("served {finished} connections");
            return;
        }
    }
}

fn pump_echo(c: &mut Conn) {
    if c.pending.is_empty() {
        match c.input.read(64 * 1024) {
            Ok(bytes) => {
                c.received += bytes.len();
                c.pending = bytes;
            }
            Err(_) => c.done = true,
        }
    }
    if !c.pending.is_empty() {
        match c.output.check_write() {
            Ok(0) => {}
            Ok(n) => {
                let n = (n as usize).min(c.pending.len());
                if c.output.write(&c.pending[..n]).is_err() {
                    c.done = true;
                }
                c.pending.drain(..n);
            }
            Err(_) => c.done = true,
        }
    }
}

struct Client {
    conn: Option<Conn>,
    socket: Option<TcpSocket>,
    expected: Vec<u8>,
    error: Option<ErrorCode>,
}

fn clients(addr: SocketAddr, n: usize, size: usize) {
    let net = instance_network();
    let mut clients: Vec<Client> = (0..n)
        .map(|i| {
            let sock = create_tcp_socket(family_of(addr)).expect("create");
            sock.start_connect(&net, to_wasi(addr))
                .expect("start_connect");
            let expected = (0..size).map(|j| pattern((i * 7 + j) as u64)).collect();
            Client {
                conn: None,
                socket: Some(sock),
                expected,
                error: None,
            }
        })
        .collect();
    loop {
        let mut polls: Vec<Pollable> = Vec::new();
        let mut owners: Vec<usize> = Vec::new();
        for (i, c) in clients.iter().enumerate() {
            if c.error.is_some() {
                continue;
            }
            let p = match (&c.socket, &c.conn) {
                (Some(s), None) => s.subscribe(),
                (_, Some(conn)) if conn.done => continue,
                (_, Some(conn)) if conn.sent < c.expected.len() => conn.output.subscribe(),
                (_, Some(conn)) => conn.input.subscribe(),
                (None, None) => continue,
            };
            polls.push(p);
            owners.push(i);
        }
        if polls.is_empty() {
            break;
        }
        let refs: Vec<&Pollable> = polls.iter().collect();
        let ready = poll(&refs);
        drop(refs);
        drop(polls);
        for r in ready {
            step_client(&mut clients[owners[r as usize]]);
        }
    }
    let ok = clients
        .iter()
        .filter(|c| c.error.is_none() && c.conn.as_ref().is_some_and(|x| x.done))
        .count();
    for (i, c) in clients.iter().enumerate() {
        if let Some(e) = c.error {
            println!("client {i}: {}", e.name());
        }
    }
    println!("{ok} of {n} clients echoed {size} bytes");
    if ok != n {
        std::process::exit(1);
    }
}

fn step_client(c: &mut Client) {
    if c.conn.is_none() {
        let socket = c.socket.take().expect("socket");
        match socket.finish_connect() {
            Ok((input, output)) => {
                c.conn = Some(Conn {
                    input,
                    output,
                    _socket: socket,
                    pending: Vec::new(),
                    received: 0,
                    sent: 0,
                    done: false,
                })
            }
            Err(ErrorCode::WouldBlock) => c.socket = Some(socket),
            Err(e) => c.error = Some(e),
        }
        return;
    }
    let Some(conn) = c.conn.as_mut() else { return };
    if conn.sent < c.expected.len() {
        if let Ok(n) = conn.output.check_write() {
            let n = (n as usize).min(c.expected.len() - conn.sent);
            if n > 0 {
                conn.output
                    .write(&c.expected[conn.sent..conn.sent + n])
                    .expect("write");
                conn.sent += n;
            }
        }
        return;
    }
    match conn.input.read(64 * 1024) {
        Ok(bytes) => {
            assert_eq!(
                &c.expected[conn.received..conn.received + bytes.len()],
                &bytes[..],
                "echo differs"
            );
            conn.received += bytes.len();
            if conn.received == c.expected.len() {
                conn.done = true;
            }
        }
        Err(StreamError::Closed) => panic!("server closed early"),
        Err(StreamError::LastOperationFailed(e)) => panic!("read failed: {}", e.to_debug_string()),
    }
}

fn connect_all(addr: SocketAddr, n: usize, wait_ms: u64) {
    let net = instance_network();
    let sockets: Vec<TcpSocket> = (0..n)
        .map(|_| {
            let s = create_tcp_socket(family_of(addr)).expect("create");
            s.start_connect(&net, to_wasi(addr)).expect("start_connect");
            s
        })
        .collect();
    let deadline = monotonic_clock::subscribe_duration(wait_ms * 1_000_000);
    let mut done = vec![false; n];
    let mut streams = Vec::new();
    loop {
        let polls: Vec<Pollable> = sockets
            .iter()
            .enumerate()
            .filter(|(i, _)| !done[*i])
            .map(|(_, s)| s.subscribe())
            .collect();
        let mut refs: Vec<&Pollable> = vec![&deadline];
        refs.extend(polls.iter());
        let ready = poll(&refs);
        if ready.contains(&0) {
            break;
        }
        let open: Vec<usize> = (0..n).filter(|i| !done[*i]).collect();
        drop(refs);
        drop(polls);
        for r in ready {
            let i = open[r as usize - 1];
            match sockets[i].finish_connect() {
                Ok(pair) => {
                    streams.push(pair);
                    done[i] = true;
                }
                Err(ErrorCode::WouldBlock) => {}
                Err(e) => {
                    println!("connection {i}: {}", e.name());
                    done[i] = true;
                }
            }
        }
    }
    println!(
        "{} of {n} connections established within {wait_ms} ms",
        streams.len()
    );
    drop(streams);
}

/// Listen with a given backlog and never accept, for `seconds`.
fn listen_idle(addr: SocketAddr, backlog: u64, seconds: u64) {
    let net = instance_network();
    let sock = create_tcp_socket(family_of(addr)).expect("create");
    sock.start_bind(&net, to_wasi(addr)).expect("start_bind");
    sock.subscribe().block();
    sock.finish_bind().expect("finish_bind");
    sock.set_listen_backlog_size(backlog).expect("backlog");
    sock.start_listen().expect("start_listen");
    sock.subscribe().block();
    sock.finish_listen().expect("finish_listen");
    println!("listening with backlog {backlog}, never accepting");
    monotonic_clock::subscribe_duration(seconds * 1_000_000_000).block();
}

fn calls(kind: &str, n: u64) {
    let listener = listen("127.0.0.1:0".parse().expect("address"));
    let addr = from_wasi(listener.local_address().expect("local"));
    let net = instance_network();
    let client = create_tcp_socket(family_of(addr)).expect("create");
    client
        .start_connect(&net, to_wasi(addr))
        .expect("start_connect");
    client.subscribe().block();
    let (cin, cout) = client.finish_connect().expect("finish_connect");
    listener.subscribe().block();
    let (server, sin, sout) = listener.accept().expect("accept");
    let message = [0x42u8; 64];
    let mut sink = 0u64;
    for _ in 0..n {
        match kind {
            "clock" => sink ^= monotonic_clock::now(),
            "check-write" => sink ^= cout.check_write().expect("check-write"),
            "read-empty" => sink ^= cin.read(64).expect("read").len() as u64,
            "ready" => sink ^= u64::from(cin.subscribe().ready()),
            "round-trip" => {
                sink ^= pass(&cout, &sin, &message);
                sink ^= pass(&sout, &cin, &message);
            }
            other => {
                eprintln!("unknown call kind {other:?}");
                std::process::exit(2)
            }
        }
    }
    println!("{n} x {kind} ({sink})");
    drop((cin, cout, sin, sout));
    drop((client, server));
}

/// Write `message` on `out` (after `check-write`) and read it back from `input`,
/// waiting for it if it is not there yet (on simnet, over loopback, it always is).
fn pass(out: &OutputStream, input: &InputStream, message: &[u8]) -> u64 {
    // wasmtime-wasi permits nothing while its previous write is still in flight.
    while out.check_write().expect("check-write") < message.len() as u64 {
        out.subscribe().block();
    }
    out.write(message).expect("write");
    let mut got = 0;
    while got < message.len() {
        let n = input.read(message.len() as u64).expect("read").len();
        if n == 0 {
            // wasmtime-wasi reads in a background task: let it run.
            input.subscribe().block();
        }
        got += n;
    }
    got as u64
}
