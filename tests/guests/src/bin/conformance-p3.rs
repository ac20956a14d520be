//! WASI 0.3 socket calls in the states they reach, each result printed, for the
//! differential conformance test (simnet against wasmtime-wasi's p3 host on real
//! loopback). Everything runs over 127.0.0.1 inside this one program; nothing that
//! differs between kernels (ephemeral port numbers, buffer sizes) is printed.

use futures::FutureExt;
use wasip3::clocks::monotonic_clock;
use wasip3::filesystem::preopens::get_directories;
use wasip3::filesystem::types::{
    Descriptor, DescriptorFlags, ErrorCode as FsError, OpenFlags, PathFlags,
};
use wasip3::sockets::ip_name_lookup::resolve_addresses;
use wasip3::sockets::types::{
    ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress,
    Ipv6SocketAddress, TcpSocket, UdpSocket,
};
use wasip3::wit_bindgen::StreamReader;
use wasip3::wit_stream;

wasip3::cli::command::export!(ConformanceP3);

struct ConformanceP3;

/// The 0.3 `run` export is the program.
fn main() {
    eprintln!("conformance-p3 runs as a WASI 0.3 command");
}

impl wasip3::exports::cli::run::Guest for ConformanceP3 {
    async fn run() -> Result<(), ()> {
        // `conformance-p3 files DIR`: the filesystem cases, in the preopened DIR.
        if let [_, cmd, dir] = std::env::args().collect::<Vec<_>>().as_slice()
            && cmd == "files"
        {
            files(dir).await;
            println!("== done");
            return Ok(());
        }
        tcp_states().await;
        connect_outcomes().await;
        streams().await;
        ends_of_streams().await;
        listener_dropped_with_queued_connections().await;
        back_pressure().await;
        udp().await;
        names().await;
        println!("== done");
        Ok(())
    }
}

fn v4(port: u16) -> IpSocketAddress {
    IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port,
        address: (127, 0, 0, 1),
    })
}

fn show<T: std::fmt::Debug>(what: &str, r: Result<T, ErrorCode>) {
    match r {
        Ok(v) => println!("{what}: ok {v:?}"),
        Err(e) => println!("{what}: error {e:?}"),
    }
}

fn status<T>(what: &str, r: Result<T, ErrorCode>) -> Option<T> {
    match r {
        Ok(v) => {
            println!("{what}: ok");
            Some(v)
        }
        Err(e) => {
            println!("{what}: error {e:?}");
            None
        }
    }
}

/// The address with its port reduced to whether it is set.
fn addr(a: Result<IpSocketAddress, ErrorCode>) -> String {
    match a {
        Ok(IpSocketAddress::Ipv4(a)) => format!("{:?} port set {}", a.address, a.port != 0),
        Ok(IpSocketAddress::Ipv6(a)) => format!("{:?} port set {}", a.address, a.port != 0),
        Err(e) => format!("error {e:?}"),
    }
}

fn port_of(a: &IpSocketAddress) -> u16 {
    match a {
        IpSocketAddress::Ipv4(a) => a.port,
        IpSocketAddress::Ipv6(a) => a.port,
    }
}

/// A listener on 127.0.0.1 with an ephemeral port, and its port.
fn listener() -> (TcpSocket, StreamReader<TcpSocket>, u16) {
    let l = TcpSocket::create(IpAddressFamily::Ipv4).expect("create");
    l.bind(v4(0)).expect("bind");
    let accepted = l.listen().expect("listen");
    let port = port_of(&l.get_local_address().expect("local address"));
    (l, accepted, port)
}

/// A connected pair: the client, the accepted server side.
async fn pair(accepted: &mut StreamReader<TcpSocket>, port: u16) -> (TcpSocket, TcpSocket) {
    let c = TcpSocket::create(IpAddressFamily::Ipv4).expect("create");
    c.connect(v4(port)).await.expect("connect");
    let s = accepted.next().await.expect("accepted");
    (c, s)
}

