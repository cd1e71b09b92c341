//! [`Call`]: a call on its way, with its timeout.

use crate::client::{Outbound, Reply};
use crate::{ClientError, wire};
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::fmt;
use std::future::IntoFuture;
use std::marker::PhantomData;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use zocket_protocol::Codec;

/// A call: `.await` it for the reply `T`. Nothing is sent before it is awaited.
///
/// ```no_run
/// # use std::time::Duration;
/// # async fn run(client: zocket_client::Client) -> Result<(), zocket_client::ClientError> {
/// let reply = client
///     .call_route("slow.echo", serde_json::json!({"text": "hi", "delayMs": 50}))
///     .timeout(Duration::from_secs(1))
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a call does nothing until it is awaited"]
pub struct Call<T> {
    outbox: mpsc::Sender<Outbound>,
    codec: Codec,
    route: Cow<'static, str>,
    id: u64,
    frame: Result<Vec<u8>, ClientError>,
    timeout: Duration,
    reply: PhantomData<fn() -> T>,
}

impl<T> Call<T> {
    pub(crate) fn new(
        outbox: mpsc::Sender<Outbound>,
        codec: Codec,
        route: Cow<'static, str>,
        id: u64,
        frame: Result<Vec<u8>, ClientError>,
        timeout: Duration,
    ) -> Self {
        Self {
            outbox,
            codec,
            route,
            id,
            frame,
            timeout,
            reply: PhantomData,
        }
    }

    /// This call's timeout, instead of the client's default: counted from when it is
    /// awaited, waiting in the outbox included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl<T> fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("route", &self.route)
            .field("id", &self.id)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned + Send + 'static> IntoFuture for Call<T> {
    type Output = Result<T, ClientError>;
    type IntoFuture = BoxFuture<'static, Result<T, ClientError>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let frame = self.frame?;
            let (tx, rx) = oneshot::channel::<Reply>();
            self.outbox
                .try_send(Outbound {
                    frame,
                    call: Some((self.id, tx)),
                })
                .map_err(|error| match error {
                    mpsc::error::TrySendError::Full(_) => ClientError::OutboxFull,
                    mpsc::error::TrySendError::Closed(_) => ClientError::Closed,
                })?;
            let payload = match tokio::time::timeout(self.timeout, rx).await {
                Err(_) => return Err(ClientError::TimedOut(self.timeout)),
                // The connection task is gone, and with it the client.
                Ok(Err(_)) => return Err(ClientError::Closed),
                Ok(Ok(reply)) => reply?,
            };
            wire::read(self.codec, payload.as_deref()).map_err(|message| ClientError::Decode {
                route: self.route.into_owned(),
                message,
            })
        })
    }
}
