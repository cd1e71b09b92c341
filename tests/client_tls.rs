//! The typed Rust client over `wss://`: rustls (the `ring` provider) against a TLS proxy in
//! front of the conformance binary, with a test certificate authority
//! (`tests/fixtures/tls`); and refused when the authority is not trusted.

#[path = "../examples/support/conformance_api.rs"]
mod api;
#[path = "support/process.rs"]
mod process;

use api::{Add, Out};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use zocket_client::{Client, ClientError, Codec};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");

/// Accepts TLS on a free loopback port and pipes each connection to `backend`.
async fn tls_proxy(backend: u16) -> u16 {
    let certs = CertificateDer::pem_file_iter(format!("{FIXTURES}/server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{FIXTURES}/server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(("127.0.0.1", backend)).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn typed_calls_over_wss_with_a_trusted_authority_only() {
    process::example("conformance");
    let test = async {
        let server = process::Server::start(0).await;
        let port = tls_proxy(server.port).await;
        let url = format!("wss://127.0.0.1:{port}/");
        let ca = std::fs::read(format!("{FIXTURES}/ca.der")).unwrap();
        for &codec in Codec::ALL {
            let client = Client::<Out>::connect(&url)
                .header("token", "secure")
                .root_certificate(ca.clone())
                .codec(codec)
                .await
                .unwrap();
            assert_eq!(client.call(Add { a: 40.0, b: 2.0 }).await.unwrap(), 42.0);
            client.close().await;
        }
        let untrusted = Client::<Out>::connect(&url)
            .header("token", "secure")
            .await
            .unwrap_err();
        assert!(
            matches!(&untrusted, ClientError::Connection(cause) if cause.contains("certificate")),
            "{untrusted}"
        );
    };
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("the test took too long");
}
