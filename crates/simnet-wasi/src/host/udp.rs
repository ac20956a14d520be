//! `wasi:sockets/udp` and `udp-create-socket`. UDP is not simulated yet: creating a
//! socket fails with `not-supported` (or `access-denied` when the guest may not use
//! UDP), so no UDP handle can ever exist and every method on one is a guest bug (a
//! trap), exactly as for any dangling handle.

use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::sockets::network::{
    ErrorCode, IpAddressFamily, IpSocketAddress, Network,
};
use wasmtime_wasi::p2::bindings::sockets::{udp, udp_create_socket};
use wasmtime_wasi::p2::{DynPollable, SocketError, SocketResult, UdpSocket};

use super::SimSocketsView;

fn no_udp() -> wasmtime::Error {
    wasmtime::format_err!("no UDP socket exists in a simnet simulation (UDP is not simulated)")
}

fn fail<T>() -> SocketResult<T> {
    Err(SocketError::trap(no_udp()))
}

impl udp_create_socket::Host for SimSocketsView<'_> {
    async fn create_udp_socket(
        &mut self,
        _address_family: IpAddressFamily,
    ) -> SocketResult<Resource<UdpSocket>> {
        if !self.ctx.caps.udp {
            return Err(ErrorCode::AccessDenied.into());
        }
        Err(ErrorCode::NotSupported.into())
    }
}

impl udp::Host for SimSocketsView<'_> {}

impl udp::HostUdpSocket for SimSocketsView<'_> {
    async fn start_bind(
        &mut self,
        _this: Resource<UdpSocket>,
        _network: Resource<Network>,
        _local_address: IpSocketAddress,
    ) -> SocketResult<()> {
        fail()
    }

    fn finish_bind(&mut self, _this: Resource<UdpSocket>) -> SocketResult<()> {
        fail()
    }

    async fn stream(
        &mut self,
        _this: Resource<UdpSocket>,
        _remote_address: Option<IpSocketAddress>,
    ) -> SocketResult<(
        Resource<udp::IncomingDatagramStream>,
        Resource<udp::OutgoingDatagramStream>,
    )> {
        fail()
    }

    fn local_address(&mut self, _this: Resource<UdpSocket>) -> SocketResult<IpSocketAddress> {
        fail()
    }

    fn remote_address(&mut self, _this: Resource<UdpSocket>) -> SocketResult<IpSocketAddress> {
        fail()
    }

    fn address_family(&mut self, _this: Resource<UdpSocket>) -> wasmtime::Result<IpAddressFamily> {
        Err(no_udp())
    }

    fn unicast_hop_limit(&mut self, _this: Resource<UdpSocket>) -> SocketResult<u8> {
        fail()
    }

    fn set_unicast_hop_limit(
        &mut self,
        _this: Resource<UdpSocket>,
        _value: u8,
    ) -> SocketResult<()> {
        fail()
    }

    fn receive_buffer_size(&mut self, _this: Resource<UdpSocket>) -> SocketResult<u64> {
        fail()
    }

    fn set_receive_buffer_size(
        &mut self,
        _this: Resource<UdpSocket>,
        _value: u64,
    ) -> SocketResult<()> {
        fail()
    }

    fn send_buffer_size(&mut self, _this: Resource<UdpSocket>) -> SocketResult<u64> {
        fail()
    }

    fn set_send_buffer_size(
        &mut self,
        _this: Resource<UdpSocket>,
        _value: u64,
    ) -> SocketResult<()> {
        fail()
    }

    fn subscribe(&mut self, _this: Resource<UdpSocket>) -> wasmtime::Result<Resource<DynPollable>> {
        Err(no_udp())
    }

    fn drop(&mut self, _this: Resource<UdpSocket>) -> wasmtime::Result<()> {
        Err(no_udp())
    }
}

impl udp::HostIncomingDatagramStream for SimSocketsView<'_> {
    fn receive(
        &mut self,
        _this: Resource<udp::IncomingDatagramStream>,
        _max_results: u64,
    ) -> SocketResult<Vec<udp::IncomingDatagram>> {
        fail()
    }

    fn subscribe(
        &mut self,
        _this: Resource<udp::IncomingDatagramStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        Err(no_udp())
    }

    fn drop(&mut self, _this: Resource<udp::IncomingDatagramStream>) -> wasmtime::Result<()> {
        Err(no_udp())
    }
}

impl udp::HostOutgoingDatagramStream for SimSocketsView<'_> {
    fn check_send(&mut self, _this: Resource<udp::OutgoingDatagramStream>) -> SocketResult<u64> {
        fail()
    }

    fn send(
        &mut self,
        _this: Resource<udp::OutgoingDatagramStream>,
        _datagrams: Vec<udp::OutgoingDatagram>,
    ) -> SocketResult<u64> {
        fail()
    }

    fn subscribe(
        &mut self,
        _this: Resource<udp::OutgoingDatagramStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        Err(no_udp())
    }

    async fn drop(&mut self, _this: Resource<udp::OutgoingDatagramStream>) -> wasmtime::Result<()> {
        Err(no_udp())
    }
}
