//! `wasi:sockets/ip-name-lookup`: the simulation's resolver. Names are answered at
//! once (no resolver latency is modelled), so the stream is always ready.

use std::net::IpAddr;

use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{
    Host, HostResolveAddressStream, ResolveAddressStream,
};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddress, Network};
use wasmtime_wasi::p2::{DynPollable, Pollable, SocketError};

use super::wit_error;
use crate::host::SimSocketsView;
use crate::world::lock;
use simnet_core::{Effect, Method};

pub(crate) struct SimResolveStream {
    addrs: std::vec::IntoIter<IpAddr>,
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for SimResolveStream {
    async fn ready(&mut self) {}
}

fn mine(r: &Resource<ResolveAddressStream>) -> Resource<SimResolveStream> {
    Resource::new_borrow(r.rep())
}

impl Host for SimSocketsView<'_> {
    fn resolve_addresses(
        &mut self,
        network: Resource<Network>,
        name: String,
    ) -> Result<Resource<ResolveAddressStream>, SocketError> {
        self.check_network(&network)?;
        if !self.ctx.caps.ip_name_lookup {
            return Err(ErrorCode::PermanentResolverFailure.into());
        }
        let mut w = lock(&self.ctx.world);
        let method = Method::ResolveAddresses;
        if let Some(Effect::Error(code)) = w.inject(self.ctx.host, None, method) {
            return Err(wit_error(code).into());
        }
        let result = w.net.resolve(&name);
        if let Err(code) = result {
            w.net.record_api_error(method, code);
        }
        drop(w);
        let addrs = result.map_err(wit_error)?;
        let r = self.table.push(SimResolveStream {
            addrs: addrs.into_iter(),
        })?;
        Ok(Resource::new_own(r.rep()))
    }
}

impl HostResolveAddressStream for SimSocketsView<'_> {
    fn resolve_next_address(
        &mut self,
        this: Resource<ResolveAddressStream>,
    ) -> Result<Option<IpAddress>, SocketError> {
        let stream = self.table.get_mut(&mine(&this))?;
        Ok(stream.addrs.next().map(Into::into))
    }

    fn subscribe(
        &mut self,
        this: Resource<ResolveAddressStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi_io::poll::subscribe(self.table, mine(&this))
    }

    fn drop(&mut self, this: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        self.table
            .delete(Resource::<SimResolveStream>::new_own(this.rep()))?;
        Ok(())
    }
}
