//! `udp-socket` of `wasi:sockets/types@0.3` over simnet-core's UDP sockets: `send`
//! and `receive` are tasks, one datagram each.

use std::net::SocketAddr;
use std::task::Poll;

use bytes::Bytes;
use simnet_core::{Effect, Interest, Method};
use wasmtime::component::{Accessor, Resource};
use wasmtime_wasi::p3::bindings::sockets::types::{
    ErrorCode as WitError, HostUdpSocket, HostUdpSocketWithStore, IpAddressFamily, IpSocketAddress,
    UdpSocket,
};
use wasmtime_wasi::p3::sockets::{SocketError, SocketResult};

use super::{SimSocketsP3, call, family, poll_ready, wit_error, wit_family};
use crate::host::SimSocketsView;
use crate::streams::SocketRef;
use crate::world::lock;

/// The guest's handle on a UDP socket; the socket closes when it goes.
pub(crate) struct P3UdpSocket {
    at: SocketRef,
}

impl Drop for P3UdpSocket {
    fn drop(&mut self) {
        let mut w = lock(&self.at.world);
        if w.owns(self.at.socket) {
            w.close_socket(self.at.socket);
        }
    }
}

fn mine(r: &Resource<UdpSocket>) -> Resource<P3UdpSocket> {
    Resource::new_borrow(r.rep())
}

impl SimSocketsView<'_> {
    fn p3_udp(&self, r: &Resource<UdpSocket>) -> SocketResult<&SocketRef> {
        Ok(&self.table.get(&mine(r)).map_err(SocketError::trap)?.at)
    }

    fn p3_udp_net<R>(
        &self,
        r: &Resource<UdpSocket>,
        f: impl FnOnce(
            &mut simnet_core::Net,
            simnet_core::SocketId,
        ) -> Result<R, simnet_core::ErrorCode>,
    ) -> SocketResult<R> {
        let at = self.p3_udp(r)?;
        let mut w = lock(&at.world);
        f(&mut w.net, at.socket).map_err(|e| wit_error(e).into())
    }
}

