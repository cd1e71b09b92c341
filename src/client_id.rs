//! [`ClientId`]: the unique, unguessable id the server gives each connection.

use serde::{Deserialize, Serialize};
use std::{borrow::Borrow, fmt, sync::Arc};

/// The id of one connection: 128 random bits as 32 lowercase hex digits. Cheap to clone.
///
/// It is also an extractor: a handler argument of type `ClientId` is the caller's id.
///
/// ```
/// use zocket::ClientId;
/// let a = ClientId::random();
/// assert_eq!(a.as_str().len(), 32);
/// assert_ne!(a, ClientId::random());
/// assert_eq!(ClientId::from("abc").as_str(), "abc");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(Arc<str>);

impl ClientId {
    /// A fresh random id from the operating system's generator.
    pub fn random() -> Self {
        let bits: u128 = rand::random();
        Self(format!("{bits:032x}").into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ClientId {
    fn from(id: &str) -> Self {
        Self(id.into())
    }
}

impl From<String> for ClientId {
    fn from(id: String) -> Self {
        Self(id.into())
    }
}

impl AsRef<str> for ClientId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for ClientId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({})", &self.0)
    }
}

/// A string in TypeScript, as on the wire.
impl ts_rs::TS for ClientId {
    type WithoutGenerics = Self;
    type OptionInnerType = Self;

    fn name(_: &ts_rs::Config) -> String {
        "string".to_owned()
    }

    fn inline(cfg: &ts_rs::Config) -> String {
        Self::name(cfg)
    }
}
