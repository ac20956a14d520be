//! Calls every `wasi:sockets/udp` method in every state it can reach on loopback and
//! prints each result, waiting on the relevant pollable wherever the kernel may
//! still be working. simnet's tests run it on simnet and on wasmtime-wasi's real
//! sockets and require the same output. Ephemeral port numbers differ between the
//! two, so addresses are printed with the port only as `0` or `port`.
//!
//! A `receive` that finds nothing more leaves wasmtime-wasi waiting on the kernel in
//! a background task that shares the socket; `stream` then traps ("needs exclusive
//! access") until a datagram arrives. Before each `stream` on a socket that received,
//! the guest therefore asks for exactly as many datagrams as it expects.
//!
//! With an argument it runs one case that must end the same way on both instead:
//! `send-unpermitted`, `send-beyond-permit`, `stream-twice`,
//! `drop-socket-before-streams` (each traps on wasmtime-wasi).

use std::net::SocketAddr;

use simnet_test_guests::{from_wasi, to_wasi};
use wasi::sockets::instance_network::instance_network;
use wasi::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress, Network};
use wasi::sockets::udp::{
    IncomingDatagramStream, OutgoingDatagram, OutgoingDatagramStream, UdpSocket,
};
use wasi::sockets::udp_create_socket::create_udp_socket;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("literal address")
}

/// An address with its port shown only as zero or not.
fn shown(a: SocketAddr) -> String {
    let port = if a.port() == 0 { "0" } else { "port" };
    match a {
        SocketAddr::V4(v4) => format!("{}:{port}", v4.ip()),
        SocketAddr::V6(v6) => format!("[{}]:{port}", v6.ip()),
    }
}

fn show<T: std::fmt::Debug>(what: &str, r: Result<T, ErrorCode>) {
    match r {
        Ok(v) => println!("{what}: ok {v:?}"),
        Err(e) => println!("{what}: error {}", e.name()),
    }
}

fn show_addr(what: &str, r: Result<IpSocketAddress, ErrorCode>) {
    match r {
        Ok(a) => println!("{what}: ok {}", shown(from_wasi(a))),
        Err(e) => println!("{what}: error {}", e.name()),
    }
}

fn bind(net: &Network, s: &UdpSocket, a: SocketAddr) -> Result<(), ErrorCode> {
    s.start_bind(net, to_wasi(a))?;
    s.subscribe().block();
    s.finish_bind()
}

fn bound(net: &Network, a: &str) -> UdpSocket {
    let family = if addr(a).is_ipv4() {
        IpAddressFamily::Ipv4
    } else {
        IpAddressFamily::Ipv6
    };
    let s = create_udp_socket(family).expect("create");
    bind(net, &s, addr(a)).expect("bind");
    s
}

fn local(s: &UdpSocket) -> SocketAddr {
    from_wasi(s.local_address().expect("local address"))
}

fn datagram(data: &[u8], to: Option<SocketAddr>) -> OutgoingDatagram {
    OutgoingDatagram {
        data: data.to_vec(),
        remote_address: to.map(to_wasi),
    }
}

/// `check-send`, then `send`.
fn send(out: &OutgoingDatagramStream, datagrams: &[OutgoingDatagram]) -> Result<u64, ErrorCode> {
    out.subscribe().block();
    out.check_send()?;
    out.send(datagrams)
}

/// Print what one `receive(max)` returns, naming each sender by `who`.
fn receive(what: &str, input: &IncomingDatagramStream, max: u64, who: &[(SocketAddr, &str)]) {
    match input.receive(max) {
        Ok(ds) => {
            let items: Vec<String> = ds
                .iter()
                .map(|d| {
                    let from = from_wasi(d.remote_address);
                    let name = who
                        .iter()
                        .find(|(a, _)| *a == from)
                        .map_or_else(|| shown(from), |(_, n)| n.to_string());
                    let text = if d.data.len() > 16 {
                        format!("{} bytes", d.data.len())
                    } else {
                        format!("{:?}", String::from_utf8_lossy(&d.data))
                    };
                    format!("{text} from {name}")
                })
                .collect();
            println!("{what}: ok [{}]", items.join(", "));
        }
        Err(e) => println!("{what}: error {}", e.name()),
    }
}

fn options(what: &str, s: &UdpSocket) {
    show(&format!("{what}: unicast-hop-limit"), s.unicast_hop_limit());
    show(
        &format!("{what}: receive-buffer-size"),
        s.receive_buffer_size(),
    );
    show(&format!("{what}: send-buffer-size"), s.send_buffer_size());
}

