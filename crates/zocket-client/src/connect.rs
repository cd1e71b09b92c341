//! Opening one connection: the request (URL query and HTTP headers, subprotocol), TLS, the
//! handshake within its timeout, and a refusal read back as the server's status and message.

use crate::ClientError;
use crate::builder::Config;
use crate::deflate::{self, Deflating};
use rustls::pki_types::ServerName;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::header::{
    HeaderName, HeaderValue, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_PROTOCOL,
};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite};
use zocket_protocol::Codec;

/// One open connection: TLS if `wss://`, permessage-deflate if asked for and agreed, and
/// tungstenite's WebSocket on top.
pub(crate) type Socket = WebSocketStream<Deflating<MaybeTlsStream<TcpStream>>>;

/// The TLS settings of `wss://` connections.
pub(crate) type Tls = Arc<rustls::ClientConfig>;

/// The TLS settings for `wss://` URLs: the public roots plus the configured ones, with the
/// `ring` provider (so that which providers other crates enable does not matter).
pub(crate) fn tls(config: &Config) -> Result<Option<Tls>, ClientError> {
    if !config.url.starts_with("wss:") {
        return Ok(None);
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in &config.root_certificates {
        roots
            .add(der.clone().into())
            .map_err(|e| ClientError::Encode(format!("root certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Encode(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(Arc::new(tls)))
}

/// A session to take over: the token the server sent last, and the highest `seq` received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resume {
    pub(crate) token: String,
    pub(crate) last_seq: u64,
}

/// The upgrade request: the URL with the headers in its query (unless turned off), the same
/// headers as HTTP headers, and the MessagePack subprotocol if asked for. `resume` adds
/// `__session` and `__seq` to the query (always there, as the server reads them).
pub(crate) fn request(config: &Config, resume: Option<&Resume>) -> Result<Request, ClientError> {
    let headers = config.headers.as_ref().map_err(|e| ClientError::Encode(e.clone()))?;
    let mut url = config.url.clone();
    let in_query = if config.headers_in_query { &headers[..] } else { &[] };
    if !in_query.is_empty() || resume.is_some() {
        let fragment = url.find('#').map(|at| url.split_off(at));
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in in_query {
            query.append_pair(name, value);
        }
        if let Some(resume) = resume {
            query.append_pair("__session", &resume.token);
            query.append_pair("__seq", &resume.last_seq.to_string());
        }
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query.finish());
        url.extend(fragment);
    }
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| ClientError::Connection(format!("{}: {e}", config.url)))?;
    for (name, value) in headers {
        // A name or value HTTP cannot carry still goes in the query.
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            request.headers_mut().append(name, value);
        }
    }
    if config.codec == Codec::MsgPack {
        request.headers_mut().insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(Codec::MSGPACK_SUBPROTOCOL),
        );
    }
    if config.compression {
        request
            .headers_mut()
            .insert(SEC_WEBSOCKET_EXTENSIONS, HeaderValue::from_static(deflate::OFFER));
    }
    Ok(request)
}

/// Makes one connection attempt.
pub(crate) async fn open(config: &Config, tls: Option<Tls>, resume: Option<&Resume>) -> Result<Socket, ClientError> {
    let request = request(config, resume)?;
    let limits = WebSocketConfig::default()
        .max_message_size(Some(config.max_message_size))
        .max_frame_size(Some(config.max_message_size))
        // Writes are awaited one batch at a time: this only bounds a stalled flush.
        .max_write_buffer_size(config.max_message_size.saturating_mul(2));
    let attempt = async {
        let stream = connect(&request, tls).await?;
        let stream = Deflating::new(stream, config.compression, config.max_message_size);
        tokio_tungstenite::client_async_with_config(request, stream, Some(limits))
            .await
            .map_err(|error| match error {
                tungstenite::Error::Http(response) => {
                    let status = response.status().as_u16();
                    let body = response.body().as_deref().unwrap_or_default();
                    ClientError::Refused {
                        status,
                        message: refusal_message(body),
                    }
                }
                error => ClientError::Connection(error.to_string()),
            })
    };
    let (socket, response) = match tokio::time::timeout(config.connect_timeout, attempt).await {
        Err(_) => {
            return Err(ClientError::Connection(format!(
                "not connected within {:?}",
                config.connect_timeout
            )));
        }
        Ok(result) => result?,
    };
    if config.codec == Codec::MsgPack {
        let chosen = response.headers().get(SEC_WEBSOCKET_PROTOCOL);
        if chosen.and_then(|v| v.to_str().ok()) != Some(Codec::MSGPACK_SUBPROTOCOL) {
            return Err(ClientError::Connection(
                "the server did not accept the zocket.v1.msgpack subprotocol".into(),
            ));
        }
    }
    Ok(socket)
}

