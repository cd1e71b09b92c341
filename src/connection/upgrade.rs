//! The HTTP side of a connection: headers, `on_connect`, and refusals before any upgrade.

use super::Shared;
use super::admit::{Refused, admit};
use crate::transport::handshake;
use crate::{Outgoing, validate};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use garde::Validate;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The axum handler of the WebSocket endpoint.
pub(crate) async fn upgrade<H, O, C, S>(State(shared): State<Arc<Shared<H, O, C, S>>>, mut request: Request) -> Response
where
    H: DeserializeOwned + Validate + Send + 'static,
    H::Context: Default,
    O: Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    let accepted = match handshake::check(&request) {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal.into_response(),
    };
    let headers: H = match validate::value(&collect(request.headers(), request.uri().query())) {
        Ok(headers) => headers,
        Err(details) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({ "error": "Invalid headers", "details": details }),
            );
        }
    };
    let admitted = match admit(&shared, headers, accepted.codec()).await {
        Ok(admitted) => admitted,
        Err(Refused::ShuttingDown) => return shutting_down(),
        Err(Refused::Rejected(reject)) => {
            let status = StatusCode::from_u16(reject.status).unwrap_or(StatusCode::UNAUTHORIZED);
            return json_response(status, &json!({ "error": reject.message }));
        }
        Err(Refused::Panicked) => {
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({ "error": "Internal server error" }),
            );
        }
    };
    let upgrading = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match upgrading.await {
            Ok(upgraded) => admitted.serve(shared, TokioIo::new(upgraded)).await,
            Err(error) => {
                tracing::debug!(%error, client_id = %admitted.conn.id, "upgrade failed");
                admitted.abandon(shared).await;
            }
        }
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
