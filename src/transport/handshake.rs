//! The opening handshake (RFC 6455, section 4.2): checking an upgrade request and answering it.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use base64::Engine;
use sha1::{Digest, Sha1};
use zocket_protocol::Codec;

/// What a valid upgrade request asked for.
#[derive(Debug)]
pub(crate) struct Accepted {
    accept: HeaderValue,
    /// The codec the client chose with its subprotocols.
    pub(crate) codec: Codec,
    protocol: Option<&'static str>,
}

/// Checks that `request` is a WebSocket upgrade this server can take; otherwise the status and
/// message to refuse it with.
pub(crate) fn check(request: &Request<Body>) -> Result<Accepted, (StatusCode, &'static str)> {
    let headers = request.headers();
    if request.method() != Method::GET {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            "A WebSocket upgrade must be a GET request",
        ));
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Err((StatusCode::BAD_REQUEST, "Connection header did not include 'upgrade'"));
    }
    if !has_token(headers, header::UPGRADE, "websocket") {
        return Err((StatusCode::BAD_REQUEST, "Upgrade header did not include 'websocket'"));
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
        return Err((StatusCode::BAD_REQUEST, "Sec-WebSocket-Version header must be '13'"));
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return Err((StatusCode::BAD_REQUEST, "Sec-WebSocket-Key header is missing"));
    };
    if request.extensions().get::<hyper::upgrade::OnUpgrade>().is_none() {
        return Err((StatusCode::UPGRADE_REQUIRED, "This connection cannot be upgraded"));
    }
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let codec = Codec::from_subprotocols(&offered);
    Ok(Accepted {
        accept: accept_key(key.as_bytes()),
        codec,
        protocol: codec.subprotocol(&offered),
    })
}

/// The `101 Switching Protocols` response.
pub(crate) fn switching(accepted: &Accepted) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accepted.accept.clone());
    if let Some(protocol) = accepted.protocol {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
    }
    response
}

/// Whether a comma-separated header holds `token`, in any case.
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

fn accept_key(key: &[u8]) -> HeaderValue {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let encoded = base64::engine::general_purpose::STANDARD.encode(sha1.finalize());
    HeaderValue::from_str(&encoded).expect("base64 is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_the_rfc_example() {
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    fn request(extra: &[(&str, &str)]) -> Request<Body> {
        let mut request = Request::get("/")
            .header("connection", "keep-alive, Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        request.body(Body::empty()).unwrap()
    }

    #[test]
    fn refuses_what_is_not_an_upgrade() {
        let mut post = request(&[]);
        *post.method_mut() = Method::POST;
        assert_eq!(check(&post).unwrap_err().0, StatusCode::METHOD_NOT_ALLOWED);
        let mut plain = request(&[]);
        plain.headers_mut().remove("upgrade");
        assert_eq!(check(&plain).unwrap_err().0, StatusCode::BAD_REQUEST);
        // No hyper upgrade state: not a real connection.
        assert_eq!(check(&request(&[])).unwrap_err().0, StatusCode::UPGRADE_REQUIRED);
    }

    #[test]
    fn msgpack_is_chosen_by_subprotocol_and_confirmed() {
        let offered = "foo, zocket.v1.msgpack";
        assert_eq!(Codec::from_subprotocols(offered), Codec::MsgPack);
        assert_eq!(Codec::MsgPack.subprotocol(offered), Some("zocket.v1.msgpack"));
        assert_eq!(Codec::Json.subprotocol(offered), None);
    }
}
