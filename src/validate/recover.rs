//! TEMPORARY stub, replaced by the recovering deserializer.
use serde::de::DeserializeOwned;
use zocket_protocol::{Issue, PathSegment};
pub(crate) fn from_value<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, Vec<Issue>> {
    serde_json::from_value(value.clone()).map_err(|e| vec![Issue::new(Vec::<PathSegment>::new(), e.to_string())])
}
