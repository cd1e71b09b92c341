//! The HTTP side of a connection: headers, `on_connect`, and refusals before any upgrade.

use super::session;
use crate::call::Conn;
use crate::hub::{Outbox, Slot};
use crate::server::Shared;
use crate::transport::{Socket, handshake};
use crate::{ClientId, Outgoing, validate};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use futures_util::FutureExt;
use garde::Validate;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::{panic::AssertUnwindSafe, sync::Arc};

/// The axum handler of the WebSocket endpoint.
pub(crate) async fn upgrade<H, O, C>(State(shared): State<Arc<Shared<H, O, C>>>, mut request: Request) -> Response
where
    H: DeserializeOwned + Validate + Send + 'static,
    H::Context: Default,
    O: Outgoing,
    C: Send + Sync + 'static,
{
    let accepted = match handshake::check(&request) {
        Ok(accepted) => accepted,
        Err((status, message)) => return json_response(status, &json!({ "error": message })),
    };
    // Counts as a connection from here on, so a shutdown waits for this upgrade too; taken
    // before the check, so a shutdown cannot slip in between.
    let tracked = shared.lifecycle.connections.token();
    if shared.lifecycle.shutdown.is_cancelled() {
        return shutting_down();
    }
    let headers: H = match validate::value(&collect(request.headers(), request.uri().query())) {
        Ok(headers) => headers,
        Err(details) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({ "error": "Invalid headers", "details": details }),
            );
        }
    };
    let id = ClientId::random();
    let connecting = AssertUnwindSafe(async { (shared.on_connect)(headers, id.clone()).await }).catch_unwind();
    // A shutdown does not wait for a slow `on_connect`: it is dropped, no context was built,
    // so no `on_disconnect` is owed.
    let connected = tokio::select! {
        connected = connecting => connected,
        () = shared.lifecycle.shutdown.cancelled() => return shutting_down(),
    };
    let ctx = match connected {
        Ok(Ok(ctx)) => ctx,
        Ok(Err(reject)) => {
            let status = StatusCode::from_u16(reject.status).unwrap_or(StatusCode::UNAUTHORIZED);
            return json_response(status, &json!({ "error": reject.message }));
        }
        Err(_) => {
            tracing::error!("on_connect panicked");
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({ "error": "Internal server error" }),
            );
        }
    };
    let conn = Arc::new(Conn { id, ctx });
    if shared.lifecycle.shutdown.is_cancelled() {
        // Shutdown began while `on_connect` ran: refuse, and balance it with `on_disconnect`.
        session::farewell(&shared, &conn).await;
        return shutting_down();
    }
    // The client joins the hub before the 101 goes out, so a broadcast sent as soon as the
    // client sees the socket open reaches it; frames wait in its queue until the session runs.
    let codec = accepted.codec;
    let outbox = Arc::new(Outbox::new(shared.config.outbound_queue));
    shared.hub.register(conn.id.clone(), Slot::new(outbox.clone(), codec));
    // Up to twice the limit is read so the client gets a PAYLOAD_TOO_LARGE reply; past that the
    // socket refuses it (close 1009) without buffering it.
    let max = shared.config.max_message_size.saturating_mul(2);
    let upgrading = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match upgrading.await {
            Ok(upgraded) => {
                let socket = Box::new(Socket::new(TokioIo::new(upgraded), max));
                session::run(socket, codec, shared, conn, outbox).await;
            }
            Err(error) => {
                tracing::debug!(%error, client_id = %conn.id, "upgrade failed");
                session::farewell(&shared, &conn).await;
            }
        }
        drop(tracked);
    });
    handshake::switching(&accepted)
}

fn shutting_down() -> Response {
    json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({ "error": "Server is shutting down" }),
    )
}

/// The request's headers (names lower-case) overlaid with its query parameters, as a JSON
/// object of strings.
fn collect(headers: &HeaderMap, query: Option<&str>) -> Value {
    let mut map = Map::new();
    for (name, value) in headers {
        map.insert(
            name.as_str().to_owned(),
            Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        );
    }
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        map.insert(key.into_owned(), Value::String(value.into_owned()));
    }
    Value::Object(map)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_win_over_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("token", "from-header".parse().unwrap());
        headers.insert("X-Other", "kept".parse().unwrap());
        let value = collect(&headers, Some("token=from%20query&x-zocket-version=0.1.0"));
        assert_eq!(value["token"], "from query");
        assert_eq!(value["x-other"], "kept");
        assert_eq!(value["x-zocket-version"], "0.1.0");
    }
}
