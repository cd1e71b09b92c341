//! Session resume from the client's side: the URLs a client connects and resumes with, and
//! the `__session` frame every connection starts with.

use super::Client;
use std::net::SocketAddr;

pub fn url(addr: SocketAddr, query: &str) -> String {
    format!("ws://{addr}/?{query}")
}

/// The URL that resumes `token` for the client named `name`, which last saw event `seq`.
pub fn resume_url(addr: SocketAddr, name: &str, token: &str, seq: u64) -> String {
    url(addr, &format!("token={name}&__session={token}&__seq={seq}"))
}

/// Reads the `__session` frame every connection starts with: (token, resumed).
pub async fn session(client: &mut Client) -> (String, bool) {
    let frame = client.next_frame().await;
    assert_eq!(frame["type"], "__session", "the first frame is the session: {frame}");
    assert!(frame.get("seq").is_none(), "the session frame carries no seq: {frame}");
    let token = frame["payload"]["token"].as_str().expect("a token").to_owned();
    assert!(token.len() >= 22, "at least 128 bits: {token}");
    (token, frame["payload"]["resumed"].as_bool().expect("resumed"))
}
