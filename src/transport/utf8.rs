//! [`Utf8`]: UTF-8 validation of a text message as its bytes arrive, so that an invalid
//! sequence fails the connection at once (RFC 6455, section 8.1), not once the whole message,
//! or even the whole frame, is in.

/// The validation state of one text message: the bytes of a character cut by the end of what
/// has arrived so far (at most three), waiting for the rest.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Utf8 {
    pending: [u8; 4],
    len: u8,
}

/// An invalid UTF-8 sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid;

impl Utf8 {
    /// Checks the next bytes of the message: an error as soon as they cannot be the start of
    /// valid UTF-8 (a character cut by the end of `bytes` is fine, and kept for the next call).
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Invalid> {
        if self.len > 0 {
            // Complete the character cut by the last call, byte by byte (at most 3 more).
            let width = width(self.pending[0]);
            let mut len = usize::from(self.len);
            while len < width {
                let Some((&byte, rest)) = bytes.split_first() else {
                    break;
                };
                self.pending[len] = byte;
                len += 1;
                bytes = rest;
            }
            self.len = len as u8;
            match std::str::from_utf8(&self.pending[..len]) {
                Ok(_) => self.len = 0,
                // Still cut: `bytes` ran out (std has checked that what is there can start a
                // character, surrogates and overlong forms included).
                Err(error) if error.error_len().is_none() => return Ok(()),
                Err(_) => return Err(Invalid),
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(error) if error.error_len().is_none() => {
                let rest = &bytes[error.valid_up_to()..];
                self.pending[..rest.len()].copy_from_slice(rest);
                self.len = rest.len() as u8;
                Ok(())
            }
            Err(_) => Err(Invalid),
        }
    }

    /// Whether the message may end here: no character is left cut.
    pub(crate) fn is_complete(&self) -> bool {
        self.len == 0
    }
}

/// The length of the character a lead byte starts (one that std accepted as a valid start).
fn width(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` cut at every position into one, two and three pieces.
    fn every_split(bytes: &[u8]) -> Vec<Result<bool, Invalid>> {
        let mut results = Vec::new();
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let mut utf8 = Utf8::default();
                let result = [&bytes[..i], &bytes[i..j], &bytes[j..]]
                    .into_iter()
                    .try_for_each(|piece| utf8.feed(piece))
                    .map(|()| utf8.is_complete());
                results.push(result);
            }
        }
        results
    }

    #[test]
    fn agrees_with_std_however_the_bytes_are_cut() {
        let samples: [&[u8]; 10] = [
            "κόσμε".as_bytes(),
            "a€𝄞b".as_bytes(),
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            b"\xf4\x90\x80\x80",
            b"\xc0\xaf",
            b"\xe0\x80\xaf",
            b"\xf0\x9f\x98",
            b"\x80",
            b"ok\xff",
            b"",
        ];
        for sample in samples {
            let valid = std::str::from_utf8(sample).is_ok();
            for result in every_split(sample) {
                assert_eq!(result.unwrap_or(false), valid, "{sample:x?}");
            }
        }
    }

    #[test]
    fn fails_at_the_first_impossible_byte() {
        // A surrogate's second byte is refused before its third arrives.
        let mut utf8 = Utf8::default();
        utf8.feed(b"ok \xed").unwrap();
        assert_eq!(utf8.feed(b"\xa0"), Err(Invalid));
        // A four-byte sequence is still possible after its first two bytes, then not.
        let mut utf8 = Utf8::default();
        utf8.feed(b"\xf0").unwrap();
        utf8.feed(b"\x9f").unwrap();
        assert!(!utf8.is_complete());
        assert_eq!(utf8.feed(b"A"), Err(Invalid));
    }
}
