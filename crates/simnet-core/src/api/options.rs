//! Socket options: keep-alive, hop limit and buffer sizes, with Linux's clamping.

use crate::autotune::BufferSize;
use crate::error::ErrorCode;
use crate::ids::SocketId;
use crate::net::Net;
use crate::socket::{
    Socket, SocketOptions, SocketState, clamp_buffer_size, clamp_keep_alive_count,
    clamp_keep_alive_time,
};

impl Net {
    /// The socket's options, as the getters would report them.
    pub fn options(&self, id: SocketId) -> Result<&SocketOptions, ErrorCode> {
        let sock = self.socket(id)?;
        sock.check_options_access()?;
        Ok(&sock.options)
    }

    fn options_mut(&mut self, id: SocketId) -> Result<&mut SocketOptions, ErrorCode> {
        let sock = self.socket_mut(id)?;
        sock.check_options_access()?;
        Ok(&mut sock.options)
    }

    pub fn keep_alive_enabled(&self, id: SocketId) -> Result<bool, ErrorCode> {
        Ok(self.options(id)?.keep_alive_enabled)
    }

    pub fn set_keep_alive_enabled(&mut self, id: SocketId, value: bool) -> Result<(), ErrorCode> {
        self.options_mut(id)?.keep_alive_enabled = value;
        self.refresh_keep_alive(id);
        Ok(())
    }

    pub fn keep_alive_idle_time(&self, id: SocketId) -> Result<u64, ErrorCode> {
        Ok(self.options(id)?.keep_alive_idle_time.as_nanos() as u64)
    }

    pub fn set_keep_alive_idle_time(&mut self, id: SocketId, nanos: u64) -> Result<(), ErrorCode> {
        if nanos == 0 {
            return Err(ErrorCode::InvalidArgument);
        }
        self.options_mut(id)?.keep_alive_idle_time = clamp_keep_alive_time(nanos);
        self.refresh_keep_alive(id);
        Ok(())
    }

    pub fn keep_alive_interval(&self, id: SocketId) -> Result<u64, ErrorCode> {
        Ok(self.options(id)?.keep_alive_interval.as_nanos() as u64)
    }

    pub fn set_keep_alive_interval(&mut self, id: SocketId, nanos: u64) -> Result<(), ErrorCode> {
        if nanos == 0 {
            return Err(ErrorCode::InvalidArgument);
        }
        self.options_mut(id)?.keep_alive_interval = clamp_keep_alive_time(nanos);
        Ok(())
    }

    pub fn keep_alive_count(&self, id: SocketId) -> Result<u32, ErrorCode> {
        Ok(self.options(id)?.keep_alive_count)
    }

    pub fn set_keep_alive_count(&mut self, id: SocketId, value: u32) -> Result<(), ErrorCode> {
        if value == 0 {
            return Err(ErrorCode::InvalidArgument);
        }
        self.options_mut(id)?.keep_alive_count = clamp_keep_alive_count(value);
        Ok(())
    }

    pub fn hop_limit(&self, id: SocketId) -> Result<u8, ErrorCode> {
        Ok(self.options(id)?.hop_limit)
    }

    pub fn set_hop_limit(&mut self, id: SocketId, value: u8) -> Result<(), ErrorCode> {
        let opts = self.options_mut(id)?;
        if value == 0 {
            return Err(ErrorCode::InvalidArgument);
        }
        opts.hop_limit = value;
        Ok(())
    }

    /// The receive buffer's size: for a connection the size in force (tuning may have
    /// grown it), otherwise the size set or the default.
    pub fn receive_buffer_size(&self, id: SocketId) -> Result<u64, ErrorCode> {
        let option = self.options(id)?.receive_buffer;
        Ok(match self.attached_conn(id) {
            Some((conn, side)) => conn.rx(side).rcv_cap,
            None => option.initial(self.config.tcp.receive_buffer),
        })
    }

    /// Set the receive buffer's size, which ends its tuning (Linux `SO_RCVBUF`).
    pub fn set_receive_buffer_size(&mut self, id: SocketId, value: u64) -> Result<(), ErrorCode> {
        let range = self.config.tcp.receive_buffer_range.clone();
        let opts = self.options_mut(id)?;
        let value = clamp_buffer_size(value, &range)?;
        opts.receive_buffer = BufferSize::Set(value);
        if let Some((c, side)) = self.socket(id)?.conn()
            && let Some(conn) = self.conn_mut(c)
        {
            let rx = conn.rx_mut(side);
            rx.rcv_cap = value;
            rx.rcv_tuning = None;
            self.maybe_window_update(c, side);
        }
        Ok(())
    }

    /// The send buffer's size (see [`Net::receive_buffer_size`]).
    pub fn send_buffer_size(&self, id: SocketId) -> Result<u64, ErrorCode> {
        let option = self.options(id)?.send_buffer;
        Ok(match self.attached_conn(id) {
            Some((conn, side)) => conn.tx(side).snd_cap,
            None => option.initial(self.config.tcp.send_buffer),
        })
    }

    /// Set the send buffer's size, which ends its tuning (Linux `SO_SNDBUF`).
    pub fn set_send_buffer_size(&mut self, id: SocketId, value: u64) -> Result<(), ErrorCode> {
        let range = self.config.tcp.send_buffer_range.clone();
        let opts = self.options_mut(id)?;
        let value = clamp_buffer_size(value, &range)?;
        opts.send_buffer = BufferSize::Set(value);
        if let Some((c, side)) = self.socket(id)?.conn()
            && let Some(conn) = self.conn_mut(c)
        {
            let tx = conn.tx_mut(side);
            tx.snd_cap = value;
            tx.snd_tuning = None;
        }
        Ok(())
    }

    /// The end's time-of-last-activity-based keep-alive timer, if enabled.
    fn refresh_keep_alive(&mut self, id: SocketId) {
        if let Ok(Socket {
            state: SocketState::Connected { conn, side, .. },
            ..
        }) = self.socket(id)
        {
            self.arm_keep_alive(*conn, *side);
        }
    }
}
