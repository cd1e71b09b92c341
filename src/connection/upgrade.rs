//! The HTTP side of a connection: the handshake, the Origin allow-list, the connection limit,
//! headers, `on_connect`, and refusals (as JSON, counted and logged once) before any upgrade.

use super::Shared;
use super::admit::{Admitted, Opening, Start, reserve};
use super::resume;
use crate::metrics::{self, Refusal};
use crate::transport::handshake;
use crate::{Outgoing, validate};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use garde::Validate;
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
    let mut accepted = match handshake::check(&request) {
        Ok(accepted) => accepted,
        Err(refusal) => {
            metrics::refused(Refusal::Handshake, Some(refusal.status.as_u16()));
            return refusal.into_response();
        }
    };
    if !origin_allowed(&shared.config, request.headers()) {
        let body = json!({ "error": "Origin not allowed" });
        return refuse(Refusal::Origin, StatusCode::FORBIDDEN, &body);
    }
    accepted.negotiate_compression(request.headers(), shared.config.compression.as_ref());
    let compression = accepted.compression();
    let mut collected = collect(request.headers(), request.uri().query());
    // With resume on, `__session` and `__seq` are the server's, not the app's.
    let resuming = shared
        .sessions
        .as_ref()
        .and_then(|_| resume::Request::take(&mut collected));
    let admitting = async {
        if let Some(resuming) = resuming.filter(|_| !shared.lifecycle.shutdown.is_cancelled()) {
            if let Some(resumed) = resume::claim(&shared, &resuming, accepted.codec()).await {
                if let Some(admitted) = Admitted::resumed(&shared, resumed, accepted.codec()) {
                    return Ok(Ok(admitted));
                }
            }
        }
        // A full server refuses before spending anything on validation or `on_connect`.
        let reservation = reserve(&shared)?;
        let headers: H = match validate::value(&collected) {
            Ok(headers) => headers,
            Err(details) => return Ok(Err(details)),
        };
        reservation.admit(&shared, headers, accepted.codec()).await.map(Ok)
    };
    let admitted = match admitting.await {
        Ok(Ok(admitted)) => admitted,
        Ok(Err(details)) => {
            let body = json!({ "error": "Invalid headers", "details": details });
            return refuse(Refusal::Headers, StatusCode::BAD_REQUEST, &body);
        }
        Err(refused) => {
            let reason = refused.reason();
            let reject = refused.into_reject();
            let status = StatusCode::from_u16(reject.status).unwrap_or(StatusCode::UNAUTHORIZED);
            return refuse(reason, status, &json!({ "error": reject.message }));
        }
    };
    let start = Start {
        admitted,
        shared,
        opening: Opening::Upgrade(hyper::upgrade::on(&mut request)),
        compression,
    };
    tokio::spawn(Box::new(start).run());
    handshake::switching(&accepted)
}

/// A refusal before the upgrade: counted, logged once (reason and status, no header values),
/// and answered with a JSON body.
fn refuse(reason: Refusal, status: StatusCode, body: &Value) -> Response {
    metrics::refused(reason, Some(status.as_u16()));
    json_response(status, body)
}

/// Whether the request's `Origin` (if it has one: clients other than browser pages need not
/// send it) is allowed. Several `Origin` headers are refused: a browser sends one.
fn origin_allowed(config: &crate::Config, headers: &HeaderMap) -> bool {
    let mut origins = headers.get_all(header::ORIGIN).iter();
    match (origins.next(), origins.next()) {
        (None, _) => true,
        (Some(origin), None) => config.origin_allowed(origin.as_bytes()),
        (Some(_), Some(_)) => false,
    }
}

/// What a query parameter named `name` (lower case) may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FromQuery {
    /// Supply the header, winning over a real one (browsers cannot set WebSocket headers).
    Supply,
    /// Supply the header only when the request has none: `authorization`, which browser clients
    /// can only pass this way, but which must never replace credentials the request carries.
    FillIn,
    /// Nothing: only the HTTP layer, the browser or a proxy supplies these, and a page on
    /// another site chooses the URL it opens, so a query `origin`, `cookie` or `sec-fetch-site`
    /// would let it pass an app's checks.
    Never,
}

fn from_query(name: &str) -> FromQuery {
    const NEVER: [&str; 5] = ["origin", "host", "cookie", "forwarded", "x-real-ip"];
    if name == "authorization" {
        FromQuery::FillIn
    } else if NEVER.contains(&name) || name.starts_with("sec-") || name.starts_with("x-forwarded-") {
        FromQuery::Never
    } else {
        FromQuery::Supply
    }
}

/// The request's headers (names lower-case) overlaid with its query parameters, as a JSON
/// object of strings, within what [`from_query`] allows.
fn collect(headers: &HeaderMap, query: Option<&str>) -> Value {
    let mut map = Map::new();
    for (name, value) in headers {
        map.insert(
            name.as_str().to_owned(),
            Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        );
    }
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let name = key.to_ascii_lowercase();
        let allowed = match from_query(&name) {
            FromQuery::Supply => true,
            FromQuery::FillIn => !map.contains_key(&name),
            FromQuery::Never => false,
        };
        if !allowed {
            tracing::debug!(parameter = %name, "query parameter ignored: it names a trusted header");
            continue;
        }
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

    #[test]
    fn query_parameters_never_stand_in_for_trusted_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("origin", "https://app.example".parse().unwrap());
        headers.insert("authorization", "Bearer real".parse().unwrap());
        let query = "origin=https://evil.example&ORIGIN=x&Host=h&cookie=c&authorization=a&sec-fetch-site=same-origin\
                     &forwarded=f&x-forwarded-for=1.2.3.4&X-Real-IP=5.6.7.8&token=t&clientVersion=2";
        let value = collect(&headers, Some(query));
        let object = value.as_object().unwrap();
        assert_eq!(value["origin"], "https://app.example", "the real header stays");
        assert_eq!(
            value["authorization"], "Bearer real",
            "real credentials are never replaced"
        );
        for name in [
            "ORIGIN",
            "Host",
            "host",
            "cookie",
            "sec-fetch-site",
            "forwarded",
            "x-forwarded-for",
            "X-Real-IP",
        ] {
            assert!(!object.contains_key(name), "{name} came from the query");
        }
        assert_eq!(value["token"], "t", "application headers still come from the query");
        assert_eq!(value["clientVersion"], "2", "with their own spelling");
        let value = collect(&HeaderMap::new(), Some("authorization=Bearer%20q"));
        assert_eq!(
            value["authorization"], "Bearer q",
            "a browser client passes credentials this way"
        );
    }
}