impl HostUdpSocket for SimSocketsView<'_> {
    async fn create(
        &mut self,
        address_family: IpAddressFamily,
    ) -> SocketResult<Resource<UdpSocket>> {
        if !self.ctx.caps.udp {
            return Err(WitError::AccessDenied.into());
        }
        let socket = {
            let mut w = lock(&self.ctx.world);
            if let Some(Effect::Error(code)) =
                w.inject(self.ctx.host, None, Method::CreateUdpSocket)
            {
                return Err(wit_error(code).into());
            }
            let created = w
                .net
                .create_udp_socket(self.ctx.host, family(address_family));
            let socket = created.inspect_err(|&code| {
                w.net.record_api_error(Method::CreateUdpSocket, code);
            });
            let socket = socket.map_err(wit_error)?;
            w.set_owner(socket, self.ctx.guest);
            socket
        };
        let at = SocketRef {
            world: self.ctx.world.clone(),
            guest: self.ctx.guest,
            host: self.ctx.host,
            socket,
        };
        let r = self
            .table
            .push(P3UdpSocket { at })
            .map_err(SocketError::trap)?;
        Ok(Resource::new_own(r.rep()))
    }

    async fn bind(
        &mut self,
        this: Resource<UdpSocket>,
        local_address: IpSocketAddress,
    ) -> SocketResult<()> {
        let at = self.p3_udp(&this)?;
        call(at, Method::StartBind, |net, id| {
            net.udp_bind(id, local_address.into())
        })
    }

    async fn connect(
        &mut self,
        this: Resource<UdpSocket>,
        remote_address: IpSocketAddress,
    ) -> SocketResult<()> {
        self.p3_udp_net(&this, |net, id| {
            net.udp_connect(id, SocketAddr::from(remote_address))
        })
    }

    fn disconnect(&mut self, this: Resource<UdpSocket>) -> SocketResult<()> {
        self.p3_udp_net(&this, |net, id| net.udp_disconnect(id))
    }

    fn get_local_address(&mut self, this: Resource<UdpSocket>) -> SocketResult<IpSocketAddress> {
        self.p3_udp_net(&this, |net, id| net.udp_local_address(id))
            .map(Into::into)
    }

    fn get_remote_address(&mut self, this: Resource<UdpSocket>) -> SocketResult<IpSocketAddress> {
        self.p3_udp_net(&this, |net, id| net.udp_remote_address(id))
            .map(Into::into)
    }

    fn get_address_family(
        &mut self,
        this: Resource<UdpSocket>,
    ) -> wasmtime::Result<IpAddressFamily> {
        let at = &self.table.get(&mine(&this))?.at;
        let f = lock(&at.world)
            .net
            .udp_address_family(at.socket)
            .map_err(|e| wasmtime::format_err!("the socket is gone: {e:?}"))?;
        Ok(wit_family(f))
    }

    fn get_unicast_hop_limit(&mut self, this: Resource<UdpSocket>) -> SocketResult<u8> {
        self.p3_udp_net(&this, |net, id| Ok(net.udp_options(id)?.unicast_hop_limit))
    }

    fn set_unicast_hop_limit(&mut self, this: Resource<UdpSocket>, value: u8) -> SocketResult<()> {
        self.p3_udp_net(&this, |net, id| net.udp_set_unicast_hop_limit(id, value))
    }

    fn get_receive_buffer_size(&mut self, this: Resource<UdpSocket>) -> SocketResult<u64> {
        self.p3_udp_net(&this, |net, id| Ok(net.udp_options(id)?.receive_buffer))
    }

    fn set_receive_buffer_size(
        &mut self,
        this: Resource<UdpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        self.p3_udp_net(&this, |net, id| net.udp_set_receive_buffer_size(id, value))
    }

    fn get_send_buffer_size(&mut self, this: Resource<UdpSocket>) -> SocketResult<u64> {
        self.p3_udp_net(&this, |net, id| Ok(net.udp_options(id)?.send_buffer))
    }

    fn set_send_buffer_size(&mut self, this: Resource<UdpSocket>, value: u64) -> SocketResult<()> {
        self.p3_udp_net(&this, |net, id| net.udp_set_send_buffer_size(id, value))
    }

    fn drop(&mut self, this: Resource<UdpSocket>) -> wasmtime::Result<()> {
        self.table
            .delete(Resource::<P3UdpSocket>::new_own(this.rep()))?;
        Ok(())
    }
}

impl<T> HostUdpSocketWithStore<T> for SimSocketsP3 {
    async fn send(
        store: &Accessor<T, Self>,
        socket: Resource<UdpSocket>,
        data: Vec<u8>,
        remote_address: Option<IpSocketAddress>,
    ) -> SocketResult<()> {
        store.with(|mut s| {
            let view = s.get();
            let at = view.p3_udp(&socket)?;
            let to = remote_address.map(SocketAddr::from);
            call(at, Method::Send, |net, id| {
                net.udp_send(id, Bytes::from(data), to)?;
                // A datagram to a closed port on loopback has been answered by the
                // time a kernel's `send` returns.
                net.settle();
                Ok(())
            })
        })
    }

    async fn receive(
        store: &Accessor<T, Self>,
        socket: Resource<UdpSocket>,
    ) -> SocketResult<(Vec<u8>, IpSocketAddress)> {
        let at = store.with(|mut s| s.get().p3_udp(&socket).cloned())?;
        std::future::poll_fn(|cx| {
            loop {
                let got = call(&at, Method::Receive, |net, id| match net.is_stalled(id) {
                    true => Ok(None),
                    false => net.udp_receive(id),
                });
                match got {
                    Ok(Some(d)) => return Poll::Ready(Ok((d.payload.to_vec(), d.src.into()))),
                    Ok(None) => {
                        if poll_ready(&at, cx, Interest::Read, true).is_pending() {
                            return Poll::Pending;
                        }
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
        })
        .await
    }
}
