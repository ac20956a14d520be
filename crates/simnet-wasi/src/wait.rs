//! What a blocked guest waits for, as its deadlock report names it.

use simnet_core::{Interest, Net, SimTime, SocketId};

/// What a blocked guest waits for, as reported in a deadlock. Kept as ids (cheap on
/// every pending poll) and described only when reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// A socket pollable (`subscribe`, input or output stream).
    Socket {
        socket: SocketId,
        interest: Interest,
    },
    /// A monotonic-clock pollable.
    Clock { deadline: SimTime },
    /// The result of a WASI 0.3 stream (a `send`, `receive` or file stream),
    /// which comes when the stream ends.
    StreamResult,
}

impl Wait {
    /// In words, e.g. "read on socket 10.0.0.2:4000 -> 10.0.0.1:80 (Connected)".
    pub fn describe(&self, net: &Net) -> String {
        match *self {
            Wait::Socket { socket, interest } => describe_socket(net, socket, interest),
            Wait::Clock { deadline } => format!("a clock deadline at {deadline}"),
            Wait::StreamResult => "the result of a stream that has not ended".to_string(),
        }
    }
}

/// A socket wait in words: the operation, the addresses and the socket's state.
fn describe_socket(net: &Net, socket: SocketId, interest: Interest) -> String {
    if let Ok(state) = net.udp_state(socket) {
        let local = state
            .local()
            .map_or_else(|| "unbound".into(), |a| a.to_string());
        return match state.remote() {
            Some(r) => format!("receive on UDP socket {local} -> {r}"),
            None => format!("receive on UDP socket {local}"),
        };
    }
    let local = net
        .local_address(socket)
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "unbound".into());
    let remote = net.remote_address(socket).ok();
    let state = net
        .state(socket)
        .map(|s| format!("{s:?}"))
        .unwrap_or_else(|_| "closed".into());
    let op = match (interest, state.as_str()) {
        (Interest::Socket, "Listening") => "accept",
        (Interest::Socket, _) => "connect",
        (Interest::Read, _) => "read",
        (Interest::Write, _) => "write",
    };
    match remote {
        Some(r) => format!("{op} on socket {local} -> {r} ({state})"),
        None => format!("{op} on socket {local} ({state})"),
    }
}
