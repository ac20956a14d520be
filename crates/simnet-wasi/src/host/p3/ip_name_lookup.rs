//! `wasi:sockets/ip-name-lookup@0.3`: the simulation's resolver, answering at once.

use wasmtime::component::Accessor;
use wasmtime_wasi::p3::bindings::sockets::ip_name_lookup::{
    ErrorCode, Host, HostWithStore, IpAddress,
};

use super::SimSocketsP3;
use crate::host::SimSocketsView;
use crate::world::lock;
use simnet_core::{Effect, ErrorCode as CoreError, Method};

impl Host for SimSocketsView<'_> {}

fn lookup_error(e: CoreError) -> ErrorCode {
    match e {
        CoreError::AccessDenied => ErrorCode::AccessDenied,
        CoreError::InvalidArgument => ErrorCode::InvalidArgument,
        CoreError::NameUnresolvable => ErrorCode::NameUnresolvable,
        CoreError::TemporaryResolverFailure => ErrorCode::TemporaryResolverFailure,
        CoreError::PermanentResolverFailure => ErrorCode::PermanentResolverFailure,
        _ => ErrorCode::Other(None),
    }
}

impl<T> HostWithStore<T> for SimSocketsP3 {
    async fn resolve_addresses(
        store: &Accessor<T, Self>,
        name: String,
    ) -> wasmtime::Result<Result<Vec<IpAddress>, ErrorCode>> {
        Ok(store.with(|mut s| {
            let view = s.get();
            if !view.ctx.caps.ip_name_lookup {
                return Err(ErrorCode::PermanentResolverFailure);
            }
            let mut w = lock(&view.ctx.world);
            let method = Method::ResolveAddresses;
            if let Some(Effect::Error(code)) = w.inject(view.ctx.host, None, method) {
                return Err(lookup_error(code));
            }
            let result = w.net.resolve(&name);
            if let Err(code) = result {
                w.net.record_api_error(method, code);
            }
            result
                .map(|addrs| addrs.into_iter().map(Into::into).collect())
                .map_err(lookup_error)
        }))
    }
}
