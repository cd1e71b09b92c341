//! [`Compression`]: the permessage-deflate settings of a server (RFC 7692); the transport
//! (`transport/deflate.rs`) does the work; `docs/compression.md` explains it.

/// permessage-deflate settings of a server (RFC 7692), given to
/// [`Config::compression`](crate::Config::compression).
///
/// ```
/// use zocket::{Compression, Config};
/// // Messages of 512 bytes or more are compressed, each on its own (no context takeover).
/// let config = Config::default().compression(Some(Compression::default().threshold(512)));
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Compression {
    pub(crate) threshold: usize,
    pub(crate) no_context_takeover: bool,
}

impl Default for Compression {
    /// Messages of 256 bytes or more compressed, no context takeover.
    fn default() -> Self {
        Self {
            threshold: 256,
            no_context_takeover: true,
        }
    }
}

impl Compression {
    /// Messages shorter than this many bytes go out uncompressed (deflate's few bytes of
    /// overhead outweigh what it saves on them). Default 256.
    #[must_use]
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// `true` (the default): every offer is answered with `server_no_context_takeover` and
    /// `client_no_context_takeover`, so each message is compressed on its own. A connection
    /// then keeps no compression state between messages, and a message sent to many clients
    /// is compressed once for all of them. `false`: each connection keeps its compressor and
    /// decompressor (about 355 KiB) unless the client asks otherwise, which compresses a
    /// stream of small similar messages (chat) much better.
    #[must_use]
    pub fn no_context_takeover(mut self, no_context_takeover: bool) -> Self {
        self.no_context_takeover = no_context_takeover;
        self
    }
}