async fn tcp_states() {
    println!("== tcp states");
    let s = TcpSocket::create(IpAddressFamily::Ipv4).expect("create");
    println!("family: {:?}", s.get_address_family());
    println!("listening: {}", s.get_is_listening());
    println!("local before bind: {}", addr(s.get_local_address()));
    println!("remote before connect: {}", addr(s.get_remote_address()));
    show(
        "bind v6 address on v4 socket",
        s.bind(IpSocketAddress::Ipv6(Ipv6SocketAddress {
            port: 0,
            flow_info: 0,
            address: (0, 0, 0, 0, 0, 0, 0, 1),
            scope_id: 0,
        })),
    );
    show("bind foreign address", s.bind(IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port: 0,
        address: (192, 0, 2, 1),
    })));
    show("bind", s.bind(v4(0)));
    println!("local after bind: {}", addr(s.get_local_address()));
    show("bind again", s.bind(v4(0)));
    show("backlog 0", s.set_listen_backlog_size(0));
    show("backlog 10", s.set_listen_backlog_size(10));
    show("keep-alive", s.get_keep_alive_enabled());
    show("set keep-alive", s.set_keep_alive_enabled(true));
    show("keep-alive now", s.get_keep_alive_enabled());
    show("idle time 0", s.set_keep_alive_idle_time(0));
    show("interval 0", s.set_keep_alive_interval(0));
    show("count 0", s.set_keep_alive_count(0));
    show("hop limit 0", s.set_hop_limit(0));
    show("hop limit 9", s.set_hop_limit(9));
    show("hop limit now", s.get_hop_limit());
    match s.listen() {
        Ok(stream) => {
            println!("listen: ok");
            println!("listening: {}", s.get_is_listening());
            show("listen again", s.listen().map(|_| ()));
            show("connect while listening", s.connect(v4(1)).await);
            drop(stream);
        }
        Err(e) => println!("listen: error {e:?}"),
    }
    let unbound = TcpSocket::create(IpAddressFamily::Ipv4).expect("create");
    match unbound.listen() {
        Ok(_stream) => println!(
            "listen unbound: ok, bound to {}",
            addr(unbound.get_local_address())
        ),
        Err(e) => println!("listen unbound: error {e:?}"),
    }
    let v6 = TcpSocket::create(IpAddressFamily::Ipv6).expect("create v6");
    println!("v6 family: {:?}", v6.get_address_family());
    show("connect v6 socket to v4 address", v6.connect(v4(1)).await);
}

async fn connect_outcomes() {
    println!("== connect outcomes");
    // A port nothing listens on: bind one and drop it.
    let closed_port = {
        let s = TcpSocket::create(IpAddressFamily::Ipv4).expect("create");
        s.bind(v4(0)).expect("bind");
        port_of(&s.get_local_address().expect("local"))
    };
    let c = TcpSocket::create(IpAddressFamily::Ipv4).expect("create");
    show("connect to port 0", c.connect(v4(0)).await);
    show("connect to a closed port", c.connect(v4(closed_port)).await);
    let c = TcpSocket::create(IpAddressFamily::Ipv4).expect("create");
    show("connect to a closed port (fresh)", c.connect(v4(closed_port)).await);
    println!("local after refusal: {}", addr(c.get_local_address()));
    show("connect again", c.connect(v4(closed_port)).await);
    show("listen after refusal", c.listen().map(|_| ()));
    let (_rx, received) = c.receive();
    show("receive after refusal", received.await);
    let (_tx, data) = wit_stream::new::<u8>();
    show("send after refusal", c.send(data).await);
    let fresh = TcpSocket::create(IpAddressFamily::Ipv4).expect("create");
    let (_rx, received) = fresh.receive();
    show("receive before connect", received.await);
}

async fn read_some(rx: &mut StreamReader<u8>) -> String {
    let (status, data) = rx.read(Vec::with_capacity(1024)).await;
    format!("{status:?} {:?}", String::from_utf8_lossy(&data))
}

