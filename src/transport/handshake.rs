//! The opening handshake (RFC 6455, section 4.2): checking an upgrade request and answering it.

use super::deflate::{self, Agreed};
use crate::Compression;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version, header};
use base64::Engine;
use sha1::{Digest, Sha1};
use zocket_protocol::Codec;

/// The only protocol version there is (section 4.4).
const VERSION: &str = "13";

/// What a valid upgrade request asked for.
#[derive(Debug)]
pub struct Accepted {
    accept: HeaderValue,
    codec: Codec,
    protocol: Option<&'static str>,
    compression: Option<Agreed>,
}

impl Accepted {
    /// The codec the client chose with its subprotocols.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Answers the client's permessage-deflate offers (`Sec-WebSocket-Extensions`, RFC 7692)
    /// if the server compresses (`config` is `Some`): the first acceptable offer is taken and
    /// [`switching`] confirms it; malformed offers are declined, never the connection.
    pub fn negotiate_compression(&mut self, headers: &HeaderMap, config: Option<&Compression>) {
        self.compression = config.and_then(|config| deflate::negotiate(headers, config));
    }

    /// What was agreed on permessage-deflate, if anything.
    pub fn compression(&self) -> Option<Agreed> {
        self.compression
    }
}

/// Why an upgrade request is refused: an HTTP status and a message, sent before any upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The response's status.
    pub status: StatusCode,
    /// What is wrong, for people (the JSON body's `error`).
    pub message: &'static str,
}

impl Refusal {
    const fn new(status: StatusCode, message: &'static str) -> Self {
        Self { status, message }
    }

    /// The response: `{"error": message}` as JSON with the status; a 426 for a version this
    /// server does not speak names the one it does in `Sec-WebSocket-Version` (section 4.2.2).
    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::json!({ "error": self.message }).to_string();
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if self.status == StatusCode::UPGRADE_REQUIRED {
            headers.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static(VERSION));
        }
        response
    }
}

/// Checks that `request` is a WebSocket upgrade this server can take: [`check_headers`], and
/// a connection hyper can upgrade.
pub fn check<B>(request: &Request<B>) -> Result<Accepted, Refusal> {
    let accepted = check_headers(request.method(), request.version(), request.headers())?;
    if request.extensions().get::<hyper::upgrade::OnUpgrade>().is_none() {
        return Err(Refusal::new(
            StatusCode::UPGRADE_REQUIRED,
            "This connection cannot be upgraded",
        ));
    }
    Ok(accepted)
}

/// Checks a request's method, HTTP version and headers against section 4.2.1: a GET of
/// HTTP/1.1 or later, `Connection: upgrade`, `Upgrade: websocket`, `Sec-WebSocket-Version: 13`
/// (426 otherwise) and a `Sec-WebSocket-Key` that is the base64 of 16 bytes, each header once.
pub fn check_headers(method: &Method, version: Version, headers: &HeaderMap) -> Result<Accepted, Refusal> {
    if method != Method::GET {
        return Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "A WebSocket upgrade must be a GET request",
        ));
    }
    if version < Version::HTTP_11 {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "A WebSocket upgrade needs HTTP/1.1 or later",
        ));
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "Connection header did not include 'upgrade'",
        ));
    }
    if !has_token(headers, header::UPGRADE, "websocket") {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "Upgrade header did not include 'websocket'",
        ));
    }
    match only(headers, header::SEC_WEBSOCKET_VERSION) {
        Only::One(version) if version.as_bytes() == VERSION.as_bytes() => {}
        Only::Missing => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "Sec-WebSocket-Version header is missing",
            ));
        }
        _ => {
            return Err(Refusal::new(
                StatusCode::UPGRADE_REQUIRED,
                "Sec-WebSocket-Version header must be '13'",
            ));
        }
    }
    let key = match only(headers, header::SEC_WEBSOCKET_KEY) {
        Only::One(key) if is_key(key.as_bytes()) => key,
        Only::Missing => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "Sec-WebSocket-Key header is missing",
            ));
        }
        _ => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "Sec-WebSocket-Key header must be the base64 of 16 bytes",
            ));
        }
    };
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
        compression: None,
    })
}

/// A header that may appear once.
enum Only<'a> {
    Missing,
    One(&'a HeaderValue),
    Several,
}