fn unbound(net: &Network) {
    println!("== unbound");
    let s = create_udp_socket(IpAddressFamily::Ipv4).expect("create");
    show("address-family", Ok::<_, ErrorCode>(s.address_family()));
    show_addr("local-address", s.local_address());
    show_addr("remote-address", s.remote_address());
    show("finish-bind", s.finish_bind());
    show("stream none", s.stream(None).map(|_| ()));
    show(
        "stream remote",
        s.stream(Some(to_wasi(addr("127.0.0.1:9")))).map(|_| ()),
    );
    options("defaults", &s);
    show("set-unicast-hop-limit 0", s.set_unicast_hop_limit(0));
    show("set-unicast-hop-limit 255", s.set_unicast_hop_limit(255));
    show("set-unicast-hop-limit 1", s.set_unicast_hop_limit(1));
    show("set-receive-buffer-size 0", s.set_receive_buffer_size(0));
    show("set-send-buffer-size 0", s.set_send_buffer_size(0));
    show("set-receive-buffer-size 1", s.set_receive_buffer_size(1));
    show("set-send-buffer-size 1", s.set_send_buffer_size(1));
    options("small", &s);
    show(
        "set-receive-buffer-size 5000",
        s.set_receive_buffer_size(5000),
    );
    show("set-send-buffer-size 5000", s.set_send_buffer_size(5000));
    options("5000", &s);
    show(
        "set-receive-buffer-size 1 TiB",
        s.set_receive_buffer_size(1 << 40),
    );
    show(
        "set-send-buffer-size 1 TiB",
        s.set_send_buffer_size(1 << 40),
    );
    options("huge", &s);
    let six = create_udp_socket(IpAddressFamily::Ipv6).expect("create");
    show(
        "ipv6 address-family",
        Ok::<_, ErrorCode>(six.address_family()),
    );
    options("ipv6 defaults", &six);
    show(
        "ipv6 bind ipv4 address",
        bind(net, &six, addr("127.0.0.1:0")),
    );
    show(
        "ipv6 bind ipv4-mapped",
        bind(net, &six, addr("[::ffff:127.0.0.1]:0")),
    );
    show("ipv6 bind ::1", bind(net, &six, addr("[::1]:0")));
    show_addr("ipv6 local-address", six.local_address());
}

fn binding(net: &Network) {
    println!("== binding");
    let s = create_udp_socket(IpAddressFamily::Ipv4).expect("create");
    show("bind ipv6 on ipv4", bind(net, &s, addr("[::1]:0")));
    show("bind not local", bind(net, &s, addr("192.0.2.1:0")));
    show(
        "start-bind 127.0.0.1:0",
        s.start_bind(net, to_wasi(addr("127.0.0.1:0"))),
    );
    show(
        "start-bind again",
        s.start_bind(net, to_wasi(addr("127.0.0.1:0"))),
    );
    s.subscribe().block();
    show("finish-bind", s.finish_bind());
    show("finish-bind again", s.finish_bind());
    show(
        "start-bind when bound",
        s.start_bind(net, to_wasi(addr("127.0.0.1:0"))),
    );
    show_addr("local-address", s.local_address());
    show_addr("remote-address", s.remote_address());
    options("bound", &s);
    let port = local(&s).port();
    let same = create_udp_socket(IpAddressFamily::Ipv4).expect("create");
    show(
        "bind same address and port",
        bind(net, &same, addr(&format!("127.0.0.1:{port}"))),
    );
    show(
        "bind 0.0.0.0 same port",
        bind(net, &same, addr(&format!("0.0.0.0:{port}"))),
    );
    show(
        "bind 127.0.0.2 same port",
        bind(net, &same, addr(&format!("127.0.0.2:{port}"))),
    );
    show_addr("127.0.0.2 local-address", same.local_address());
    let wild = bound(net, "0.0.0.0:0");
    show_addr("wildcard local-address", wild.local_address());
    let wport = local(&wild).port();
    let other = create_udp_socket(IpAddressFamily::Ipv4).expect("create");
    show(
        "bind 127.0.0.1 on wildcard's port",
        bind(net, &other, addr(&format!("127.0.0.1:{wport}"))),
    );
    for (what, a) in [
        ("multicast", "224.0.0.1:0"),
        ("broadcast", "255.255.255.255:0"),
    ] {
        let m = create_udp_socket(IpAddressFamily::Ipv4).expect("create");
        show(&format!("bind {what}"), bind(net, &m, addr(a)));
        show_addr(&format!("{what} local-address"), m.local_address());
    }
    let tcp_port = {
        let t = wasi::sockets::tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4)
            .expect("create tcp");
        t.start_bind(net, to_wasi(addr("127.0.0.1:0")))
            .expect("tcp bind");
        t.subscribe().block();
        t.finish_bind().expect("tcp bind");
        let p = from_wasi(t.local_address().expect("tcp local")).port();
        let u = create_udp_socket(IpAddressFamily::Ipv4).expect("create");
        show(
            "bind a port TCP holds",
            bind(net, &u, addr(&format!("127.0.0.1:{p}"))),
        );
        p
    };
    let _ = tcp_port;
}