async fn streams() {
    println!("== streams");
    let (_l, mut accepted, port) = listener();
    let (c, s) = pair(&mut accepted, port).await;
    println!("client local: {}", addr(c.get_local_address()));
    println!("client remote: {}", addr(c.get_remote_address()));
    println!("server remote: {}", addr(s.get_remote_address()));
    println!("accepted listening: {}", s.get_is_listening());
    show("connect when connected", c.connect(v4(port)).await);
    show("listen when connected", c.listen().map(|_| ()));
    let (mut c_tx, c_data) = wit_stream::new::<u8>();
    let c_sent = c.send(c_data);
    let (mut s_rx, s_received) = s.receive();
    let (_again_rx, again) = s.receive();
    show("receive twice", again.await);
    let (_tx2, data2) = wit_stream::new::<u8>();
    show("send twice", c.send(data2).await);
    let rest = c_tx.write_all(b"hello".to_vec()).await;
    println!("wrote hello, {} left", rest.len());
    println!("server read: {}", read_some(&mut s_rx).await);
    // A zero-length read waits for readiness and takes nothing.
    let (s_tx, s_data) = wit_stream::new::<u8>();
    let s_sent = s.send(s_data);
    drop(s_tx);
    show("server send of an ended stream", s_sent.await);
    let (mut c_rx, c_received) = c.receive();
    println!("client read after server ended sending: {}", read_some(&mut c_rx).await);
    show("client receive result", c_received.await);
    drop(c_tx);
    show("client send result", c_sent.await);
    println!("server read after client ended: {}", read_some(&mut s_rx).await);
    show("server receive result", s_received.await);
}

async fn ends_of_streams() {
    println!("== ends of streams");
    let (_l, mut accepted, port) = listener();
    // The server drops its socket with unread data: the client sees a reset.
    let (c, s) = pair(&mut accepted, port).await;
    let (mut tx, data) = wit_stream::new::<u8>();
    let sent = c.send(data);
    tx.write_all(b"unread".to_vec()).await;
    let (mut c_rx, c_received) = c.receive();
    settle().await;
    drop(s);
    println!("client read after reset: {}", read_some(&mut c_rx).await);
    show("client receive result", c_received.await);
    drop(tx);
    show("client send result", sent.await);

    // The client drops its receive stream early; the server's data still goes.
    let (c, s) = pair(&mut accepted, port).await;
    let (c_rx, c_received) = c.receive();
    drop(c_rx);
    show("receive result after dropping the stream", c_received.await);
    let (mut s_tx, s_data) = wit_stream::new::<u8>();
    let s_sent = s.send(s_data);
    let rest = s_tx.write_all(b"after".to_vec()).await;
    println!("server wrote after the client stopped reading: {} left", rest.len());
    drop(s_tx);
    show("server send result", s_sent.await);

    // A read cancelled by a timeout leaves the stream usable.
    let (c, s) = pair(&mut accepted, port).await;
    let (mut c_rx, _c_received) = c.receive();
    {
        let read = c_rx.read(Vec::with_capacity(16)).fuse();
        let timeout = monotonic_clock::wait_for(20_000_000).fuse();
        futures::pin_mut!(read, timeout);
        futures::select! {
            (status, data) = read => println!("read before anything was sent: {status:?} {}", data.len()),
            () = timeout => println!("read timed out"),
        }
    }
    let (mut s_tx, s_data) = wit_stream::new::<u8>();
    let _s_sent = s.send(s_data);
    s_tx.write_all(b"late".to_vec()).await;
    println!("read after the cancelled one: {}", read_some(&mut c_rx).await);
}

/// Let loopback traffic settle.
async fn settle() {
    monotonic_clock::wait_for(50_000_000).await;
}

async fn listener_dropped_with_queued_connections() {
    println!("== listener dropped with queued connections");
    let (l, accepted, port) = listener();
    let c = TcpSocket::create(IpAddressFamily::Ipv4).expect("create");
    show("connect to a listener that never accepts", c.connect(v4(port)).await);
    settle().await;
    drop(accepted);
    drop(l);
    settle().await;
    let (mut rx, received) = c.receive();
    println!("read: {}", read_some(&mut rx).await);
    show("receive result", received.await);
}

async fn back_pressure() {
    println!("== back pressure");
    let (_l, mut accepted, port) = listener();
    let (c, s) = pair(&mut accepted, port).await;
    let (mut tx, data) = wit_stream::new::<u8>();
    let _sent = c.send(data);
    // Far more than any send and receive buffer hold, with nobody reading.
    let total = 64 << 20;
    let write = async {
        let mut left = total;
        while left > 0 {
            let n = left.min(1 << 20);
            let rest = tx.write_all(vec![7u8; n]).await;
            if !rest.is_empty() {
                break;
            }
            left -= n;
        }
        left
    }
    .fuse();
    let timeout = monotonic_clock::wait_for(200_000_000).fuse();
    futures::pin_mut!(write, timeout);
    futures::select! {
        left = write => println!("writer finished without a reader: {} left", left),
        () = timeout => println!("writer blocked without a reader"),
    }
    drop(s);
}