fn only(headers: &HeaderMap, name: header::HeaderName) -> Only<'_> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Only::Missing,
        (Some(value), None) => Only::One(value),
        _ => Only::Several,
    }
}

/// Whether `key` is the base64 (padded, as section 4.1 requires) of 16 bytes.
fn is_key(key: &[u8]) -> bool {
    let mut nonce = [0; 18];
    key.len() == 24 && base64::engine::general_purpose::STANDARD.decode_slice(key, &mut nonce) == Ok(16)
}

/// The `101 Switching Protocols` response.
pub fn switching(accepted: &Accepted) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accepted.accept.clone());
    if let Some(protocol) = accepted.protocol {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
    }
    if let Some(agreed) = &accepted.compression {
        headers.insert(header::SEC_WEBSOCKET_EXTENSIONS, agreed.header());
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
        assert_eq!(check(&post).unwrap_err().status, StatusCode::METHOD_NOT_ALLOWED);
        let mut plain = request(&[]);
        plain.headers_mut().remove("upgrade");
        assert_eq!(check(&plain).unwrap_err().status, StatusCode::BAD_REQUEST);
        let mut old = request(&[]);
        *old.version_mut() = Version::HTTP_10;
        assert_eq!(check(&old).unwrap_err().status, StatusCode::BAD_REQUEST);
        // No hyper upgrade state: not a real connection.
        assert_eq!(check(&request(&[])).unwrap_err().status, StatusCode::UPGRADE_REQUIRED);
    }

    fn check_parts(request: &Request<Body>) -> Result<Accepted, Refusal> {
        check_headers(request.method(), request.version(), request.headers())
    }

    #[test]
    fn a_version_other_than_13_gets_426_naming_13() {
        assert!(check_parts(&request(&[])).is_ok());
        for versions in [&["8"][..], &["13", "13"], &["13, 8"], &[""]] {
            let mut wrong = request(&[]);
            wrong.headers_mut().remove("sec-websocket-version");
            for version in versions {
                wrong
                    .headers_mut()
                    .append("sec-websocket-version", version.parse().unwrap());
            }
            let refusal = check_parts(&wrong).unwrap_err();
            assert_eq!(refusal.status, StatusCode::UPGRADE_REQUIRED, "{versions:?}");
            let response = refusal.into_response();
            assert_eq!(response.headers()["sec-websocket-version"], "13");
            assert_eq!(response.headers()["content-type"], "application/json");
        }
        let mut missing = request(&[]);
        missing.headers_mut().remove("sec-websocket-version");
        assert_eq!(check_parts(&missing).unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn the_key_must_be_the_base64_of_16_bytes() {
        for key in [
            "",
            "dGhlIHNhbXBsZSBub25jZQ",     // unpadded
            "dGhlIHNhbXBsZSBub25jZQ=",    // short padding
            "dGhlIHNhbXBsZSBub25j",       // 15 bytes
            "dGhlIHNhbXBsZSBub25jZSE=",   // 17 bytes
            "dGhlIHNhbXBsZSBub25jZR==",   // stray bits after the 16th byte
            "dGhlIHNhbXBsZSBub25jZQ==  ", // not trimmed by http
            "!!!!!!!!!!!!!!!!!!!!!!==",
        ] {
            let mut bad = request(&[]);
            bad.headers_mut().insert("sec-websocket-key", key.parse().unwrap());
            let refusal = check_parts(&bad).unwrap_err();
            assert_eq!(refusal.status, StatusCode::BAD_REQUEST, "{key:?}");
            assert!(refusal.message.contains("Sec-WebSocket-Key"), "{key:?}");
        }
        let twice = request(&[("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA==")]);
        assert_eq!(check_parts(&twice).unwrap_err().status, StatusCode::BAD_REQUEST);
        let zeros = {
            let mut r = request(&[]);
            r.headers_mut()
                .insert("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA==".parse().unwrap());
            r
        };
        assert!(check_parts(&zeros).is_ok());
    }

    #[test]
    fn msgpack_is_chosen_by_subprotocol_and_confirmed() {
        let offered = "foo, zocket.v1.msgpack";
        assert_eq!(Codec::from_subprotocols(offered), Codec::MsgPack);
        assert_eq!(Codec::MsgPack.subprotocol(offered), Some("zocket.v1.msgpack"));
        assert_eq!(Codec::Json.subprotocol(offered), None);
    }
}
