//! `wasi:sockets/udp` and `udp-create-socket` over simnet-core's UDP sockets. The
//! WASI 0.2 shapes live here, as wasmtime-wasi 48 keeps them above the kernel: the
//! bind that must be finished, streams that must be dropped before the next
//! `stream`, the permit `check-send` grants (sending more traps), and at most 16
//! datagrams (and about 64 KiB) per `receive`.

use std::net::SocketAddr;

use bytes::Bytes;
use simnet_core::{Effect, Interest, Method};
use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::sockets::network::{
    ErrorCode as WitError, IpAddressFamily, IpSocketAddress, Network,
};
use wasmtime_wasi::p2::bindings::sockets::{udp, udp_create_socket};
use wasmtime_wasi::p2::{DynPollable, SocketError, SocketResult, UdpSocket};
use wasmtime_wasi_io::poll::Pollable;

use super::{NetCall, call, family, wit_error, wit_family, with_net};
use crate::host::SimSocketsView;
use crate::streams::SocketRef;
use crate::world::lock;

/// Datagrams one `check-send` permits and one `receive` returns at most.
const MAX_DATAGRAMS: usize = 16;

/// A `receive` stops adding datagrams once their sizes (plus one each) reach this.
const MAX_RECEIVE_BYTES: usize = 64 * 1024;

/// The guest's handle on a UDP socket.
pub(crate) struct SimUdpSocket {
    at: SocketRef,
    /// `start-bind` succeeded and `finish-bind` has not been called.
    bind_in_progress: bool,
}

/// A socket closes when its handle goes (dropped by the guest or with its store),
/// unless the world already disposed of it.
impl Drop for SimUdpSocket {
    fn drop(&mut self) {
        let mut w = lock(&self.at.world);
        if w.owns(self.at.socket) {
            w.close_socket(self.at.socket);
        }
    }
}

/// `incoming-datagram-stream`.
pub(crate) struct SimIncoming {
    at: SocketRef,
}

