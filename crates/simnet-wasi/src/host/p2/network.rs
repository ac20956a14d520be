//! `wasi:sockets/network` and `instance-network`.

use wasmtime::component::Resource;
use wasmtime_wasi::p2::SocketError;
use wasmtime_wasi::p2::bindings::sockets::instance_network;
use wasmtime_wasi::p2::bindings::sockets::network::{self, ErrorCode, Network};

use crate::host::SimSocketsView;

/// The capability handle `instance-network` gives out. It carries nothing: a guest's
/// network is the simulation it runs in.
pub(crate) struct SimNetwork;

impl SimSocketsView<'_> {
    pub(crate) fn check_network(&self, n: &Resource<Network>) -> Result<(), SocketError> {
        self.table
            .get(&Resource::<SimNetwork>::new_borrow(n.rep()))?;
        Ok(())
    }
}

impl instance_network::Host for SimSocketsView<'_> {
    fn instance_network(&mut self) -> wasmtime::Result<Resource<Network>> {
        let r = self.table.push(SimNetwork)?;
        Ok(Resource::new_own(r.rep()))
    }
}

impl network::Host for SimSocketsView<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        error.downcast()
    }

    fn network_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        // As wasmtime-wasi 48: only an I/O error (a file stream's) carries a code.
        // Its TCP streams fail with its own error codes, which this function does not
        // recognise, so a guest gets none for them; simnet's streams (`SocketFailure`)
        // answer the same.
        let err = self.table.get(&err)?;
        Ok(err.downcast_ref::<std::io::Error>().map(ErrorCode::from))
    }
}

impl network::HostNetwork for SimSocketsView<'_> {
    fn drop(&mut self, this: Resource<Network>) -> wasmtime::Result<()> {
        self.table
            .delete(Resource::<SimNetwork>::new_own(this.rep()))?;
        Ok(())
    }
}
