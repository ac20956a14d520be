//! `wasi:sockets/tcp` and `tcp-create-socket` over simnet-core's sockets.

use simnet_core::{ErrorCode as CoreError, ShutdownType as CoreShutdown, TcpState};
use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::sockets::network::{
    ErrorCode as WitError, IpAddressFamily, IpSocketAddress, Network,
};
use wasmtime_wasi::p2::bindings::sockets::tcp::{self, ShutdownType};
use wasmtime_wasi::p2::bindings::sockets::tcp_create_socket;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable, SocketResult, TcpSocket};

use super::{NetCall, call, family, wit_error, wit_family, with_net};
use crate::host::SimSocketsView;
use crate::streams::{
    SimTcpSocket, SocketRef, Started, TcpInput, TcpOutput, new_stream_states, shutdown_streams,
};
use crate::world::lock;
use simnet_core::{Effect, Method};

/// Our socket object behind the `tcp-socket` handle the bindings name.
fn mine(r: &Resource<TcpSocket>) -> Resource<SimTcpSocket> {
    Resource::new_borrow(r.rep())
}

impl SimSocketsView<'_> {
    fn socket(&self, r: &Resource<TcpSocket>) -> SocketResult<&SimTcpSocket> {
        Ok(self.table.get(&mine(r))?)
    }

    /// [`with_net`] on this socket.
    fn with_net<R>(&self, r: &Resource<TcpSocket>, f: impl NetCall<R>) -> SocketResult<R> {
        with_net(&self.socket(r)?.at, f)
    }

    /// [`call`] on this socket.
    fn call<R>(
        &self,
        r: &Resource<TcpSocket>,
        method: Method,
        f: impl NetCall<R>,
    ) -> SocketResult<R> {
        call(&self.socket(r)?.at, method, f)
    }

    /// Like `with_net` for the calls wasmtime-wasi refuses with `invalid-state` while
    /// its socket is inside the connect's future, from `start-connect` until the
    /// outcome is taken (by the socket's pollable or `finish-connect`): the options
    /// and the addresses.
    fn settled<R>(&self, r: &Resource<TcpSocket>, f: impl NetCall<R>) -> SocketResult<R> {
        self.with_net(r, |net, id| {
            if net.state(id)? == TcpState::Connecting {
                return Err(simnet_core::ErrorCode::InvalidState);
            }
            f(net, id)
        })
    }

    /// `settled` for a setter that wasmtime-wasi checks for 0 (`invalid-argument`)
    /// before it looks at the socket.
    fn settled_nonzero(
        &self,
        r: &Resource<TcpSocket>,
        zero: bool,
        f: impl NetCall<()>,
    ) -> SocketResult<()> {
        if zero {
            return Err(WitError::InvalidArgument.into());
        }
        self.settled(r, f)
    }

    /// Run a `start-*` call: refused while another start awaits its finish, as in
    /// wasmtime-wasi; on success the socket awaits `finish`.
    fn start(
        &mut self,
        r: &Resource<TcpSocket>,
        method: Method,
        started: Started,
        f: impl NetCall<()>,
    ) -> SocketResult<()> {
        let busy = self.socket(r)?.started.is_some();
        self.call(r, method, |net, id| {
            if busy {
                return Err(simnet_core::ErrorCode::ConcurrencyConflict);
            }
            f(net, id)
        })?;
        self.table.get_mut(&mine(r))?.started = Some(started);
        Ok(())
    }

    /// `finish-bind` and `finish-listen`: the network finished at the start.
    fn finish(
        &mut self,
        r: &Resource<TcpSocket>,
        method: Method,
        started: Started,
    ) -> SocketResult<()> {
        let pending = self.socket(r)?.started == Some(started);
        self.call(r, method, |_, _| {
            if pending {
                Ok(())
            } else {
                Err(simnet_core::ErrorCode::NotInProgress)
            }
        })?;
        self.table.get_mut(&mine(r))?.started = None;
        Ok(())
    }

    fn push_socket(&mut self, socket: simnet_core::SocketId) -> SocketResult<Resource<TcpSocket>> {
        lock(&self.ctx.world).set_owner(socket, self.ctx.guest);
        let sock = SimTcpSocket {
            at: SocketRef {
                world: self.ctx.world.clone(),
                guest: self.ctx.guest,
                host: self.ctx.host,
                socket,
            },
            started: None,
            streams: None,
            pre_accepted: false,
        };
        let r = self.table.push(sock)?;
        Ok(Resource::new_own(r.rep()))
    }

    fn take_streams(
        &mut self,
        r: &Resource<TcpSocket>,
    ) -> SocketResult<(Resource<DynInputStream>, Resource<DynOutputStream>)> {
        let parent = mine(r);
        let sock = self.table.get_mut(&parent)?;
        if sock.streams.is_some() {
            return Err(WitError::InvalidState.into());
        }
        let states = new_stream_states();
        sock.streams = Some(states.clone());
        let at = sock.at.clone();
        let input: DynInputStream = Box::new(TcpInput {
            at: at.clone(),
            states: states.clone(),
        });
        let output: DynOutputStream = Box::new(TcpOutput { at, states });
        let input = self.table.push_child(input, &parent)?;
        let output = self.table.push_child(output, &parent)?;
        Ok((input, output))
    }
}