fn streams(net: &Network) {
    println!("== streams");
    let a = bound(net, "127.0.0.1:0");
    let b = bound(net, "127.0.0.1:0");
    let (a_addr, b_addr) = (local(&a), local(&b));
    let who = [(a_addr, "a"), (b_addr, "b")];
    for (what, remote) in [
        ("stream to 0.0.0.0", "0.0.0.0:9"),
        ("stream to port 0", "127.0.0.1:0"),
        ("stream to ipv6", "[::1]:9"),
    ] {
        show(what, a.stream(Some(to_wasi(addr(remote)))).map(|_| ()));
    }
    // A live pollable of the socket itself does not count as a stream.
    let a_pollable = a.subscribe();
    let (a_in, a_out) = a.stream(None).expect("stream");
    let (b_in, b_out) = b.stream(None).expect("stream");
    show_addr("unconnected remote-address", a.remote_address());
    show(
        "start-bind with streams",
        a.start_bind(net, to_wasi(addr("127.0.0.1:0"))),
    );
    show("check-send", a_out.check_send());
    show("send nothing", a_out.send(&[]));
    show("send one", a_out.send(&[datagram(b"one", Some(b_addr))]));
    b_in.subscribe().block();
    receive("receive 0", &b_in, 0, &who);
    receive("receive", &b_in, 10, &who);
    receive("receive nothing", &b_in, 10, &who);
    let three = [
        datagram(b"x", Some(b_addr)),
        datagram(b"", Some(b_addr)),
        datagram(b"z", Some(b_addr)),
    ];
    show("send three", send(&a_out, &three));
    b_in.subscribe().block();
    receive("receive 2", &b_in, 2, &who);
    receive("receive rest", &b_in, 16, &who);
    show(
        "send without address",
        send(&a_out, &[datagram(b"?", None)]),
    );
    show(
        "send to 0.0.0.0",
        send(&a_out, &[datagram(b"?", Some(addr("0.0.0.0:9")))]),
    );
    show(
        "send to port 0",
        send(&a_out, &[datagram(b"?", Some(addr("127.0.0.1:0")))]),
    );
    show(
        "send to ipv6",
        send(&a_out, &[datagram(b"?", Some(addr("[::1]:9")))]),
    );
    let bad_then_good = [datagram(b"first", Some(b_addr)), datagram(b"?", None)];
    show("send good then bad", send(&a_out, &bad_then_good));
    let big = vec![7u8; 65_507];
    show(
        "send 65507 bytes",
        send(&a_out, &[datagram(&big, Some(b_addr))]),
    );
    show(
        "send 65508 bytes",
        send(&a_out, &[datagram(&[7; 65_508], Some(b_addr))]),
    );
    show(
        "send 65536 bytes",
        send(&a_out, &[datagram(&[7; 65_536], Some(b_addr))]),
    );
    b_in.subscribe().block();
    receive("receive first and big", &b_in, 16, &who);
    receive("receive after", &b_in, 16, &who);
    show(
        "b answers",
        send(&b_out, &[datagram(b"back", Some(a_addr))]),
    );
    a_in.subscribe().block();
    // Exactly as many as arrived: a `receive` that finds nothing more leaves a
    // receive pending in wasmtime-wasi, which holds the socket until a datagram
    // comes, so that `stream` right after dropping the streams traps there.
    receive("a receives", &a_in, 1, &who);
    drop((a_in, a_out));
    show(
        "start-bind with only a pollable",
        a.start_bind(net, to_wasi(addr("127.0.0.1:0"))),
    );

    println!("== connected");
    let (a_in, a_out) = a.stream(Some(to_wasi(b_addr))).expect("stream");
    show_addr("remote-address", a.remote_address());
    show_addr("local-address", a.local_address());
    show(
        "send to connected address",
        send(&a_out, &[datagram(b"c1", Some(b_addr))]),
    );
    show("send to no address", send(&a_out, &[datagram(b"c2", None)]));
    show(
        "send to another address",
        send(&a_out, &[datagram(b"c3", Some(addr("127.0.0.1:9")))]),
    );
    b_in.subscribe().block();
    receive("b receives", &b_in, 16, &who);
    let c = bound(net, "127.0.0.1:0");
    let c_addr = local(&c);
    let (c_in, c_out) = c.stream(None).expect("stream");
    show(
        "c sends to connected a",
        send(&c_out, &[datagram(b"from c", Some(a_addr))]),
    );
    show(
        "b sends to connected a",
        send(&b_out, &[datagram(b"from b", Some(a_addr))]),
    );
    a_in.subscribe().block();
    let who = [(a_addr, "a"), (b_addr, "b"), (c_addr, "c")];
    receive("a receives only b", &a_in, 1, &who);
    drop((a_in, a_out));
    let (_a_in, a_out) = a.stream(None).expect("stream");
    show_addr("disconnected remote-address", a.remote_address());
    // Bound with port 0, `a` gives its port up when it disconnects (as Linux does)
    // and takes a new one when it next sends.
    show_addr("disconnected local-address", a.local_address());
    show(
        "a sends to c",
        send(&a_out, &[datagram(b"a again", Some(c_addr))]),
    );
    show_addr("local-address after send", a.local_address());
    println!("same port as before: {}", local(&a) == a_addr);
    c_in.subscribe().block();
    receive("c receives", &c_in, 16, &[]);
    drop(a_pollable);
}

