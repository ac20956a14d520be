//! Small std::net scenarios, one per mode: `probe MODE ARGS...`.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use simnet_test_guests::{FNV_START, arg, args, fnv, pattern};

fn main() {
    let args = args();
    let mode = args.first().map(String::as_str).unwrap_or("");
    let rest = &args[1.min(args.len())..];
    match mode {
        "refused" => refused(rest),
        "sleep" => sleep(rest),
        "read-timeout" => read_timeout(rest),
        "half-close-client" => half_close_client(rest),
        "slow-half-close-client" => slow_half_close_client(rest),
        "half-close-server" => half_close_server(rest),
        "bulk-send" => bulk_send(rest),
        "bulk-recv" => bulk_recv(rest),
        "bulk-send-light" => bulk_send_light(rest),
        "bulk-recv-light" => bulk_recv_light(rest),
        "resolve" => resolve(rest),
        "env" => env(),
        "spin" => spin(),
        "spin-until" => spin_until(rest),
        "trap" => panic!("the guest panicked on purpose"),
        "exit" => std::process::exit(arg(rest, 0, "code")),
        "alloc" => alloc(rest),
        "alloc-gradually" => alloc_gradually(rest),
        "accept-forever" => accept_forever(rest),
        "connect-hold" => connect_hold(rest),
        "send-then-hold" => send_then_hold(rest),
        "ping" => ping(rest),
        "eager-retry" => eager_retry(rest),
        "naive-request" => naive_request(rest),
        "reconnecting-ping" => reconnecting_ping(rest),
        "accept-then-trap" => accept_then_trap(rest),
        "cat" => cat(),
        "say" => println!("{}", rest.join(" ")),
        "huge-calls" => huge_calls(),
        "poll-zero" => poll_zero(rest),
        "recurse" => {
            let depth = recurse(std::hint::black_box(0));
            println!("recursed to {depth}");
        }
        "sleep-years" => {
            std::thread::sleep(Duration::from_secs(10 * 365 * 24 * 3600));
            println!("woke up after ten years");
        }
        "ports" => ports(),
        "sockets" => sockets(),
        "trap-mid-write" => trap_mid_write(rest),
        "exit-mid-write" => exit_mid_write(rest),
        "interleave" => interleave(rest),
        "flood" => flood(rest),
        "files" => files(rest),
        "udp-serve" => udp_serve(rest),
        "udp-request" => udp_request(rest),
        "udp-send" => udp_send(rest),
        "log-lines" => log_lines(rest),
        "file-appends" => file_appends(rest),
        "file-bulk" => file_bulk(rest),
        "file-tree" => file_tree(rest),
        "file-ids" => file_ids(rest),
        "send-lines" => send_lines(rest),
        other => {
            eprintln!("unknown mode {other:?}");
            std::process::exit(2)
        }
    }
}

fn refused(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    match TcpStream::connect(&addr) {
        Ok(_) => {
            println!("connect to {addr}: unexpectedly connected");
            std::process::exit(1)
        }
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
            println!("connect to {addr}: refused")
        }
        Err(e) => {
            println!("connect to {addr}: {e} ({:?})", e.kind());
            std::process::exit(1)
        }
    }
}

fn sleep(args: &[String]) {
    let secs: u64 = arg(args, 0, "seconds");
    let steps: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let start = Instant::now();
    for _ in 0..steps {
        std::thread::sleep(Duration::from_secs(secs) / steps as u32);
    }
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch");
    println!(
        "slept {:?}; wall clock {}s",
        start.elapsed(),
        wall.as_secs()
    );
}

fn read_timeout(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let ms: u64 = arg(args, 1, "timeout ms");
    let mut conn = TcpStream::connect(&addr).expect("connect");
    conn.set_read_timeout(Some(Duration::from_millis(ms)))
        .expect("set_read_timeout");
    let start = Instant::now();
    let mut buf = [0u8; 16];
    match conn.read(&mut buf) {
        Ok(n) => println!("read {n} bytes"),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            println!("read timed out after {:?}", start.elapsed())
        }
        Err(e) => println!("read failed: {e}"),
    }
}

fn half_close_client(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let mut conn = TcpStream::connect(&addr).expect("connect");
    conn.write_all(b"hello, half-closed world").expect("write");
    conn.shutdown(Shutdown::Write).expect("shutdown");
    let mut reply = String::new();
    conn.read_to_string(&mut reply).expect("read reply");
    println!("reply: {reply}");
}

