// A FromCall extractor cannot read the payload: only FromInput types see it, so a route's
// reading of its input is decided by its handler's argument types, never by hand.
use zocket::{Call, CallError, FromCall};

struct Raw(usize);

impl<O, C: Send + Sync, S: Send + Sync> FromCall<O, C, S> for Raw {
    async fn from_call(call: &Call<O, C, S>) -> Result<Self, CallError> {
        Ok(Raw(call.payload().map_or(0, <[u8]>::len)))
    }
}

fn main() {}