impl tcp_create_socket::Host for SimSocketsView<'_> {
    fn create_tcp_socket(
        &mut self,
        address_family: IpAddressFamily,
    ) -> SocketResult<Resource<TcpSocket>> {
        if !self.ctx.caps.tcp {
            return Err(WitError::AccessDenied.into());
        }
        {
            let mut w = lock(&self.ctx.world);
            if let Some(Effect::Error(code)) =
                w.inject(self.ctx.host, None, Method::CreateTcpSocket)
            {
                return Err(wit_error(code).into());
            }
        }
        let id = lock(&self.ctx.world)
            .net
            .create_tcp_socket(self.ctx.host, family(address_family))
            .map_err(wit_error)?;
        self.push_socket(id)
    }
}

impl tcp::Host for SimSocketsView<'_> {}

impl tcp::HostTcpSocket for SimSocketsView<'_> {
    async fn start_bind(
        &mut self,
        this: Resource<TcpSocket>,
        network: Resource<Network>,
        local_address: IpSocketAddress,
    ) -> SocketResult<()> {
        self.check_network(&network)?;
        self.start(&this, Method::StartBind, Started::Bind, |net, id| {
            net.bind(id, local_address.into())
        })
    }

    fn finish_bind(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        self.finish(&this, Method::FinishBind, Started::Bind)
    }

    fn start_connect(
        &mut self,
        this: Resource<TcpSocket>,
        network: Resource<Network>,
        remote_address: IpSocketAddress,
    ) -> SocketResult<()> {
        self.check_network(&network)?;
        // Nothing is sent yet: as wasmtime-wasi's, the connect starts when the socket's
        // pollable or `finish-connect` first polls it.
        self.start(&this, Method::StartConnect, Started::Connect, |net, id| {
            net.prepare_connect(id, remote_address.into())
        })
    }

    fn finish_connect(
        &mut self,
        this: Resource<TcpSocket>,
    ) -> SocketResult<(Resource<DynInputStream>, Resource<DynOutputStream>)> {
        let sock = self.socket(&this)?;
        let (pending, at) = (sock.started == Some(Started::Connect), sock.at.clone());
        let outcome = {
            let mut w = lock(&at.world);
            let injected = match w.inject(self.ctx.host, Some(at.socket), Method::FinishConnect) {
                Some(Effect::Error(code)) => Some(code),
                _ => None,
            };
            let outcome = match (pending, injected) {
                (false, _) => Err(CoreError::NotInProgress),
                // The fault ends the attempt with its code, whatever the handshake did
                // (the socket's pollable may have seen it succeed already).
                (true, Some(code)) => w.net.fail_connect(at.socket, code).and(Err(code)),
                (true, None) if w.net.send_connect(at.socket) => {
                    // This first poll started the connect: under way, as a kernel's
                    // non-blocking connect is (even to a closed port on loopback).
                    w.net.settle();
                    Err(CoreError::WouldBlock)
                }
                (true, None) if w.net.is_stalled(at.socket) => Err(CoreError::WouldBlock),
                (true, None) => w
                    .net
                    .connect_outcome(at.socket)
                    .unwrap_or(Err(CoreError::WouldBlock)),
            };
            if let Err(code) = outcome
                && injected.is_none()
                && code != CoreError::WouldBlock
            {
                w.net.record_api_error(Method::FinishConnect, code);
            }
            outcome
        };
        if pending && outcome != Err(CoreError::WouldBlock) {
            self.table.get_mut(&mine(&this))?.started = None;
        }
        outcome.map_err(wit_error)?;
        self.take_streams(&this)
    }

    async fn start_listen(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        self.start(&this, Method::StartListen, Started::Listen, |net, id| {
            net.listen(id)
        })
    }

    fn finish_listen(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        self.finish(&this, Method::FinishListen, Started::Listen)
    }

    fn accept(
        &mut self,
        this: Resource<TcpSocket>,
    ) -> SocketResult<(
        Resource<TcpSocket>,
        Resource<DynInputStream>,
        Resource<DynOutputStream>,
    )> {
        let (id, _peer) = self.call(&this, Method::Accept, |net, id| match net.is_stalled(id) {
            true => Err(CoreError::WouldBlock),
            false => net.accept(id),
        })?;
        self.table.get_mut(&mine(&this))?.pre_accepted = false;
        let sock = self.push_socket(id)?;
        let (input, output) = self.take_streams(&sock)?;
        Ok((sock, input, output))
    }

    fn local_address(&mut self, this: Resource<TcpSocket>) -> SocketResult<IpSocketAddress> {
        self.settled(&this, |net, id| net.local_address(id))
            .map(Into::into)
    }

    fn remote_address(&mut self, this: Resource<TcpSocket>) -> SocketResult<IpSocketAddress> {
        self.settled(&this, |net, id| net.remote_address(id))
            .map(Into::into)
    }

    fn is_listening(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<bool> {
        Ok(self.with_net(&this, |net, id| net.is_listening(id))?)
    }

    fn address_family(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<IpAddressFamily> {
        Ok(wit_family(
            self.with_net(&this, |net, id| net.address_family(id))?,
        ))
    }

    fn set_listen_backlog_size(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        self.settled_nonzero(&this, value == 0, |net, id| {
            net.set_listen_backlog_size(id, value)
        })
    }

    fn keep_alive_enabled(&mut self, this: Resource<TcpSocket>) -> SocketResult<bool> {
        self.settled(&this, |net, id| net.keep_alive_enabled(id))
    }

    fn set_keep_alive_enabled(
        &mut self,
        this: Resource<TcpSocket>,
        value: bool,
    ) -> SocketResult<()> {
        self.settled(&this, |net, id| net.set_keep_alive_enabled(id, value))
    }

    fn keep_alive_idle_time(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        self.settled(&this, |net, id| net.keep_alive_idle_time(id))
    }

    fn set_keep_alive_idle_time(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        self.settled_nonzero(&this, value == 0, |net, id| {
            net.set_keep_alive_idle_time(id, value)
        })
    }

    fn keep_alive_interval(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        self.settled(&this, |net, id| net.keep_alive_interval(id))
    }

    fn set_keep_alive_interval(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        self.settled_nonzero(&this, value == 0, |net, id| {
            net.set_keep_alive_interval(id, value)
        })
    }

    fn keep_alive_count(&mut self, this: Resource<TcpSocket>) -> SocketResult<u32> {
        self.settled(&this, |net, id| net.keep_alive_count(id))
    }

    fn set_keep_alive_count(&mut self, this: Resource<TcpSocket>, value: u32) -> SocketResult<()> {
        self.settled_nonzero(&this, value == 0, |net, id| {
            net.set_keep_alive_count(id, value)
        })
    }

    fn hop_limit(&mut self, this: Resource<TcpSocket>) -> SocketResult<u8> {
        self.settled(&this, |net, id| net.hop_limit(id))
    }

    fn set_hop_limit(&mut self, this: Resource<TcpSocket>, value: u8) -> SocketResult<()> {
        self.settled(&this, |net, id| net.set_hop_limit(id, value))
    }

    fn receive_buffer_size(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        self.settled(&this, |net, id| net.receive_buffer_size(id))
    }

    fn set_receive_buffer_size(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        self.settled(&this, |net, id| net.set_receive_buffer_size(id, value))
    }

    fn send_buffer_size(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        self.settled(&this, |net, id| net.send_buffer_size(id))
    }

    fn set_send_buffer_size(&mut self, this: Resource<TcpSocket>, value: u64) -> SocketResult<()> {
        self.settled(&this, |net, id| net.set_send_buffer_size(id, value))
    }

    fn subscribe(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi_io::poll::subscribe(self.table, mine(&this))
    }

    fn shutdown(
        &mut self,
        this: Resource<TcpSocket>,
        shutdown_type: ShutdownType,
    ) -> SocketResult<()> {
        // As wasmtime-wasi: only a socket whose streams exist (connected or accepted)
        // can shut down, and the streams see it first.
        let Some(states) = self.socket(&this)?.streams.clone() else {
            return Err(WitError::InvalidState.into());
        };
        let (how, read, write) = match shutdown_type {
            ShutdownType::Receive => (CoreShutdown::Receive, true, false),
            ShutdownType::Send => (CoreShutdown::Send, false, true),
            ShutdownType::Both => (CoreShutdown::Both, true, true),
        };
        let writing = self.with_net(&this, |net, id| Ok(net.held_bytes(id) > 0))?;
        shutdown_streams(&states, read, write, writing);
        self.with_net(&this, |net, id| {
            let done = net.shutdown(id, how);
            net.settle();
            done
        })
    }

    fn drop(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<()> {
        // Fails (a trap, as in wasmtime-wasi) while the socket's streams are alive.
        // Dropping the handle closes the socket (see `SimTcpSocket`'s `Drop`).
        self.table
            .delete(Resource::<SimTcpSocket>::new_own(this.rep()))?;
        Ok(())
    }
}