fn half_close_server(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let listener = TcpListener::bind(&addr).expect("bind");
    let (mut conn, _) = listener.accept().expect("accept");
    let mut got = String::new();
    conn.read_to_string(&mut got).expect("read to end");
    // The client's FIN arrived; our direction is still open.
    let reply = format!("{} bytes: {}", got.len(), got.to_uppercase());
    conn.write_all(reply.as_bytes())
        .expect("write after peer's FIN");
    println!("answered after end of stream");
}

fn bulk_send(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let total: u64 = arg(args, 1, "bytes");
    let start = Instant::now();
    let mut conn = TcpStream::connect(&addr).expect("connect");
    let mut hash = FNV_START;
    let mut sent = 0u64;
    let mut chunk = vec![0u8; 32 * 1024];
    while sent < total {
        let n = chunk.len().min((total - sent) as usize);
        for (i, b) in chunk[..n].iter_mut().enumerate() {
            *b = pattern(sent + i as u64);
        }
        conn.write_all(&chunk[..n]).expect("write");
        hash = fnv(hash, &chunk[..n]);
        sent += n as u64;
    }
    conn.shutdown(Shutdown::Write).expect("shutdown");
    let mut reply = String::new();
    conn.read_to_string(&mut reply).expect("read reply");
    let expected = format!("{sent} {hash:016x}");
    println!(
        "sent {sent} bytes in {:?}; receiver says {reply}",
        start.elapsed()
    );
    if reply.trim() != expected {
        println!("MISMATCH: expected {expected}");
        std::process::exit(1);
    }
}

fn bulk_recv(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let listener = TcpListener::bind(&addr).expect("bind");
    let (mut conn, _) = listener.accept().expect("accept");
    let mut hash = FNV_START;
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = conn.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        hash = fnv(hash, &buf[..n]);
        total += n as u64;
    }
    conn.write_all(format!("{total} {hash:016x}").as_bytes())
        .expect("reply");
    println!("received {total} bytes");
}

/// A digest cheap enough not to hide the transfer: the wrapping sum of the stream's
/// little-endian 64-bit words (a short last word padded with zeros).
#[derive(Default)]
struct WordSum {
    sum: u64,
    pending: Vec<u8>,
}

impl WordSum {
    fn add(&mut self, mut bytes: &[u8]) {
        if !self.pending.is_empty() {
            let take = (8 - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() < 8 {
                return;
            }
            self.sum = self.sum.wrapping_add(word(&self.pending));
            self.pending.clear();
        }
        let words = bytes.chunks_exact(8);
        self.pending.extend_from_slice(words.remainder());
        for w in words {
            self.sum = self.sum.wrapping_add(word(w));
        }
    }

    fn finish(&self) -> u64 {
        let mut last = [0u8; 8];
        last[..self.pending.len()].copy_from_slice(&self.pending);
        self.sum.wrapping_add(u64::from_le_bytes(last))
    }
}

fn word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("eight bytes"))
}

/// `bulk-send` without per-byte work: one 64 KiB buffer, filled once, sent again and
/// again; the receiver answers with the `WordSum` of what it got.
fn bulk_send_light(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let total: u64 = arg(args, 1, "bytes");
    let mut conn = TcpStream::connect(&addr).expect("connect");
    let chunk: Vec<u8> = (0..64 * 1024).map(|i| pattern(i as u64)).collect();
    let mut digest = WordSum::default();
    let mut sent = 0u64;
    while sent < total {
        let n = chunk.len().min((total - sent) as usize);
        conn.write_all(&chunk[..n]).expect("write");
        digest.add(&chunk[..n]);
        sent += n as u64;
    }
    conn.shutdown(Shutdown::Write).expect("shutdown");
    let mut reply = String::new();
    conn.read_to_string(&mut reply).expect("read reply");
    let expected = format!("{sent} {:016x}", digest.finish());
    if reply.trim() != expected {
        println!("MISMATCH: expected {expected}, receiver says {reply}");
        std::process::exit(1);
    }
    println!("sent {sent} bytes");
}

fn bulk_recv_light(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let listener = TcpListener::bind(&addr).expect("bind");
    let (mut conn, _) = listener.accept().expect("accept");
    let mut digest = WordSum::default();
    let mut total = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = conn.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        digest.add(&buf[..n]);
        total += n as u64;
    }
    let reply = format!("{total} {:016x}", digest.finish());
    conn.write_all(reply.as_bytes()).expect("reply");
    println!("received {total} bytes");
}

