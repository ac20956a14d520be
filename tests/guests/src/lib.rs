//! Helpers shared by the guests that call `wasi:sockets` directly.

use std::net::{IpAddr, SocketAddr};

use wasi::sockets::network::{
    IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};

pub fn to_wasi(addr: SocketAddr) -> IpSocketAddress {
    match addr {
        SocketAddr::V4(a) => {
            let o = a.ip().octets();
            IpSocketAddress::Ipv4(Ipv4SocketAddress {
                port: a.port(),
                address: (o[0], o[1], o[2], o[3]),
            })
        }
        SocketAddr::V6(a) => {
            let s = a.ip().segments();
            IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port: a.port(),
                flow_info: a.flowinfo(),
                address: (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
                scope_id: a.scope_id(),
            })
        }
    }
}

pub fn from_wasi(addr: IpSocketAddress) -> SocketAddr {
    match addr {
        IpSocketAddress::Ipv4(a) => {
            let (x, y, z, w) = a.address;
            SocketAddr::new(IpAddr::from([x, y, z, w]), a.port)
        }
        IpSocketAddress::Ipv6(a) => {
            let (b0, b1, b2, b3, b4, b5, b6, b7) = a.address;
            SocketAddr::new(IpAddr::from([b0, b1, b2, b3, b4, b5, b6, b7]), a.port)
        }
    }
}

pub fn ip_to_string(ip: IpAddress) -> String {
    match ip {
        IpAddress::Ipv4((a, b, c, d)) => IpAddr::from([a, b, c, d]).to_string(),
        IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => {
            IpAddr::from([a, b, c, d, e, f, g, h]).to_string()
        }
    }
}

pub fn family_of(addr: SocketAddr) -> IpAddressFamily {
    if addr.is_ipv4() {
        IpAddressFamily::Ipv4
    } else {
        IpAddressFamily::Ipv6
    }
}

/// The program's arguments after its name.
pub fn args() -> Vec<String> {
    std::env::args().skip(1).collect()
}

pub fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> T {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("argument {i} ({what}) missing or malformed"))
}

/// The byte at `offset` of the test pattern the transfer guests send.
pub fn pattern(offset: u64) -> u8 {
    (offset.wrapping_mul(31).wrapping_add(offset >> 8) % 251) as u8
}

/// FNV-1a, to compare what was sent with what arrived.
pub fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

pub const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

mod unstable {
    wit_bindgen::generate!({
        path: "wit",
        world: "error-codes",
        features: ["network-error-code"],
        with: {
            "wasi:io/error@0.2.12": ::wasi::io::error,
        },
        generate_all,
    });
}

/// The socket error behind a failed stream operation, by its WIT name
/// (`wasi:sockets/network.network-error-code`).
pub fn stream_error_code(err: &wasi::io::error::Error) -> String {
    match unstable::wasi::sockets::network::network_error_code(err) {
        Some(code) => format!("{code:?}"),
        None => format!("no socket error ({})", err.to_debug_string()),
    }
}
