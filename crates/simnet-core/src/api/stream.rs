//! A connected socket's streams: reads, writes with wasmtime-wasi's check-write grant,
//! shutdown, and the readiness each pollable waits for.

use bytes::Bytes;

use crate::conn::Phase;
use crate::error::{ErrorCode, StreamError};
use crate::ids::{ConnId, SocketId};
use crate::net::Net;
use crate::pipe::Pipe;
use crate::segment::Side;
use crate::socket::{ShutdownType, SocketState, TcpState};

use super::Interest;

impl Net {
    /// The connection end behind a connected socket.
    fn connected(&self, id: SocketId) -> Result<(ConnId, Side), StreamError> {
        match self.socket(id).map_err(StreamError::Failed)?.state {
            SocketState::Connected { conn, side, .. } => Ok((conn, side)),
            _ => Err(StreamError::Failed(ErrorCode::InvalidState)),
        }
    }

    /// Take the end's pending error, if any, reporting it once (as `SO_ERROR` does).
    fn take_error(&mut self, c: ConnId, side: Side) -> Option<ErrorCode> {
        self.conn_mut(c)
            .and_then(|conn| conn.end_mut(side).error.take())
    }

    /// Read up to `buf.len()` bytes. `Ok(0)` means nothing is available yet (a WASI
    /// `read` returning an empty list); end of stream is `Err(StreamError::Closed)`.
    pub fn read(&mut self, id: SocketId, buf: &mut [u8]) -> Result<usize, StreamError> {
        self.read_with(id, buf.len(), |rx| rx.read(buf))
    }

    /// [`Net::read`] without a copy: up to `max` bytes as they were written (so
    /// possibly fewer than are buffered), sharing the writer's chunk when it was
    /// written with [`Net::write_bytes`].
    pub fn read_bytes(&mut self, id: SocketId, max: usize) -> Result<Bytes, StreamError> {
        let mut out = Bytes::new();
        self.read_with(id, max, |rx| {
            out = rx.read_bytes(max);
            out.len()
        })?;
        Ok(out)
    }

    /// The checks and bookkeeping around a read of up to `max` bytes that `take`
    /// performs on the receiving pipe.
    fn read_with(
        &mut self,
        id: SocketId,
        max: usize,
        take: impl FnOnce(&mut Pipe) -> usize,
    ) -> Result<usize, StreamError> {
        let (c, side) = self.connected(id)?;
        if self.socket(id).map_err(StreamError::Failed)?.reader_closed {
            return Err(StreamError::Closed);
        }
        let conn = self.conn(c).ok_or(StreamError::Closed)?;
        let rx = conn.rx(side);
        if max == 0 {
            return Ok(0);
        }
        if rx.readable() > 0 {
            let host = conn.hosts[side.index()];
            let n = self.application_read(c, side, take);
            self.hosts[host.index()].stats.bytes_read += n as u64;
            return Ok(n);
        }
        let (fin, phase) = (rx.fin_received, conn.end(side).phase);
        if let Some(code) = self.take_error(c, side) {
            self.socket_mut(id)
                .map_err(StreamError::Failed)?
                .reader_closed = true;
            return Err(StreamError::Failed(code));
        }
        if fin || phase == Phase::Closed {
            return Err(StreamError::Closed);
        }
        Ok(0)
    }

    /// Free space in the send buffer, or why a write would fail now. Unlike
    /// [`Net::check_write`] it leaves a pending error for the next call to report.
    pub fn send_space(&self, id: SocketId) -> Result<usize, StreamError> {
        let (c, side) = self.connected(id)?;
        if self.socket(id).map_err(StreamError::Failed)?.writer_closed {
            return Err(StreamError::Closed);
        }
        let conn = self.conn(c).ok_or(StreamError::Closed)?;
        if let Some(code) = conn.end(side).error {
            return Err(StreamError::Failed(code));
        }
        if conn.end(side).phase == Phase::Closed || conn.tx(side).fin_seq.is_some() {
            return Err(StreamError::Closed);
        }
        Ok(conn.tx(side).send_space() as usize)
    }

    /// Bytes a granted write ([`Net::write_granted`]) left waiting for room in the
    /// send buffer: they enter it, in order, as acknowledgements free room.
    pub fn held_bytes(&self, id: SocketId) -> u64 {
        self.attached_conn(id)
            .map_or(0, |(conn, side)| conn.tx(side).held())
    }

    /// A granted write whose bytes still waited for room when the connection
    /// failed: what it ends with (the connection's error, taken since an error is
    /// reported once, or `Closed`), its waiting bytes dropped. `None` while the
    /// connection lives or nothing waits. As wasmtime-wasi's background write
    /// fails, and its stream reports that, not a new grant.
    pub fn fail_held_write(&mut self, id: SocketId) -> Option<StreamError> {
        let (c, side) = self.connected(id).ok()?;
        let conn = self.conn(c)?;
        let end = conn.end(side);
        if conn.tx(side).held() == 0 || (end.phase != Phase::Closed && end.error.is_none()) {
            return None;
        }
        let failure = match self.take_error(c, side) {
            Some(code) => StreamError::Failed(code),
            None => StreamError::Closed,
        };
        if let Some(conn) = self.conn_mut(c) {
            conn.tx_mut(side).discard_held();
        }
        Some(failure)
    }

