//! [`Input`]: the call's payload, deserialized and validated before the handler runs.

use crate::typescript::Types;
use crate::{Call, CallError, FromInput, validate};
use garde::Validate;
use serde::de::DeserializeOwned;
use ts_rs::TS;
#[cfg(feature = "msgpack")]
use zocket_protocol::Codec;

/// The payload, deserialized into `T` and checked against its `garde` rules.
///
/// `T` also implements [`TS`](trait@crate::TS), so the route's input type can be exported to
/// TypeScript clients (see [`typescript`](crate::typescript)).
///
/// A payload that fails gets `INVALID_INPUT` with one issue for every failing field; the handler
/// does not run. An absent payload is read as `null`.
///
/// ```
/// use serde::Deserialize;
/// use garde::Validate;
/// use zocket::{Input, TS};
///
/// #[derive(Deserialize, Validate, TS)]
/// struct Message {
///     #[garde(length(chars, min = 1, max = 500))]
///     text: String,
/// }
///
/// async fn post(Input(message): Input<Message>) -> usize {
///     message.text.chars().count()
/// }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Input<T>(pub T);

impl<O, C, S, T> FromInput<O, C, S> for Input<T>
where
    C: Send + Sync,
    S: Send + Sync,
    T: DeserializeOwned + Validate + TS + Send + 'static,
    T::Context: Default,
{
    fn describe_input(types: &mut Types) -> Option<String> {
        Some(types.named::<T>())
    }

    async fn from_input(_call: &Call<O, C, S>, payload: Option<&[u8]>) -> Result<Self, CallError> {
        validate::payload(payload).map(Input).map_err(CallError::invalid_input)
    }

    /// A MessagePack payload that fits `T` and passes its rules is read without converting it
    /// to JSON first; any other takes the JSON path, which names every failing field.
    async fn from_payload(call: &Call<O, C, S>) -> Result<Self, CallError> {
        #[cfg(feature = "msgpack")]
        if call.codec() == Codec::MsgPack {
            if let Some(value) = call.payload().and_then(validate::msgpack_payload::<T>) {
                return Ok(Input(value));
            }
        }
        let payload = call.json_payload()?;
        Self::from_input(call, payload.as_deref()).await
    }
}
