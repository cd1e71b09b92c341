//! [`Input`]: the call's payload, deserialized and validated before the handler runs.

use crate::{Call, CallError, FromCall, validate};
use garde::Validate;
use serde::de::DeserializeOwned;

/// The payload, deserialized into `T` and checked against its `garde` rules.
///
/// A payload that fails gets `INVALID_INPUT` with one issue for every failing field; the handler
/// does not run. An absent payload is read as `null`.
///
/// ```
/// use serde::Deserialize;
/// use garde::Validate;
/// use zocket::Input;
///
/// #[derive(Deserialize, Validate)]
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

impl<C: Send + Sync, O, T> FromCall<C, O> for Input<T>
where
    T: DeserializeOwned + Validate + Send,
    T::Context: Default,
{
    const READS_INPUT: bool = true;

    async fn from_call(call: &Call<C, O>) -> Result<Self, CallError> {
        validate::payload(call.payload())
            .map(Input)
            .map_err(CallError::invalid_input)
    }
}
