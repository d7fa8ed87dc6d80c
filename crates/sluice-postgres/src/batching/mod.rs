//! A read sent as one batch under one `Sync`.
//!
//! tokio-postgres ends every request with `Sync`, so a read sent as four requests
//! (`BEGIN READ ONLY`, the catalog check, the statement, `ROLLBACK`) in one round trip
//! still costs PostgreSQL four `ReadyForQuery` answers, four flushes and four wake-ups
//! of the client's reader. [`Batching`] sits between tokio-postgres and the socket (above
//! TLS, where the protocol is in the clear): it holds back the `Sync` of every request of
//! a batch but the last, and splits PostgreSQL's one answer into what four requests
//! would have got, so tokio-postgres, its types and its errors stay as they are.
//!
//! A batch is exactly the requests between the execution of this connection's prepared
//! `BEGIN READ ONLY` and that of its prepared `ROLLBACK` ([`Bounds`]); each must be one
//! `Execute`, anything else in between breaks the connection rather than guess. Inside
//! one `Sync` PostgreSQL runs the messages in order, so the check still runs, and pins
//! the lexing settings, before the statement is parsed; on an error it skips the rest up
//! to the `Sync`: the statement after a failed check does not run, exactly as it does
//! not run in a failed transaction, and the requests skipped get `25P02`, as they would
//! have. A skipped `ROLLBACK` leaves the transaction open in its failed state: every
//! failed call is recovered (rolled back and reset) before its connection goes back to
//! the pool — an extra round trip only on error.
//!
//! The connection must be Sluice's own ([`crate::database::connections`]): one host,
//! opened here, TLS through [`BatchingTls`]. Behind a transaction pooler nothing is
//! prepared, so nothing is batched.

mod stream;

#[cfg(feature = "tls")]
use std::future::Future;
#[cfg(feature = "tls")]
use std::pin::Pin;
#[cfg(feature = "tls")]
use std::sync::Arc;

#[cfg(feature = "tls")]
use tokio_postgres::tls::TlsConnect;
use tokio_postgres::tls::{ChannelBinding, TlsStream};

pub(crate) use stream::{Batching, Bounds};

/// The prepared statements that open and close a batch on one connection.
#[derive(Clone)]
pub(crate) struct Batches {
    /// `BEGIN READ ONLY`.
    pub(crate) begin: tokio_postgres::Statement,
    /// `ROLLBACK`.
    pub(crate) end: tokio_postgres::Statement,
}

impl Batches {
    /// Prepares the statements on `client`, whose stream is a [`Batching`] with
    /// `bounds`, which learns their names. `None` when no stream learned them (none
    /// batches).
    pub(crate) async fn prepare(
        client: &tokio_postgres::Client,
        bounds: &Bounds,
    ) -> Result<Option<Self>, tokio_postgres::Error> {
        let (begin, end) =
            tokio::join!(client.prepare(stream::OPEN), client.prepare(stream::CLOSE));
        let (begin, end) = (begin?, end?);
        Ok(bounds.is_set().then_some(Batches { begin, end }))
    }
}

impl<S: TlsStream + Unpin> TlsStream for Batching<S> {
    fn channel_binding(&self) -> ChannelBinding {
        self.get_ref().channel_binding()
    }
}

/// A TLS connector whose streams batch: `T`'s TLS stream inside a [`Batching`].
#[cfg(feature = "tls")]
pub(crate) struct BatchingTls<T> {
    pub(crate) inner: T,
    pub(crate) bounds: Arc<Bounds>,
}

#[cfg(feature = "tls")]
impl<S, T> TlsConnect<S> for BatchingTls<T>
where
    T: TlsConnect<S>,
    T::Future: Send + 'static,
    T::Stream: Send + 'static,
{
    type Stream = Batching<T::Stream>;
    type Error = T::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Stream, T::Error>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let connecting = self.inner.connect(stream);
        let bounds = self.bounds;
        Box::pin(async move { Ok(Batching::new(connecting.await?, bounds)) })
    }
}