    /// Drop the bytes a granted write left waiting for room: their writer went
    /// without waiting for them (a guest's store torn down mid-write, which aborts
    /// wasmtime-wasi's background write). A FIN queued since moves back to the
    /// last byte kept.
    pub fn discard_held(&mut self, id: SocketId) {
        if let Some((conn, side)) = self.socket(id).ok().and_then(|s| s.conn())
            && let Some(conn) = self.conn_mut(conn)
        {
            conn.tx_mut(side).discard_held();
        }
    }

    /// Bytes that can be written now without blocking; an error is reported once (as
    /// `SO_ERROR`), a closed connection as `Closed` (`EPIPE`).
    pub fn check_write(&mut self, id: SocketId) -> Result<usize, StreamError> {
        let result = self.send_space(id);
        if let Err(StreamError::Failed(_)) = result {
            let (c, side) = self.connected(id)?;
            self.take_error(c, side);
            self.socket_mut(id)
                .map_err(StreamError::Failed)?
                .writer_closed = true;
        }
        result
    }

    /// Write as much of `data` as the send buffer takes; returns how much it took.
    pub fn write(&mut self, id: SocketId, data: &[u8]) -> Result<usize, StreamError> {
        self.write_with(id, |tx| tx.write(data))
    }

    /// [`Net::write`] without a copy: the buffer keeps (as much as it takes of)
    /// `chunk` itself, and a reader can receive it without a copy either.
    pub fn write_bytes(&mut self, id: SocketId, chunk: Bytes) -> Result<usize, StreamError> {
        self.write_with(id, |tx| tx.write_bytes(chunk))
    }

    /// Write all of `chunk`, for which the caller was granted room earlier (a WASI
    /// `check-write`, which grants more than the buffer holds): what does not fit
    /// waits, in order, for acknowledgements to free room ([`Net::held_bytes`]), as
    /// wasmtime-wasi's background write hands it to the kernel. No other write is
    /// taken until it is all in.
    pub fn write_granted(&mut self, id: SocketId, chunk: Bytes) -> Result<usize, StreamError> {
        self.write_with(id, |tx| tx.append(chunk))
    }

    fn write_with(
        &mut self,
        id: SocketId,
        put: impl FnOnce(&mut Pipe) -> usize,
    ) -> Result<usize, StreamError> {
        self.check_write(id)?;
        let (c, side) = self.connected(id)?;
        let host = self.conn(c).ok_or(StreamError::Closed)?.hosts[side.index()];
        let n = self.application_write(c, side, put);
        let stats = &mut self.hosts[host.index()].stats;
        stats.bytes_written += n as u64;
        stats.writes += u64::from(n > 0);
        Ok(n)
    }

    /// `shutdown`: stop reading, writing (sending a FIN after the buffered data), or both.
    pub fn shutdown(&mut self, id: SocketId, how: ShutdownType) -> Result<(), ErrorCode> {
        let sock = self.socket_mut(id)?;
        if sock.state.view() != TcpState::Connected {
            return Err(ErrorCode::InvalidState);
        }
        if matches!(how, ShutdownType::Receive | ShutdownType::Both) {
            sock.reader_closed = true;
        }
        if matches!(how, ShutdownType::Send | ShutdownType::Both) && !sock.writer_closed {
            sock.writer_closed = true;
            if let Some((c, side)) = sock.conn() {
                self.queue_fin(c, side);
            }
        }
        Ok(())
    }

    /// Whether a pollable for `interest` on this socket is ready: the operation it
    /// stands for would make progress (or report an error) now.
    pub fn is_ready(&self, id: SocketId, interest: Interest) -> bool {
        let Ok(sock) = self.socket(id) else {
            return self
                .udp_socket(id)
                .map_or(true, |u| u.is_ready(interest == Interest::Read));
        };
        match interest {
            Interest::Socket => match &sock.state {
                // A listener waits for a connection to accept, a connecting socket
                // for the handshake to end.
                SocketState::Listening { queue, .. } => !queue.ready.is_empty(),
                SocketState::Connecting { conn, .. } => self.conn(*conn).is_none_or(|conn| {
                    !matches!(
                        conn.end(Side::Client).phase,
                        Phase::SynSent | Phase::SynReceived
                    )
                }),
                _ => true,
            },
            Interest::Read => {
                let SocketState::Connected { conn, side, .. } = sock.state else {
                    return true;
                };
                if sock.reader_closed {
                    return true;
                }
                self.conn(conn).is_none_or(|conn| {
                    let rx = conn.rx(side);
                    rx.readable() > 0
                        || rx.fin_received
                        || conn.end(side).phase == Phase::Closed
                        || conn.end(side).error.is_some()
                })
            }
            Interest::Write => {
                let SocketState::Connected { conn, side, .. } = sock.state else {
                    return true;
                };
                self.conn(conn).is_none_or(|conn| {
                    let tx = conn.tx(side);
                    let room = if sock.writer_closed {
                        // Shut down: ready once granted bytes are all in the buffer.
                        tx.held() == 0
                    } else {
                        tx.send_space() > 0
                    };
                    room || conn.end(side).phase == Phase::Closed || conn.end(side).error.is_some()
                })
            }
        }
    }

    /// The connection a socket is attached to (connecting, connected or accepted).
    pub fn socket_conn(&self, id: SocketId) -> Option<ConnId> {
        self.socket(id).ok().and_then(|s| s.conn()).map(|(c, _)| c)
    }

    /// Bytes received and not read yet on a connected socket.
    pub fn readable_bytes(&self, id: SocketId) -> usize {
        self.socket(id)
            .ok()
            .and_then(|s| s.conn())
            .and_then(|(c, side)| self.conn(c).map(|conn| conn.rx(side).readable() as usize))
            .unwrap_or(0)
    }
}