/// The TCP connection to the request's host, and TLS over it for `wss://`.
async fn connect(request: &Request, tls: Option<Tls>) -> Result<MaybeTlsStream<TcpStream>, ClientError> {
    let uri = request.uri();
    let failed = |error: std::io::Error| ClientError::Connection(format!("{uri}: {error}"));
    let host = uri.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(if tls.is_some() { 443 } else { 80 });
    let tcp = TcpStream::connect((host, port)).await.map_err(failed)?;
    tcp.set_nodelay(true).map_err(failed)?;
    let Some(tls) = tls else {
        return Ok(MaybeTlsStream::Plain(tcp));
    };
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| ClientError::Connection(format!("{uri}: not a TLS server name: {e}")))?;
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(failed)?;
    Ok(MaybeTlsStream::Rustls(stream))
}

/// The `error` of a refusal's JSON body (`{"error": "User is banned"}`), or the body as text.
fn refusal_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Refusal {
        error: String,
    }
    match serde_json::from_slice::<Refusal>(body) {
        Ok(refusal) => refusal.error,
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}

/// Whether a refusal would come again with the same request: bad headers, an unauthorized or
/// forbidden client. Reconnecting stops there.
pub(crate) fn is_permanent(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Refused {
            status: 400 | 401 | 403 | 404,
            ..
        } | ClientError::Encode(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Backoff, Heartbeat};
    use std::time::Duration;

    fn config(url: &str, headers: Vec<(&str, &str)>) -> Config {
        Config {
            url: url.into(),
            headers: Ok(headers.into_iter().map(|(a, b)| (a.into(), b.into())).collect()),
            headers_in_query: true,
            codec: Codec::MsgPack,
            call_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            write_timeout: Duration::from_secs(1),
            reconnect: Some(Backoff::default()),
            heartbeat: Some(Heartbeat::default()),
            outbox: 1,
            max_in_flight: 1,
            event_buffer: 1,
            max_message_size: 1 << 20,
            root_certificates: vec![],
            resume: true,
            compression: true,
        }
    }

    #[test]
    fn headers_go_in_the_query_and_as_http_headers() {
        let config = config(
            "ws://127.0.0.1:9/ws?x=1#top",
            vec![("token", "a b&c"), ("client-version", "2")],
        );
        let request = request(&config, None).unwrap();
        assert_eq!(request.uri().query(), Some("x=1&token=a+b%26c&client-version=2"));
        assert_eq!(request.headers()["token"], "a b&c");
        assert_eq!(request.headers()["client-version"], "2");
        assert_eq!(request.headers()[SEC_WEBSOCKET_PROTOCOL], "zocket.v1.msgpack");
        let mut quiet = config.clone();
        quiet.headers_in_query = false;
        assert_eq!(request_query(&quiet, None), Some("x=1".into()));
    }

    #[test]
    fn a_resume_adds_the_token_and_last_seq_to_the_query_only() {
        let resume = Resume {
            token: "a-b_c".into(),
            last_seq: 17,
        };
        let config = config("ws://127.0.0.1:9/ws#top", vec![("token", "x")]);
        assert_eq!(
            request_query(&config, Some(&resume)),
            Some("token=x&__session=a-b_c&__seq=17".into())
        );
        let request = request(&config, Some(&resume)).unwrap();
        assert!(request.headers().get("__session").is_none());
        let mut quiet = config.clone();
        quiet.headers_in_query = false;
        assert_eq!(
            request_query(&quiet, Some(&resume)),
            Some("__session=a-b_c&__seq=17".into())
        );
        assert_eq!(request_query(&quiet, None), None);
    }

    fn request_query(config: &Config, resume: Option<&Resume>) -> Option<String> {
        request(config, resume).unwrap().uri().query().map(str::to_owned)
    }

    #[test]
    fn refusals_read_the_servers_message() {
        assert_eq!(refusal_message(br#"{"error":"User is banned"}"#), "User is banned");
        assert_eq!(refusal_message(b"nope"), "nope");
        assert!(is_permanent(&ClientError::Refused {
            status: 401,
            message: String::new()
        }));
        assert!(!is_permanent(&ClientError::Refused {
            status: 503,
            message: String::new()
        }));
    }
}