/// `outgoing-datagram-stream`, with the datagrams the last `check-send` permitted.
pub(crate) struct SimOutgoing {
    at: SocketRef,
    permit: usize,
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for SimUdpSocket {
    async fn ready(&mut self) {
        // No UDP socket call waits.
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for SimIncoming {
    async fn ready(&mut self) {
        self.at.ready(Interest::Read).await
    }
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for SimOutgoing {
    async fn ready(&mut self) {
        self.at.ready(Interest::Write).await
    }
}

/// Our objects behind the handles the bindings name.
fn mine(r: &Resource<UdpSocket>) -> Resource<SimUdpSocket> {
    Resource::new_borrow(r.rep())
}

fn incoming(r: &Resource<udp::IncomingDatagramStream>) -> Resource<SimIncoming> {
    Resource::new_borrow(r.rep())
}

fn outgoing(r: &Resource<udp::OutgoingDatagramStream>) -> Resource<SimOutgoing> {
    Resource::new_borrow(r.rep())
}

impl SimSocketsView<'_> {
    fn udp(&self, r: &Resource<UdpSocket>) -> SocketResult<&SimUdpSocket> {
        Ok(self.table.get(&mine(r))?)
    }

    /// [`with_net`] on this socket.
    fn udp_net<R>(&self, r: &Resource<UdpSocket>, f: impl NetCall<R>) -> SocketResult<R> {
        with_net(&self.udp(r)?.at, f)
    }

    /// Whether the socket's streams from the last `stream` call are still alive (its
    /// other children, the pollables `subscribe` made, do not count).
    fn has_streams(&self, r: &Resource<UdpSocket>) -> SocketResult<bool> {
        Ok(self
            .table
            .iter_children(&mine(r))?
            .any(|c| c.is::<SimIncoming>() || c.is::<SimOutgoing>()))
    }
}

impl udp_create_socket::Host for SimSocketsView<'_> {
    async fn create_udp_socket(
        &mut self,
        address_family: IpAddressFamily,
    ) -> SocketResult<Resource<UdpSocket>> {
        if !self.ctx.caps.udp {
            return Err(WitError::AccessDenied.into());
        }
        let mut w = lock(&self.ctx.world);
        if let Some(Effect::Error(code)) = w.inject(self.ctx.host, None, Method::CreateUdpSocket) {
            return Err(wit_error(code).into());
        }
        let socket = match w
            .net
            .create_udp_socket(self.ctx.host, family(address_family))
        {
            Ok(socket) => socket,
            Err(code) => {
                w.net.record_api_error(Method::CreateUdpSocket, code);
                return Err(wit_error(code).into());
            }
        };
        w.set_owner(socket, self.ctx.guest);
        drop(w);
        let sock = SimUdpSocket {
            at: SocketRef {
                world: self.ctx.world.clone(),
                guest: self.ctx.guest,
                host: self.ctx.host,
                socket,
            },
            bind_in_progress: false,
        };
        let r = self.table.push(sock)?;
        Ok(Resource::new_own(r.rep()))
    }
}

impl udp::Host for SimSocketsView<'_> {}

impl udp::HostUdpSocket for SimSocketsView<'_> {
    async fn start_bind(
        &mut self,
        this: Resource<UdpSocket>,
        network: Resource<Network>,
        local_address: IpSocketAddress,
    ) -> SocketResult<()> {
        self.check_network(&network)?;
        if self.udp(&this)?.bind_in_progress {
            return Err(WitError::ConcurrencyConflict.into());
        }
        // wasmtime-wasi needs the socket to itself, which its live streams share.
        if self.has_streams(&this)? {
            return Err(WitError::InvalidState.into());
        }
        self.udp_net(&this, |net, id| net.udp_bind(id, local_address.into()))?;
        self.table.get_mut(&mine(&this))?.bind_in_progress = true;
        Ok(())
    }

    fn finish_bind(&mut self, this: Resource<UdpSocket>) -> SocketResult<()> {
        let sock = self.table.get_mut(&mine(&this))?;
        if !std::mem::take(&mut sock.bind_in_progress) {
            return Err(WitError::NotInProgress.into());
        }
        Ok(())
    }

    async fn stream(
        &mut self,
        this: Resource<UdpSocket>,
        remote_address: Option<IpSocketAddress>,
    ) -> SocketResult<(
        Resource<udp::IncomingDatagramStream>,
        Resource<udp::OutgoingDatagramStream>,
    )> {
        if self.has_streams(&this)? {
            return Err(SocketError::trap(wasmtime::format_err!(
                "UDP streams not dropped yet"
            )));
        }
        let at = self.udp(&this)?.at.clone();
        with_net(&at, |net, id| {
            // In WASI 0.2 a socket must be bound before it streams.
            net.udp_local_address(id)?;
            match remote_address {
                Some(remote) => net.udp_connect(id, SocketAddr::from(remote)),
                None if net.udp_remote_address(id).is_ok() => net.udp_disconnect(id),
                None => Ok(()),
            }
        })?;
        let parent = mine(&this);
        let input = SimIncoming { at: at.clone() };
        let output = SimOutgoing { at, permit: 0 };
        let input = self.table.push_child(input, &parent)?;
        let output = self.table.push_child(output, &parent)?;
        Ok((
            Resource::new_own(input.rep()),
            Resource::new_own(output.rep()),
        ))
    }

    fn local_address(&mut self, this: Resource<UdpSocket>) -> SocketResult<IpSocketAddress> {
        Ok(self
            .udp_net(&this, |net, id| net.udp_local_address(id))?
            .into())
    }

    fn remote_address(&mut self, this: Resource<UdpSocket>) -> SocketResult<IpSocketAddress> {
        Ok(self
            .udp_net(&this, |net, id| net.udp_remote_address(id))?
            .into())
    }

    fn address_family(&mut self, this: Resource<UdpSocket>) -> wasmtime::Result<IpAddressFamily> {
        let family = self
            .udp_net(&this, |net, id| net.udp_address_family(id))
            .map_err(|_| wasmtime::format_err!("UDP socket is gone"))?;
        Ok(wit_family(family))
    }

    fn unicast_hop_limit(&mut self, this: Resource<UdpSocket>) -> SocketResult<u8> {
        self.udp_net(&this, |net, id| Ok(net.udp_options(id)?.unicast_hop_limit))
    }

    fn set_unicast_hop_limit(&mut self, this: Resource<UdpSocket>, value: u8) -> SocketResult<()> {
        self.udp_net(&this, |net, id| net.udp_set_unicast_hop_limit(id, value))
    }

    fn receive_buffer_size(&mut self, this: Resource<UdpSocket>) -> SocketResult<u64> {
        self.udp_net(&this, |net, id| Ok(net.udp_options(id)?.receive_buffer))
    }

    fn set_receive_buffer_size(
        &mut self,
        this: Resource<UdpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        self.udp_net(&this, |net, id| net.udp_set_receive_buffer_size(id, value))
    }

    fn send_buffer_size(&mut self, this: Resource<UdpSocket>) -> SocketResult<u64> {
        self.udp_net(&this, |net, id| Ok(net.udp_options(id)?.send_buffer))
    }

    fn set_send_buffer_size(&mut self, this: Resource<UdpSocket>, value: u64) -> SocketResult<()> {
        self.udp_net(&this, |net, id| net.udp_set_send_buffer_size(id, value))
    }

    fn subscribe(&mut self, this: Resource<UdpSocket>) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi_io::poll::subscribe(self.table, mine(&this))
    }