fn resolve(args: &[String]) {
    for name in args {
        match (name.as_str(), 80).to_socket_addrs() {
            Ok(addrs) => {
                let ips: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
                println!("{name}: {}", ips.join(" "));
            }
            Err(e) => println!("{name}: error: {e}"),
        }
    }
}

fn env() {
    let args: Vec<String> = std::env::args().collect();
    println!("args: {args:?}");
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.sort();
    println!("env: {vars:?}");
    println!("initial cwd: {:?}", wasi::cli::environment::initial_cwd());
    let mut map = std::collections::HashMap::new();
    for i in 0..8 {
        map.insert(i, i);
    }
    let order: Vec<i32> = map.keys().copied().collect();
    println!("hashmap order: {order:?}");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch");
    println!("wall clock: {}", now.as_secs());
    println!(
        "filesystem root readable: {}",
        std::fs::read_dir("/").is_ok()
    );
}

fn spin() {
    let mut x: u64 = 1;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

/// Busy-wait on the monotonic clock: only terminates if computing costs virtual time.
fn spin_until(args: &[String]) {
    let ms: u64 = arg(args, 0, "milliseconds");
    let start = Instant::now();
    let mut turns = 0u64;
    while start.elapsed() < Duration::from_millis(ms) {
        turns = std::hint::black_box(turns + 1);
    }
    println!("spun until {ms} ms had passed");
}

fn alloc(args: &[String]) {
    let mib: usize = arg(args, 0, "MiB");
    let v = vec![1u8; mib << 20];
    println!("allocated {} bytes", std::hint::black_box(v).len());
}

fn accept_forever(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let listener = TcpListener::bind(&addr).expect("bind");
    let mut held = Vec::new();
    loop {
        let (conn, peer) = listener.accept().expect("accept");
        println!("holding connection from {peer}");
        held.push(conn);
    }
}

/// Connect and then wait to read: blocks forever if the peer never writes.
fn connect_hold(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let mut conn = TcpStream::connect(&addr).expect("connect");
    let mut buf = [0u8; 1];
    match conn.read(&mut buf) {
        Ok(n) => println!("read {n} bytes"),
        Err(e) => println!("read failed: {e} ({:?})", e.kind()),
    }
}

/// Send a byte the peer never reads, then wait to read.
fn send_then_hold(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let mut conn = TcpStream::connect(&addr).expect("connect");
    conn.write_all(b"!").expect("write");
    let mut buf = [0u8; 1];
    match conn.read(&mut buf) {
        Ok(n) => println!("read {n} bytes"),
        Err(e) => println!("read failed: {e} ({:?})", e.kind()),
    }
}

/// Accept one connection, wait until its first byte may have arrived, then crash
/// while holding it.
fn accept_then_trap(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let wait_ms: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let listener = TcpListener::bind(&addr).expect("bind");
    let (_conn, peer) = listener.accept().expect("accept");
    println!("accepted {peer}");
    std::thread::sleep(Duration::from_millis(wait_ms));
    panic!("crashing while holding a connection");
}

/// `ping ADDR COUNT TIMEOUT_MS`: COUNT request/response exchanges, each with a read
/// timeout. A timeout that is too tight for the network is a bug only some runs show.
fn ping(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let count: u32 = arg(args, 1, "count");
    let timeout: u64 = arg(args, 2, "timeout ms");
    let mut conn = TcpStream::connect(&addr).expect("connect");
    conn.set_read_timeout(Some(Duration::from_millis(timeout)))
        .expect("set_read_timeout");
    for i in 0..count {
        let start = Instant::now();
        conn.write_all(b"ping").expect("write");
        let mut reply = [0u8; 4];
        if let Err(e) = conn.read_exact(&mut reply) {
            println!("ping {i}: no reply within {timeout} ms ({e})");
            std::process::exit(1);
        }
        println!("ping {i}: reply in {:?}", start.elapsed());
    }
}

/// `reconnecting-ping ADDR COUNT TIMEOUT_MS`: one ping a second; on a failure or a
/// timeout, reconnect (retrying every second) and go on.
fn reconnecting_ping(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let count: u32 = arg(args, 1, "count");
    let timeout = Duration::from_millis(arg(args, 2, "timeout ms"));
    let connect = || loop {
        match TcpStream::connect(&addr) {
            Ok(c) => {
                c.set_read_timeout(Some(timeout)).expect("set_read_timeout");
                return c;
            }
            Err(e) => {
                println!("connect failed: {e}; retrying in 1s");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    };
    let mut conn = connect();
    let mut ok = 0;
    for i in 0..count {
        let mut reply = [0u8; 4];
        let result = conn
            .write_all(b"ping")
            .and_then(|()| conn.read_exact(&mut reply));
        match result {
            Ok(()) => {
                ok += 1;
                println!("ping {i}: ok");
            }
            Err(e) => {
                println!("ping {i}: {e}; reconnecting");
                conn = connect();
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    println!("{ok} of {count} pings answered");
}

/// `naive-request ADDR SIZE`: send a SIZE-byte request to an echo server and assume a
/// single read returns the whole reply (a classic bug: TCP is a byte stream).
fn naive_request(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let size: usize = arg(args, 1, "size");
    let mut conn = TcpStream::connect(&addr).expect("connect");
    conn.write_all(&vec![b'x'; size]).expect("write");
    let mut reply = vec![0u8; size];
    let n = conn.read(&mut reply).expect("read");
    if n != size {
        println!("BUG: expected a {size}-byte reply, got {n} bytes");
        std::process::exit(1);
    }
    println!("got the whole {size}-byte reply");
}

/// Like `half-close-client`, but idle for DELAY_MS between connecting and sending.
fn slow_half_close_client(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let delay: u64 = arg(args, 1, "delay ms");
    let mut conn = TcpStream::connect(&addr).expect("connect");
    std::thread::sleep(Duration::from_millis(delay));
    conn.write_all(b"late but here").expect("write");
    conn.shutdown(Shutdown::Write).expect("shutdown");
    let mut reply = String::new();
    conn.read_to_string(&mut reply).expect("read reply");
    println!("reply: {reply}");
}

/// `eager-retry ADDR ATTEMPTS`: connect, retrying at once on failure (no back-off), and
/// do one exchange. A short outage of the server uses up every attempt in moments.
fn eager_retry(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let attempts: u32 = arg(args, 1, "attempts");
    for attempt in 1..=attempts {
        match TcpStream::connect(&addr) {
            Ok(mut conn) => {
                conn.write_all(b"ping").expect("write");
                let mut reply = [0u8; 4];
                conn.read_exact(&mut reply).expect("read");
                println!("connected on attempt {attempt}");
                return;
            }
            Err(e) => eprintln!("attempt {attempt}: {e}"),
        }
    }
    println!("gave up after {attempts} attempts");
    std::process::exit(1);
}

/// Copy stdin to stdout, then report how much came and in how many reads.
fn cat() {
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0; 4096];
    let (mut total, mut reads) = (0, 0);
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                std::io::stdout().write_all(&buf[..n]).expect("stdout");
                total += n;
                reads += 1;
            }
            Err(e) => {
                eprintln!("stdin: {e}");
                std::process::exit(1)
            }
        }
    }
    eprintln!("read {total} bytes from stdin in {reads} reads");
}

/// Alternate lines on stdout and stderr, sleeping between them.
fn interleave(args: &[String]) {
    let n: u32 = arg(args, 0, "lines");
    for i in 0..n {
        println!("out {i}");
        eprintln!("err {i}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Write `bytes` bytes of text to stdout, then a line to stderr.
fn flood(args: &[String]) {
    let total: usize = arg(args, 0, "bytes");
    let line = [b'x'; 1023];
    let mut out = std::io::stdout().lock();
    let mut written = 0;
    while written < total {
        let n = (total - written).min(1024);
        out.write_all(&line[..n - 1]).expect("stdout");
        out.write_all(b"\n").expect("stdout");
        written += n;
    }
    drop(out);
    eprintln!("flooded {total} bytes");
}

/// Use the preopened directory `dir`: list it, write a file, read it back, stat it.
fn files(args: &[String]) {
    let dir: String = arg(args, 0, "directory");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    println!("listing order: {names:?}");
    names.sort();
    println!("sorted: {names:?}");
    let input =
        std::fs::read_to_string(format!("{dir}/input.txt")).unwrap_or_else(|e| format!("<{e}>"));
    println!("input.txt: {input:?}");
    let before = std::fs::metadata(format!("{dir}/input.txt")).and_then(|m| m.modified());
    println!(
        "input.txt modified: {:?}",
        before.map(|t| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs())
    );
    std::thread::sleep(Duration::from_secs(5));
    std::fs::write(format!("{dir}/output.txt"), "written by the guest\n").expect("write");
    let m = std::fs::metadata(format!("{dir}/output.txt")).expect("metadata");
    println!(
        "output.txt: {} bytes, modified {:?}",
        m.len(),
        m.modified()
            .map(|t| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs())
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    println!("wall clock: {now}");
}

/// Poll a zero-duration timeout forever: `block`, `ready` or `poll` it.
fn poll_zero(args: &[String]) {
    use wasi::clocks::monotonic_clock::subscribe_duration;
    let how: String = arg(args, 0, "block|ready|poll");
    loop {
        let p = subscribe_duration(0);
        match how.as_str() {
            "block" => p.block(),
            "ready" => {
                std::hint::black_box(p.ready());
            }
            _ => {
                std::hint::black_box(wasi::io::poll::poll(&[&p]));
            }
        }
    }
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 64]);
    recurse(frame[63] + 1) + frame[0]
}

/// Bind every port of one address, then report how many it got.
fn ports() {
    let mut held = Vec::new();
    loop {
        match TcpListener::bind("127.0.0.1:0") {
            Ok(l) => held.push(l),
            Err(e) => {
                println!("bound {} listeners, then: {e}", held.len());
                return;
            }
        }
    }
}

/// Open sockets until the host refuses, then report how many.
fn sockets() {
    let mut held = Vec::new();
    loop {
        match TcpListener::bind("127.0.0.1:0") {
            Ok(l) => held.push(l),
            Err(e) => {
                println!("opened {} sockets, then: {:?}", held.len(), e.kind());
                return;
            }
        }
    }
}

/// Connect, write half of a large buffer, then trap.
fn trap_mid_write(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let mut s = TcpStream::connect(&addr).expect("connect");
    s.write_all(&vec![7u8; 100_000]).expect("write");
    panic!("trapping in the middle of a transfer");
}

/// `exit-mid-write ADDR`: connect, shrink the send buffer, write 64 KiB in one
/// call (wasmtime-wasi takes it all and hands it to the kernel as room frees), and
/// exit at once, abandoning what was not handed over yet.
fn exit_mid_write(args: &[String]) {
    use std::os::fd::AsRawFd;
    let addr: String = arg(args, 0, "address");
    let mut s = TcpStream::connect(&addr).expect("connect");
    let size: libc::c_int = 1024;
    // SAFETY: a valid socket descriptor and a pointer to a c_int of the given size.
    let set = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0, "setsockopt");
    let n = s.write(&vec![7u8; 65_536]).expect("write");
    println!("wrote {n}");
    std::process::exit(0);
}

/// Allocate `MiB` mebibytes in 4 KiB pieces, keeping them all: memory grows a little
/// at a time.
fn alloc_gradually(args: &[String]) {
    let mib: usize = arg(args, 0, "MiB");
    let mut kept: Vec<Box<[u8; 4096]>> = Vec::new();
    while kept.len() < mib * 256 {
        kept.push(Box::new([1u8; 4096]));
    }
    println!(
        "allocated {} bytes in {} pieces",
        kept.len() * 4096,
        kept.len()
    );
}

/// Host calls with absurd arguments: each must return, not hang or crash the host.
fn huge_calls() {
    use wasi::clocks::monotonic_clock::{subscribe_duration, subscribe_instant};
    let far = subscribe_duration(u64::MAX);
    println!("subscribe-duration max ready: {}", far.ready());
    let far = subscribe_instant(u64::MAX);
    println!("subscribe-instant max ready: {}", far.ready());
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local");
    let mut c = TcpStream::connect(addr).expect("connect");
    let (mut a, _) = listener.accept().expect("accept");
    c.write_all(b"hello").expect("write");
    let mut buf = vec![0u8; 16 << 20];
    println!("read into 16 MiB: {:?}", a.read(&mut buf).map(|n| n));
    let stdin = wasi::cli::stdin::get_stdin();
    println!(
        "stdin read u64::MAX: {:?}",
        stdin.read(u64::MAX).map(|b| b.len())
    );
    let random = wasi::random::random::get_random_bytes(1 << 20);
    println!("1 MiB of random bytes: {}", random.len());
    println!("done");
}

/// `file-appends DIR N SIZE`: N appends of SIZE bytes to DIR/log, each followed by
/// `sync_data` (a write-ahead log's pattern).
fn file_appends(args: &[String]) {
    let dir: String = arg(args, 0, "directory");
    let n: u32 = arg(args, 1, "count");
    let size: usize = arg(args, 2, "size");
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(format!("{dir}/log"))
        .expect("open the log");
    let record = vec![b'r'; size];
    for _ in 0..n {
        log.write_all(&record).expect("append");
        log.sync_data().expect("sync_data");
    }
    println!("{n} appends of {size} bytes");
}

/// `file-bulk DIR MIB`: write MIB MiB to DIR/big in 64 KiB chunks, sync, read it
/// back and print a light digest.
fn file_bulk(args: &[String]) {
    let dir: String = arg(args, 0, "directory");
    let mib: u64 = arg(args, 1, "MiB");
    let path = format!("{dir}/big");
    let chunk: Vec<u8> = (0..65_536u32).map(|i| (i % 251) as u8).collect();
    let mut f = std::fs::File::create(&path).expect("create");
    for _ in 0..mib * 16 {
        f.write_all(&chunk).expect("write");
    }
    f.sync_all().expect("sync");
    drop(f);
    let mut f = std::fs::File::open(&path).expect("open");
    let mut buf = vec![0u8; 65_536];
    let (mut total, mut sum) = (0u64, 0u64);
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        total += n as u64;
        // A light digest: the file's I/O is what is measured, not the guest's loop.
        sum = sum.wrapping_add(u64::from(buf[0]) + u64::from(buf[n - 1]));
    }
    println!("{total} bytes, sum {sum}");
}

/// `file-tree DIR N`: create N small files in DIR/t, list them, rename each, remove
/// each, and the directory.
fn file_tree(args: &[String]) {
    let dir: String = arg(args, 0, "directory");
    let n: u32 = arg(args, 1, "count");
    let t = format!("{dir}/t");
    std::fs::create_dir(&t).expect("mkdir");
    for i in 0..n {
        std::fs::write(format!("{t}/f{i}"), b"sixteen bytes..!").expect("create");
    }
    let listed = std::fs::read_dir(&t).expect("list").count();
    for i in 0..n {
        std::fs::rename(format!("{t}/f{i}"), format!("{t}/g{i}")).expect("rename");
    }
    for i in 0..n {
        std::fs::remove_file(format!("{t}/g{i}")).expect("remove");
    }
    std::fs::remove_dir(&t).expect("rmdir");
    println!("{n} files created, {listed} listed, renamed, removed");
}

/// `file-ids DIR`: what a program learns of files' identities and times: the
/// metadata hashes of two new files, then those of a file made after one of them
/// was removed (a real filesystem may give it the removed file's inode), with its
/// modification time.
fn file_ids(args: &[String]) {
    use wasi::filesystem::types::PathFlags;
    let dir: String = arg(args, 0, "directory");
    let dirs = wasi::filesystem::preopens::get_directories();
    let Some((root, _)) = dirs.iter().find(|(_, name)| *name == dir) else {
        println!("no preopen named {dir}");
        return;
    };
    let hash = |name: &str| {
        root.metadata_hash_at(PathFlags::empty(), name)
            .map(|h| format!("{:016x}{:016x}", h.upper, h.lower))
            .unwrap_or_else(|e| format!("error {}", e.name()))
    };
    let mtime = |name: &str| {
        root.stat_at(PathFlags::empty(), name)
            .ok()
            .and_then(|s| s.data_modification_timestamp)
            .map(|t| t.seconds)
    };
    std::fs::write(format!("{dir}/a"), b"a").expect("create a");
    std::thread::sleep(Duration::from_secs(5));
    std::fs::write(format!("{dir}/b"), b"b").expect("create b");
    let a = hash("a");
    println!("a {a} b {}", hash("b"));
    std::fs::remove_file(format!("{dir}/a")).expect("remove a");
    std::thread::sleep(Duration::from_secs(5));
    std::fs::write(format!("{dir}/c"), b"c").expect("create c");
    let c = hash("c");
    println!("c {c}, not a's: {}, modified at {:?}", c != a, mtime("c"));
}

/// `log-lines ADDR FILE TIMEOUT_MS`: accept one connection and append each line it
/// reads (with a read timeout) to FILE, then print how long the slowest line took
/// from its send to its append, by the virtual clock the lines carry.
fn log_lines(args: &[String]) {
    use std::io::BufRead;
    let addr: String = arg(args, 0, "address");
    let path: String = arg(args, 1, "file");
    let timeout = Duration::from_millis(arg(args, 2, "timeout ms"));
    let listener = TcpListener::bind(&addr).expect("bind");
    let (conn, _) = listener.accept().expect("accept");
    conn.set_read_timeout(Some(timeout)).expect("set_read_timeout");
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open the log");
    let (mut lines, mut worst) = (0u32, Duration::ZERO);
    for line in std::io::BufReader::new(conn).lines() {
        let line = match line {
            Ok(line) => line,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => panic!("read: {e}"),
        };
        writeln!(log, "{line}").expect("append");
        let sent: u128 = line.split(' ').nth(1).and_then(|t| t.parse().ok()).unwrap_or(0);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        worst = worst.max(Duration::from_nanos(now.saturating_sub(sent) as u64));
        lines += 1;
    }
    println!("logged {lines} lines; slowest round {worst:?}");
}

/// `send-lines ADDR COUNT GAP_MS`: send COUNT lines `line N SENT_NS`, GAP_MS apart.
fn send_lines(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let count: u32 = arg(args, 1, "count");
    let gap = Duration::from_millis(arg(args, 2, "gap ms"));
    let mut conn = TcpStream::connect(&addr).expect("connect");
    for i in 0..count {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        writeln!(conn, "line {now} {i}").expect("send");
        std::thread::sleep(gap);
    }
    println!("sent {count} lines");
}

/// `udp-send ADDR SIZE`: send one datagram of SIZE bytes to ADDR from an unbound
/// socket of ADDR's family, and say what the send returned.
fn udp_send(args: &[String]) {
    let addr: std::net::SocketAddr = arg(args, 0, "address");
    let size: usize = arg(args, 1, "size");
    let local = if addr.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" };
    let socket = UdpSocket::bind(local).expect("bind");
    match socket.send_to(&vec![7u8; size], addr) {
        Ok(n) => println!("sent {n} bytes"),
        Err(e) => println!("send failed: {e}"),
    }
}

/// `udp-serve ADDR`: answer every datagram with "answer: " and its payload, forever.
fn udp_serve(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let socket = UdpSocket::bind(&addr).expect("bind");
    let mut buf = [0u8; 1500];
    loop {
        let (n, from) = socket.recv_from(&mut buf).expect("receive");
        let mut answer = b"answer: ".to_vec();
        answer.extend_from_slice(&buf[..n]);
        socket.send_to(&answer, from).expect("send");
    }
}

/// `udp-request ADDR COUNT TIMEOUT_MS TRIES`: COUNT requests, each sent again after
/// TIMEOUT_MS without an answer (wasi-libc has no receive timeout for UDP, so the
/// socket is polled), up to TRIES times; exits 1 if one goes unanswered.
fn udp_request(args: &[String]) {
    let addr: String = arg(args, 0, "address");
    let count: u32 = arg(args, 1, "count");
    let timeout = Duration::from_millis(arg(args, 2, "timeout ms"));
    let tries: u32 = arg(args, 3, "tries");
    let socket = UdpSocket::bind("0.0.0.0:0").expect("bind");
    socket.connect(&addr).expect("connect");
    socket.set_nonblocking(true).expect("nonblocking");
    let mut retries = 0;
    for i in 0..count {
        let request = format!("request {i}");
        let expected = format!("answer: {request}");
        let answered = (1..=tries).any(|attempt| {
            if attempt > 1 {
                retries += 1;
            }
            socket.send(request.as_bytes()).expect("send");
            let start = Instant::now();
            let mut buf = [0u8; 1500];
            while start.elapsed() < timeout {
                match socket.recv(&mut buf) {
                    // A late answer to an earlier request is skipped.
                    Ok(n) if buf[..n] == *expected.as_bytes() => return true,
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    Err(e) => panic!("receive: {e}"),
                }
            }
            false
        });
        if !answered {
            println!("request {i}: no answer after {tries} tries");
            std::process::exit(1);
        }
    }
    println!("{count} of {count} requests answered ({retries} resent)");
}
