//! The handshake check under arbitrary methods, HTTP versions and header sets, against a model
//! of RFC 6455 section 4.2.1 written here from the RFC, and tungstenite's accept key.
//!
//! Input: `[method, version, lines...]`, lines separated by `\n`. A line whose first byte is
//! below 0x10 is a value for one of the WebSocket headers (picked by that byte); any other line
//! is `name:value`. Headers http cannot represent are skipped.

use crate::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use crate::tungstenite::handshake::derive_accept_key;
use zocket::transport::handshake;

const NAMES: [&str; 8] = [
    "connection",
    "upgrade",
    "sec-websocket-version",
    "sec-websocket-key",
    "sec-websocket-protocol",
    "host",
    "origin",
    "sec-websocket-extensions",
];

/// Runs every check on one input; panics on a disagreement.
pub fn check(data: &[u8]) {
    let [method, version, ref lines @ ..] = *data else {
        return;
    };
    let method = match method % 5 {
        0 => Method::GET,
        1 => Method::POST,
        2 => Method::HEAD,
        3 => Method::CONNECT,
        _ => Method::OPTIONS,
    };
    let version = [
        Version::HTTP_09,
        Version::HTTP_10,
        Version::HTTP_11,
        Version::HTTP_2,
        Version::HTTP_3,
    ][usize::from(version % 5)];
    let mut headers = HeaderMap::new();
    for line in lines.split(|&byte| byte == b'\n') {
        let (name, value) = match line.split_first() {
            Some((&pick, value)) if pick < 0x10 => (NAMES[usize::from(pick) % NAMES.len()].as_bytes(), value),
            _ => match line.iter().position(|&byte| byte == b':') {
                Some(colon) => (&line[..colon], &line[colon + 1..]),
                None => continue,
            },
        };
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(name, value);
        }
    }

    let result = handshake::check_headers(&method, version, &headers);
    let expected = model(&method, version, &headers);
    match (&result, expected) {
        (Ok(accepted), Ok(())) => {
            let response = handshake::switching(accepted);
            assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
            let key = headers.get("sec-websocket-key").expect("accepted with a key");
            assert_eq!(
                response.headers()["sec-websocket-accept"].as_bytes(),
                derive_accept_key(key.as_bytes()).as_bytes(),
                "the accept key is tungstenite's"
            );
            if let Some(protocol) = response.headers().get("sec-websocket-protocol") {
                let offered = headers
                    .get_all("sec-websocket-protocol")
                    .iter()
                    .filter_map(|value| value.to_str().ok())
                    .flat_map(|value| value.split(','))
                    .any(|offer| offer.trim() == protocol);
                assert!(offered, "only an offered subprotocol is confirmed");
            }
        }
        (Err(refusal), Err(status)) => {
            assert_eq!(
                refusal.status, status,
                "{refusal:?} for {method} {version:?} {headers:?}"
            );
            let response = refusal.into_response();
            assert_eq!(response.status(), status);
            assert_eq!(
                response.headers().contains_key("sec-websocket-version"),
                status == StatusCode::UPGRADE_REQUIRED
            );
        }
        _ => panic!("check: {result:?}, RFC model: {expected:?}, for {method} {version:?} {headers:?}"),
    }
}

/// What section 4.2.1 (and 4.2.2 for the version) says of this request, checked in the order
/// the server reports it.
fn model(method: &Method, version: Version, headers: &HeaderMap) -> Result<(), StatusCode> {
    if method != Method::GET {
        return Err(StatusCode::METHOD_NOT_ALLOWED);
    }
    if version < Version::HTTP_11 {
        return Err(StatusCode::BAD_REQUEST);
    }
    let lists = |name: &str, token: &str| {
        headers
            .get_all(name)
            .iter()
            // A token list is visible ASCII (RFC 9110, section 5.6); anything else lists nothing.
            .filter(|value| {
                value
                    .as_bytes()
                    .iter()
                    .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
            })
            .filter_map(|value| std::str::from_utf8(value.as_bytes()).ok())
            .flat_map(|value| value.split(','))
            .any(|item| item.trim_matches([' ', '\t']).eq_ignore_ascii_case(token))
    };
    if !lists("connection", "upgrade") || !lists("upgrade", "websocket") {
        return Err(StatusCode::BAD_REQUEST);
    }
    let versions: Vec<_> = headers.get_all("sec-websocket-version").iter().collect();
    match versions[..] {
        [] => return Err(StatusCode::BAD_REQUEST),
        [version] if version == "13" => {}
        _ => return Err(StatusCode::UPGRADE_REQUIRED),
    }
    let keys: Vec<_> = headers.get_all("sec-websocket-key").iter().collect();
    match keys[..] {
        [key] if is_nonce(key.as_bytes()) => Ok(()),
        _ => Err(StatusCode::BAD_REQUEST),
    }
}

/// The base64 of 16 bytes, canonically: 22 characters of the alphabet, the last carrying only
/// two bits of data (so one of `AQgw`), then `==`.
fn is_nonce(key: &[u8]) -> bool {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    key.len() == 24
        && key[22..] == *b"=="
        && key[..22].iter().all(|byte| ALPHABET.contains(byte))
        && b"AQgw".contains(&key[21])
}