    fn drop(&mut self, this: Resource<UdpSocket>) -> wasmtime::Result<()> {
        // Fails (a trap, as in wasmtime-wasi) while the socket's streams are alive;
        // the socket closes as its handle goes (see `SimUdpSocket`'s `Drop`).
        self.table
            .delete(Resource::<SimUdpSocket>::new_own(this.rep()))?;
        Ok(())
    }
}

impl udp::HostIncomingDatagramStream for SimSocketsView<'_> {
    fn receive(
        &mut self,
        this: Resource<udp::IncomingDatagramStream>,
        max_results: u64,
    ) -> SocketResult<Vec<udp::IncomingDatagram>> {
        let max = usize::try_from(max_results)
            .unwrap_or(usize::MAX)
            .min(MAX_DATAGRAMS);
        if max == 0 {
            return Ok(Vec::new());
        }
        let at = &self.table.get(&incoming(&this))?.at;
        call(at, Method::Receive, |net, id| {
            let mut out = Vec::new();
            if net.is_stalled(id) {
                return Ok(out);
            }
            let mut bytes = 0;
            while out.len() < max && bytes < MAX_RECEIVE_BYTES {
                match net.udp_receive(id) {
                    Ok(Some(d)) => {
                        bytes += 1 + d.payload.len();
                        out.push(udp::IncomingDatagram {
                            data: d.payload.to_vec(),
                            remote_address: d.src.into(),
                        });
                    }
                    Ok(None) => break,
                    // An error after some datagrams ends the call with those; the
                    // kernel reported it once, so it is lost, as in wasmtime-wasi.
                    Err(_) if !out.is_empty() => break,
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        })
    }

    fn subscribe(
        &mut self,
        this: Resource<udp::IncomingDatagramStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi_io::poll::subscribe(self.table, incoming(&this))
    }

    fn drop(&mut self, this: Resource<udp::IncomingDatagramStream>) -> wasmtime::Result<()> {
        self.table
            .delete(Resource::<SimIncoming>::new_own(this.rep()))?;
        Ok(())
    }
}

impl udp::HostOutgoingDatagramStream for SimSocketsView<'_> {
    fn check_send(&mut self, this: Resource<udp::OutgoingDatagramStream>) -> SocketResult<u64> {
        // A send completes at once (the link takes it), so every check permits the
        // most wasmtime-wasi ever permits.
        self.table.get_mut(&outgoing(&this))?.permit = MAX_DATAGRAMS;
        Ok(MAX_DATAGRAMS as u64)
    }

    fn send(
        &mut self,
        this: Resource<udp::OutgoingDatagramStream>,
        datagrams: Vec<udp::OutgoingDatagram>,
    ) -> SocketResult<u64> {
        if datagrams.is_empty() {
            return Ok(0);
        }
        let stream = self.table.get_mut(&outgoing(&this))?;
        if datagrams.len() > stream.permit {
            return Err(SocketError::trap(wasmtime::format_err!(
                "unpermitted: argument exceeds permitted size"
            )));
        }
        stream.permit = 0;
        call(&stream.at, Method::Send, |net, id| {
            let mut sent = 0;
            for d in datagrams {
                let to = d.remote_address.map(SocketAddr::from);
                match net.udp_send(id, Bytes::from(d.data), to) {
                    Ok(()) => {
                        sent += 1;
                        // A kernel processes loopback traffic within the sending
                        // call: a datagram to a closed port has been answered by the
                        // time `send` returns, so the sender's next call reports it.
                        net.settle();
                    }
                    // Once one datagram went, the call reports how many did.
                    Err(_) if sent > 0 => break,
                    Err(e) => return Err(e),
                }
            }
            Ok(sent)
        })
    }

    fn subscribe(
        &mut self,
        this: Resource<udp::OutgoingDatagramStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi_io::poll::subscribe(self.table, outgoing(&this))
    }

    async fn drop(&mut self, this: Resource<udp::OutgoingDatagramStream>) -> wasmtime::Result<()> {
        self.table
            .delete(Resource::<SimOutgoing>::new_own(this.rep()))?;
        Ok(())
    }
}