async fn udp() {
    println!("== udp");
    let a = UdpSocket::create(IpAddressFamily::Ipv4).expect("create");
    println!("local before bind: {}", addr(a.get_local_address()));
    show("receive unbound", a.receive().await.map(|(d, _)| d.len()));
    show("disconnect unconnected", a.disconnect());
    show("bind", a.bind(v4(0)));
    show("bind again", a.bind(v4(0)));
    let a_port = port_of(&a.get_local_address().expect("local"));
    let b = UdpSocket::create(IpAddressFamily::Ipv4).expect("create");
    show("send without address", b.send(b"x".to_vec(), None).await);
    show("send to port 0", b.send(b"x".to_vec(), Some(v4(0))).await);
    show("send too large", b.send(vec![0; 65536], Some(v4(a_port))).await);
    show("send", b.send(b"ping".to_vec(), Some(v4(a_port))).await);
    println!("sender bound by send: {}", addr(b.get_local_address()));
    match a.receive().await {
        Ok((data, from)) => println!(
            "received {:?} from {}",
            String::from_utf8_lossy(&data),
            addr(Ok(from))
        ),
        Err(e) => println!("receive: error {e:?}"),
    }
    show("connect", b.connect(v4(a_port)));
    println!("remote: {}", addr(b.get_remote_address()));
    show("send elsewhere while connected", b.send(b"x".to_vec(), Some(v4(a_port.wrapping_add(1)))).await);
    show("send connected", b.send(b"pong".to_vec(), None).await);
    show("received", a.receive().await.map(|(d, _)| d));
    show("disconnect", b.disconnect());
    println!("remote after disconnect: {}", addr(b.get_remote_address()));
    show("hop limit 0", a.set_unicast_hop_limit(0));
    show("hop limit 3", a.set_unicast_hop_limit(3));
    show("hop limit now", a.get_unicast_hop_limit());
    // A datagram to a port nobody holds, on a connected socket: refused.
    let closed_port = {
        let s = UdpSocket::create(IpAddressFamily::Ipv4).expect("create");
        s.bind(v4(0)).expect("bind");
        port_of(&s.get_local_address().expect("local"))
    };
    let c = UdpSocket::create(IpAddressFamily::Ipv4).expect("create");
    status("connect to a closed port", c.connect(v4(closed_port)));
    show("send to a closed port", c.send(b"x".to_vec(), None).await);
    settle().await;
    show("receive after refusal", c.receive().await.map(|(d, _)| d.len()));
}

async fn names() {
    println!("== names");
    for name in ["127.0.0.1", "::1", "[::1]", "0x7f.1", "", "a b", "example.com:80"] {
        match resolve_addresses(name.to_string()).await {
            Ok(addrs) => {
                let shown: Vec<String> = addrs
                    .iter()
                    .map(|a| match a {
                        IpAddress::Ipv4(a) => format!("{a:?}"),
                        IpAddress::Ipv6(a) => format!("{a:?}"),
                    })
                    .collect();
                println!("resolve {name:?}: {}", shown.join(", "));
            }
            Err(e) => println!("resolve {name:?}: error {e:?}"),
        }
    }
}

async fn write_file(dir: &Descriptor, name: &str, data: &[u8]) {
    let file = dir
        .open_at(
            PathFlags::empty(),
            name.to_string(),
            OpenFlags::CREATE | OpenFlags::TRUNCATE,
            DescriptorFlags::READ | DescriptorFlags::WRITE,
        )
        .await;
    let Some(file) = status(&format!("create {name}"), file.map_err(fs_code)) else {
        return;
    };
    let (mut tx, rx) = wit_stream::new::<u8>();
    let written = file.write_via_stream(rx, 0);
    let rest = tx.write_all(data.to_vec()).await;
    drop(tx);
    println!("wrote {} bytes to {name}, {} left", data.len(), rest.len());
    println!("write result: {:?}", written.await);
}

