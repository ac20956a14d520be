//! Calls every `wasi:sockets/tcp` method in every state it can reach on loopback and
//! prints each result, in an order that does not depend on timing: wherever the
//! kernel may still be working, the guest first waits on the relevant pollable.
//! simnet's tests run it on simnet and on wasmtime-wasi's real sockets and require the
//! same output.

use std::net::SocketAddr;

use simnet_test_guests::{from_wasi, ip_to_string, to_wasi};
use wasi::io::streams::{InputStream, StreamError};
use wasi::sockets::instance_network::instance_network;
use wasi::sockets::ip_name_lookup::resolve_addresses;
use wasi::sockets::network::{ErrorCode, IpAddressFamily, Network};
use wasi::sockets::tcp::{ShutdownType, TcpSocket};
use wasi::sockets::tcp_create_socket::create_tcp_socket;

fn show<T: std::fmt::Debug>(what: &str, r: Result<T, ErrorCode>) {
    match r {
        Ok(v) => println!("{what}: ok {v:?}"),
        Err(e) => println!("{what}: error {}", e.name()),
    }
}

fn status<T>(what: &str, r: Result<T, ErrorCode>) -> Option<T> {
    match r {
        Ok(v) => {
            println!("{what}: ok");
            Some(v)
        }
        Err(e) => {
            println!("{what}: error {}", e.name());
            None
        }
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("literal address")
}

fn bind(net: &Network, sock: &TcpSocket, a: SocketAddr) -> Result<(), ErrorCode> {
    sock.start_bind(net, to_wasi(a))?;
    sock.subscribe().block();
    sock.finish_bind()
}

fn stream_result(r: Result<Vec<u8>, StreamError>) -> String {
    match r {
        Ok(b) => format!("ok {:?}", String::from_utf8_lossy(&b)),
        Err(StreamError::Closed) => "closed".into(),
        Err(StreamError::LastOperationFailed(_)) => "failed".into(),
    }
}

fn write_result(r: Result<(), StreamError>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(StreamError::Closed) => "closed".into(),
        Err(StreamError::LastOperationFailed(_)) => "failed".into(),
    }
}

fn read_all(input: &InputStream) -> String {
    let mut got = Vec::new();
    loop {
        match input.blocking_read(1024) {
            Ok(b) => got.extend(b),
            Err(StreamError::Closed) => return format!("{:?} then closed", String::from_utf8_lossy(&got)),
            Err(StreamError::LastOperationFailed(_)) => return format!("{:?} then failed", String::from_utf8_lossy(&got)),
        }
    }
}

fn options(label: &str, s: &TcpSocket) {
    show(&format!("{label} keep-alive-enabled"), s.keep_alive_enabled());
    show(&format!("{label} set-keep-alive-enabled true"), s.set_keep_alive_enabled(true));
    show(&format!("{label} keep-alive-enabled"), s.keep_alive_enabled());
    show(&format!("{label} set-keep-alive-idle-time 0"), s.set_keep_alive_idle_time(0));
    show(&format!("{label} set-keep-alive-idle-time 10s"), s.set_keep_alive_idle_time(10_000_000_000));
    show(&format!("{label} keep-alive-idle-time"), s.keep_alive_idle_time());
    show(&format!("{label} set-keep-alive-interval 0"), s.set_keep_alive_interval(0));
    show(&format!("{label} set-keep-alive-interval 5s"), s.set_keep_alive_interval(5_000_000_000));
    show(&format!("{label} keep-alive-interval"), s.keep_alive_interval());
    show(&format!("{label} set-keep-alive-count 0"), s.set_keep_alive_count(0));
    show(&format!("{label} set-keep-alive-count 4"), s.set_keep_alive_count(4));
    show(&format!("{label} keep-alive-count"), s.keep_alive_count());
    show(&format!("{label} set-hop-limit 0"), s.set_hop_limit(0));
    show(&format!("{label} set-hop-limit 42"), s.set_hop_limit(42));
    show(&format!("{label} hop-limit"), s.hop_limit());
    show(&format!("{label} set-receive-buffer-size 0"), s.set_receive_buffer_size(0));
    status(&format!("{label} set-receive-buffer-size 100000"), s.set_receive_buffer_size(100_000));
    status(&format!("{label} receive-buffer-size"), s.receive_buffer_size());
    show(&format!("{label} set-send-buffer-size 0"), s.set_send_buffer_size(0));
    status(&format!("{label} set-send-buffer-size 100000"), s.set_send_buffer_size(100_000));
    status(&format!("{label} send-buffer-size"), s.send_buffer_size());
    show(&format!("{label} set-listen-backlog-size 0"), s.set_listen_backlog_size(0));
    show(&format!("{label} set-listen-backlog-size 16"), s.set_listen_backlog_size(16));
}