fn unreachable(net: &Network) {
    println!("== unreachable");
    let gone = local(&bound(net, "127.0.0.1:0"));
    let d = bound(net, "127.0.0.1:0");
    let (d_in, d_out) = d.stream(Some(to_wasi(gone))).expect("stream");
    show(
        "send to closed port",
        send(&d_out, &[datagram(b"anyone?", None)]),
    );
    d_in.subscribe().block();
    receive("receive after refusal", &d_in, 16, &[]);
    receive("receive again", &d_in, 16, &[]);
    show("send again", send(&d_out, &[datagram(b"anyone?", None)]));
    // On loopback the kernel answers within the send: the next call reports it.
    show(
        "send once more",
        send(&d_out, &[datagram(b"anyone?", None)]),
    );
    receive("receive after second refusal", &d_in, 16, &[]);
    let e = bound(net, "127.0.0.1:0");
    let (e_in, e_out) = e.stream(None).expect("stream");
    show(
        "unconnected send to closed port",
        send(&e_out, &[datagram(b"x", Some(gone))]),
    );
    let marker = bound(net, "127.0.0.1:0");
    let (_m_in, m_out) = marker.stream(None).expect("stream");
    show(
        "marker",
        send(&m_out, &[datagram(b"marker", Some(local(&e)))]),
    );
    e_in.subscribe().block();
    receive("unconnected receive", &e_in, 16, &[]);
}

fn disconnect(net: &Network) {
    println!("== disconnect");
    let target = bound(net, "127.0.0.1:0");
    let t_addr = local(&target);
    let (t_in, _t_out) = target.stream(None).expect("stream");
    for bind_to in ["0.0.0.0:0", "127.0.0.1:0"] {
        let s = bound(net, bind_to);
        show_addr(&format!("{bind_to}: local-address"), s.local_address());
        let streams = s.stream(Some(to_wasi(t_addr))).expect("stream");
        show_addr(
            &format!("{bind_to}: connected local-address"),
            s.local_address(),
        );
        drop(streams);
        let (_i, out) = s.stream(None).expect("stream");
        show_addr(
            &format!("{bind_to}: disconnected local-address"),
            s.local_address(),
        );
        show(
            &format!("{bind_to}: send"),
            send(&out, &[datagram(b"hi", Some(t_addr))]),
        );
        show_addr(
            &format!("{bind_to}: local-address after send"),
            s.local_address(),
        );
        t_in.subscribe().block();
        receive(&format!("{bind_to}: target receives"), &t_in, 16, &[]);
    }
    let fixed = bound(net, "127.0.0.1:0");
    let port = local(&fixed).port();
    drop(fixed);
    let s = bound(net, &format!("0.0.0.0:{port}"));
    let streams = s.stream(Some(to_wasi(t_addr))).expect("stream");
    drop(streams);
    let _streams = s.stream(None).expect("stream");
    let after = local(&s);
    println!("fixed port kept after disconnect: {}", after.port() == port);
}

fn trap_case(net: &Network, case: &str) {
    let a = bound(net, "127.0.0.1:0");
    let to = Some(local(&a));
    let (input, out) = a.stream(None).expect("stream");
    match case {
        "send-unpermitted" => {
            let _ = out.send(&[datagram(b"x", to)]);
        }
        "send-beyond-permit" => {
            let n = out.check_send().expect("check-send");
            let many: Vec<_> = (0..=n).map(|_| datagram(b"x", to)).collect();
            let _ = out.send(&many);
        }
        "send-twice-after-one-check" => {
            out.check_send().expect("check-send");
            let _ = out.send(&[datagram(b"x", to)]);
            let _ = out.send(&[datagram(b"x", to)]);
        }
        "stream-twice" => {
            let _ = a.stream(None);
        }
        "drop-socket-before-streams" => {
            drop(a);
        }
        other => panic!("unknown case {other}"),
    }
    println!("{case}: still running");
    drop((input, out));
}

fn main() {
    let net = instance_network();
    if let Some(case) = std::env::args().nth(1) {
        return trap_case(&net, &case);
    }
    unbound(&net);
    binding(&net);
    streams(&net);
    unreachable(&net);
    disconnect(&net);
    println!("== done");
}