async fn read_file(dir: &Descriptor, name: &str) {
    let file = dir
        .open_at(
            PathFlags::empty(),
            name.to_string(),
            OpenFlags::empty(),
            DescriptorFlags::READ,
        )
        .await;
    let Some(file) = status(&format!("open {name}"), file.map_err(fs_code)) else {
        return;
    };
    let (mut rx, result) = file.read_via_stream(0);
    let mut all = Vec::new();
    loop {
        let (status, data) = rx.read(Vec::with_capacity(4096)).await;
        all.extend_from_slice(&data);
        if !matches!(status, wasip3::wit_bindgen::StreamResult::Complete(_)) {
            break;
        }
    }
    println!("read {name}: {:?}", String::from_utf8_lossy(&all));
    println!("read result: {:?}", result.await);
    let stat = file.stat().await;
    match stat {
        Ok(s) => println!("stat {name}: {:?} size {} links {}", s.type_, s.size, s.link_count),
        Err(e) => println!("stat {name}: error {e:?}"),
    }
}

async fn list(dir: &Descriptor, label: &str) {
    let (mut entries, result) = dir.read_directory();
    let mut names = Vec::new();
    while let Some(e) = entries.next().await {
        names.push(format!("{}:{:?}", e.name, e.type_));
    }
    names.sort();
    println!("{label}: [{}] {:?}", names.join(", "), result.await);
}

/// Errors of the filesystem printed as the sockets' are.
fn fs_code(e: FsError) -> ErrorCode {
    println!("  (filesystem error {e:?})");
    ErrorCode::Other(None)
}

async fn files(path: &str) {
    println!("== files");
    let Some((dir, _)) = get_directories().into_iter().find(|(_, p)| p == path) else {
        println!("no preopen {path}");
        return;
    };
    println!("type: {:?}", dir.get_type().await);
    println!("flags: {:?}", dir.get_flags().await);
    write_file(&dir, "a.txt", b"hello, 0.3 files").await;
    read_file(&dir, "a.txt").await;
    read_file(&dir, "missing.txt").await;
    println!("mkdir sub: {:?}", dir.create_directory_at("sub".into()).await);
    println!("mkdir sub again: {:?}", dir.create_directory_at("sub".into()).await);
    write_file(&dir, "sub/b.txt", b"bee").await;
    list(&dir, "listing").await;
    // Writing through a descriptor opened only for reading.
    if let Ok(file) = dir
        .open_at(PathFlags::empty(), "a.txt".into(), OpenFlags::empty(), DescriptorFlags::READ)
        .await
    {
        let (mut tx, rx) = wit_stream::new::<u8>();
        let result = file.write_via_stream(rx, 0);
        let rest = tx.write_all(b"x".to_vec()).await;
        drop(tx);
        println!("write to a read-only descriptor: {:?}, {} left", result.await, rest.len());
        let (mut tx, rx) = wit_stream::new::<u8>();
        let result = file.append_via_stream(rx);
        drop(tx.write_all(b"y".to_vec()).await);
        drop(tx);
        println!("append to a read-only descriptor: {:?}", result.await);
    }
    println!(
        "rename: {:?}",
        dir.rename_at("a.txt".into(), &dir, "sub/c.txt".into()).await
    );
    println!("stat-at moved: {:?}", dir.stat_at(PathFlags::empty(), "sub/c.txt".into()).await.map(|s| s.size));
    println!("stat-at gone: {:?}", dir.stat_at(PathFlags::empty(), "a.txt".into()).await.map(|s| s.size));
    println!("rmdir non-empty: {:?}", dir.remove_directory_at("sub".into()).await);
    println!("unlink b: {:?}", dir.unlink_file_at("sub/b.txt".into()).await);
    println!("unlink c: {:?}", dir.unlink_file_at("sub/c.txt".into()).await);
    println!("rmdir: {:?}", dir.remove_directory_at("sub".into()).await);
    println!("unlink missing: {:?}", dir.unlink_file_at("nothing".into()).await);
    println!("readlink of a file: {:?}", dir.readlink_at("x".into()).await);
    // Reading a directory as a file.
    let (_, result) = dir.read_via_stream(0);
    println!("read a directory: {:?}", result.await);
    list(&dir, "listing at the end").await;
}