fn main() {
    let net = instance_network();

    println!("== unbound");
    let s = create_tcp_socket(IpAddressFamily::Ipv4).expect("create");
    show("is-listening", Ok::<_, ErrorCode>(s.is_listening()));
    show("address-family", Ok::<_, ErrorCode>(s.address_family()));
    show("local-address", s.local_address());
    show("remote-address", s.remote_address());
    show("finish-bind", s.finish_bind());
    show("finish-connect", s.finish_connect().map(|_| ()));
    show("start-listen", s.start_listen());
    show("finish-listen", s.finish_listen());
    show("accept", s.accept().map(|_| ()));
    show("shutdown both", s.shutdown(ShutdownType::Both));
    options("unbound", &s);
    show("start-connect port 0", s.start_connect(&net, to_wasi(addr("127.0.0.1:0"))));
    show("start-connect 0.0.0.0", s.start_connect(&net, to_wasi(addr("0.0.0.0:80"))));
    show("start-connect ipv6 on ipv4", s.start_connect(&net, to_wasi(addr("[::1]:80"))));
    show("start-connect multicast", s.start_connect(&net, to_wasi(addr("224.0.0.1:80"))));
    show("start-connect broadcast", s.start_connect(&net, to_wasi(addr("255.255.255.255:80"))));
    show("start-bind ipv6 on ipv4", s.start_bind(&net, to_wasi(addr("[::1]:0"))));
    show("start-bind not local", s.start_bind(&net, to_wasi(addr("192.0.2.1:0"))));

    println!("== binding");
    show("start-bind 127.0.0.1:0", s.start_bind(&net, to_wasi(addr("127.0.0.1:0"))));
    show("start-bind again", s.start_bind(&net, to_wasi(addr("127.0.0.1:0"))));
    show("start-listen while binding", s.start_listen());
    s.subscribe().block();
    show("finish-bind", s.finish_bind());
    show("finish-bind again", s.finish_bind());
    println!("== bound");
    let local = s.local_address().map(from_wasi);
    println!("local-address: {}", match local { Ok(a) => format!("ok port-assigned={}", a.port() != 0), Err(e) => e.name().into() });
    show("remote-address", s.remote_address());
    show("start-bind again", s.start_bind(&net, to_wasi(addr("127.0.0.1:0"))));
    show("is-listening", Ok::<_, ErrorCode>(s.is_listening()));
    show("accept", s.accept().map(|_| ()));

    println!("== listening");
    show("start-listen", s.start_listen());
    show("start-listen again", s.start_listen());
    s.subscribe().block();
    show("finish-listen", s.finish_listen());
    show("finish-listen again", s.finish_listen());
    show("is-listening", Ok::<_, ErrorCode>(s.is_listening()));
    show("accept", s.accept().map(|_| ()));
    show("start-connect", s.start_connect(&net, to_wasi(addr("127.0.0.1:9"))));
    show("shutdown", s.shutdown(ShutdownType::Both));
    show("set-listen-backlog-size 8", s.set_listen_backlog_size(8));
    show("start-bind", s.start_bind(&net, to_wasi(addr("127.0.0.1:0"))));
    let port = local.map(|a| a.port()).unwrap_or(0);
    let listen_addr = SocketAddr::from(([127, 0, 0, 1], port));

    println!("== address in use");
    let dup = create_tcp_socket(IpAddressFamily::Ipv4).expect("create");
    show("bind to the listener's port", bind(&net, &dup, listen_addr));
    drop(dup);

    println!("== connecting");
    let c = create_tcp_socket(IpAddressFamily::Ipv4).expect("create");
    show("start-connect", c.start_connect(&net, to_wasi(listen_addr)));
    show("start-connect again", c.start_connect(&net, to_wasi(listen_addr)));
    show("start-bind while connecting", c.start_bind(&net, to_wasi(addr("127.0.0.1:0"))));
    show("start-listen while connecting", c.start_listen());
    c.subscribe().block();
    let Some((cin, cout)) = status("finish-connect", c.finish_connect()) else { return };
    println!("== connected");
    show("finish-connect again", c.finish_connect().map(|_| ()));
    show("start-connect again", c.start_connect(&net, to_wasi(listen_addr)));
    show("start-listen", c.start_listen());
    show("is-listening", Ok::<_, ErrorCode>(c.is_listening()));
    println!("remote-address is the listener: {}", c.remote_address().map(from_wasi) == Ok(listen_addr));
    show("accept", c.accept().map(|_| ()));
    options("connected", &c);

    println!("== accepting");
    s.subscribe().block();
    let Some((a, ain, aout)) = status("accept", s.accept()) else { return };
    show("accept again", s.accept().map(|_| ()));
    println!("accepted remote is the client: {}", a.remote_address().map(from_wasi) == c.local_address().map(from_wasi));
    show("accepted is-listening", Ok::<_, ErrorCode>(a.is_listening()));
    show("accepted address-family", Ok::<_, ErrorCode>(a.address_family()));
    show("accepted keep-alive-enabled", a.keep_alive_enabled());
    show("accepted hop-limit", a.hop_limit());
    show("accepted finish-connect", a.finish_connect().map(|_| ()));
    show("accepted start-listen", a.start_listen());

    println!("== data");
    println!("client write: {}", write_result(cout.blocking_write_and_flush(b"ping")));
    ain.subscribe().block();
    println!("server read: {}", stream_result(ain.read(100)));
    println!("server read again: {}", stream_result(ain.read(100)));
    println!("server write: {}", write_result(aout.blocking_write_and_flush(b"pong")));
    cin.subscribe().block();
    println!("client read: {}", stream_result(cin.read(100)));

    println!("== half-close");
    show("client shutdown send", c.shutdown(ShutdownType::Send));
    show("client shutdown send again", c.shutdown(ShutdownType::Send));
    println!("client check-write: {}", match cout.check_write() { Ok(_) => "ok".into(), Err(StreamError::Closed) => "closed".to_string(), Err(_) => "failed".into() });
    println!("client write: {}", write_result(cout.write(b"x")));
    println!("server reads: {}", read_all(&ain));
    println!("server write after peer FIN: {}", write_result(aout.blocking_write_and_flush(b"still open")));
    cin.subscribe().block();
    println!("client read: {}", stream_result(cin.read(100)));
    show("server shutdown receive", a.shutdown(ShutdownType::Receive));
    println!("server read after shutdown receive: {}", stream_result(ain.read(100)));
    show("server shutdown both", a.shutdown(ShutdownType::Both));
    drop(ain);
    drop(aout);
    drop(a);
    println!("client reads: {}", read_all(&cin));
    drop(cin);
    drop(cout);
    drop(c);

    println!("== refused");
    let r = create_tcp_socket(IpAddressFamily::Ipv4).expect("create");
    // A bound, non-listening socket holds a port nobody listens on.
    let holder = create_tcp_socket(IpAddressFamily::Ipv4).expect("create");
    bind(&net, &holder, addr("127.0.0.1:0")).expect("bind holder");
    let closed_port = holder.local_address().map(from_wasi).expect("holder address");
    show("start-connect", r.start_connect(&net, to_wasi(closed_port)));
    r.subscribe().block();
    show("finish-connect", r.finish_connect().map(|_| ()));
    show("finish-connect again", r.finish_connect().map(|_| ()));
    show("start-connect after failure", r.start_connect(&net, to_wasi(listen_addr)));
    show("start-listen after failure", r.start_listen());
    show("is-listening after failure", Ok::<_, ErrorCode>(r.is_listening()));
    show("remote-address after failure", r.remote_address());
    show("shutdown after failure", r.shutdown(ShutdownType::Both));
    drop(r);
    drop(holder);

    println!("== ipv6");
    let v6 = create_tcp_socket(IpAddressFamily::Ipv6).expect("create v6");
    show("address-family", Ok::<_, ErrorCode>(v6.address_family()));
    show("start-bind ipv4 on ipv6", v6.start_bind(&net, to_wasi(addr("127.0.0.1:0"))));
    show("start-connect ipv4-mapped", v6.start_connect(&net, to_wasi(addr("[::ffff:127.0.0.1]:80"))));
    show("bind [::1]:0", bind(&net, &v6, addr("[::1]:0")));
    show("listen", v6.start_listen().and_then(|_| { v6.subscribe().block(); v6.finish_listen() }));
    let v6addr = v6.local_address().map(from_wasi).expect("v6 local");
    let v6c = create_tcp_socket(IpAddressFamily::Ipv6).expect("create v6");
    show("start-connect [::1]", v6c.start_connect(&net, to_wasi(v6addr)));
    v6c.subscribe().block();
    show("finish-connect", v6c.finish_connect().map(|_| ()));
    v6.subscribe().block();
    show("accept", v6.accept().map(|(sock, input, output)| {
        // Streams go before their socket.
        drop((input, output));
        drop(sock);
    }));

    println!("== listener closed with a pending connection");
    let l = create_tcp_socket(IpAddressFamily::Ipv4).expect("create");
    bind(&net, &l, addr("127.0.0.1:0")).expect("bind");
    l.start_listen().expect("listen");
    l.subscribe().block();
    l.finish_listen().expect("finish listen");
    let laddr = l.local_address().map(from_wasi).expect("local");
    let p = create_tcp_socket(IpAddressFamily::Ipv4).expect("create");
    p.start_connect(&net, to_wasi(laddr)).expect("connect");
    p.subscribe().block();
    let Some((pin, pout)) = status("finish-connect", p.finish_connect()) else { return };
    l.subscribe().block();
    drop(l);
    pin.subscribe().block();
    println!("client read after the listener closed: {}", stream_result(pin.read(10)));
    drop(pin);
    drop(pout);

    println!("== name lookup");
    for name in ["127.0.0.1", "::1", "", "a b", "example.com:80", "[::]:80", "http://example.com/"] {
        match resolve_addresses(&net, name) {
            Ok(stream) => {
                let mut ips = Vec::new();
                loop {
                    match stream.resolve_next_address() {
                        Ok(Some(ip)) => ips.push(ip_to_string(ip)),
                        Ok(None) => break,
                        Err(ErrorCode::WouldBlock) => stream.subscribe().block(),
                        Err(e) => {
                            ips.push(format!("error {}", e.name()));
                            break;
                        }
                    }
                }
                println!("resolve {name:?}: {}", ips.join(" "));
            }
            Err(e) => println!("resolve {name:?}: error {}", e.name()),
        }
    }
    println!("== done");
}
