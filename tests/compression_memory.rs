//! What permessage-deflate costs an idle connection, measured: the heap still held by 200
//! server sockets after each has received one compressed message and sent one, against the
//! same sockets without compression. Run with `--nocapture` to see the numbers.

#[path = "support/heap.rs"]
mod heap;

use heap::live;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use zocket::transport::{Agreed, Incoming, RawSocket};

const CONNECTIONS: usize = 200;

/// A client's compressed text frame (masked with a zero key) carrying `payload`.
fn compressed_frame(payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut out = vec![0xC1, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    out.extend_from_slice(payload);
    out
}

/// Heap bytes held per idle connection after one message each way, with `agreed` (or none).
async fn held_per_connection(agreed: Option<Agreed>) -> isize {
    let message = br#"{"type":"chat","payload":{"text":"hello hello hello hello hello"}}"#;
    let mut compressor = miniz_oxide::deflate::core::CompressorOxide::new(
        miniz_oxide::deflate::core::create_comp_flags_from_zip_params(6, -15, 0),
    );
    let mut compressed = vec![0; 256];
    let result =
        miniz_oxide::deflate::stream::deflate(&mut compressor, message, &mut compressed, miniz_oxide::MZFlush::Sync);
    compressed.truncate(result.bytes_written - 4);
    let frame = if agreed.is_some() {
        compressed_frame(&compressed)
    } else {
        let mut plain = vec![0x81, 0x80 | message.len() as u8, 0, 0, 0, 0];
        plain.extend_from_slice(message);
        plain
    };
    let reply = bytes::Bytes::from(message.repeat(4));
    let mut kept: Vec<(RawSocket<DuplexStream>, DuplexStream)> = Vec::with_capacity(CONNECTIONS + 1);
    let mut before = 0;
    for i in 0..=CONNECTIONS {
        let (mut client, server) = duplex(4096);
        let mut socket = RawSocket::new(server, 1 << 20);
        if let Some(agreed) = agreed {
            socket.set_compression(agreed);
        }
        client.write_all(&frame).await.unwrap();
        let Incoming::Text(text) = socket.read().await.unwrap() else {
            panic!("a text message")
        };
        assert_eq!(&text[..], message);
        drop(text);
        socket.send(false, &reply).await.unwrap();
        let mut head = [0; 2];
        client.read_exact(&mut head).await.unwrap();
        assert_eq!(head[0] & 0x40 != 0, agreed.is_some(), "compressed if agreed");
        let mut rest = vec![0; usize::from(head[1] & 0x7f)];
        client.read_exact(&mut rest).await.unwrap();
        kept.push((socket, client));
        if i == 0 {
            // The first connection made the thread's compressor and decompressor (shared by
            // every connection of a worker thread): counted from here on.
            before = live();
        }
    }
    let after = live();
    drop(kept);
    (after - before) / CONNECTIONS as isize
}

#[tokio::test(flavor = "current_thread")]
async fn an_idle_connection_holds_no_compression_state_without_context_takeover() {
    let off = held_per_connection(None).await;
    let no_context = held_per_connection(Some(Agreed {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: None,
        threshold: 0,
    }))
    .await;
    let takeover = held_per_connection(Some(Agreed {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: None,
        threshold: 0,
    }))
    .await;
    println!(
        "heap per idle connection: off {off} B, no context takeover {no_context} B, context takeover {takeover} B \
         (the duplex pipe and the client's side included in each)"
    );
    // Only the boxed settings.
    assert!(
        no_context - off < 4 * 1024,
        "no context takeover: {no_context} vs {off}"
    );
    // A compressor (dictionary, hash chains, Huffman tables) and a decompressor (its window).
    assert!(
        takeover - off > 100 * 1024,
        "context takeover keeps its state: {takeover}"
    );
    assert!(takeover - off < 512 * 1024, "bounded: {takeover}");
}
