//! Turning untrusted JSON into typed, validated values, with every failing field reported.
//!
//! The fast path is a plain `serde_json` deserialization followed by the type's `garde` rules.
//! Only when deserialization fails does [`recover`] walk the value again to name every field
//! that does not fit, not just the first.

mod recover;

use garde::Validate;
use serde::de::DeserializeOwned;
use serde_json::Value;
use zocket_protocol::{Issue, PathSegment};

/// Deserializes and validates a raw JSON payload; `None` reads as `null`.
pub(crate) fn payload<T>(raw: Option<&[u8]>) -> Result<T, Vec<Issue>>
where
    T: DeserializeOwned + Validate,
    T::Context: Default,
{
    let raw = raw.unwrap_or(b"null");
    match serde_json::from_slice::<T>(raw) {
        Ok(value) => check(value),
        Err(error) => match serde_json::from_slice::<Value>(raw) {
            Ok(json) => value(&json),
            Err(_) => Err(vec![Issue::new(Vec::<PathSegment>::new(), error.to_string())]),
        },
    }
}

/// Deserializes and validates an already parsed JSON value (used for connection headers).
pub(crate) fn value<T>(json: &Value) -> Result<T, Vec<Issue>>
where
    T: DeserializeOwned + Validate,
    T::Context: Default,
{
    check(recover::from_value::<T>(json)?)
}

fn check<T>(value: T) -> Result<T, Vec<Issue>>
where
    T: Validate,
    T::Context: Default,
{
    match value.validate_with(&T::Context::default()) {
        Ok(()) => Ok(value),
        Err(report) => Err(report.iter().map(|(path, error)| issue(path, error)).collect()),
    }
}

fn issue(path: &garde::Path, error: &garde::Error) -> Issue {
    let path = path
        .__iter()
        .filter_map(|(kind, component)| match kind {
            garde::error::Kind::Key => Some(PathSegment::Key(component.to_string())),
            garde::error::Kind::Index => component.parse().ok().map(PathSegment::Index),
            garde::error::Kind::None => None,
        })
        .collect();
    Issue {
        path,
        message: error.message().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Validate)]
    struct Message {
        #[garde(length(chars, min = 1, max = 5))]
        text: String,
        #[garde(dive)]
        tags: Vec<Tag>,
    }

    #[derive(Debug, Deserialize, Validate)]
    struct Tag {
        #[garde(length(min = 2))]
        name: String,
    }

    fn paths(issues: &[Issue]) -> Vec<String> {
        issues.iter().map(|i| serde_json::to_string(&i.path).unwrap()).collect()
    }

    #[test]
    fn valid_payloads_pass() {
        let m: Message = payload(Some(br#"{"text":"hi","tags":[{"name":"ok"}]}"#)).unwrap();
        assert_eq!(m.text, "hi");
    }

    #[test]
    fn rule_failures_name_every_field_with_paths() {
        let issues = payload::<Message>(Some(br#"{"text":"","tags":[{"name":"ok"},{"name":"x"}]}"#)).unwrap_err();
        assert_eq!(paths(&issues), [r#"["tags",1,"name"]"#, r#"["text"]"#]);
    }

    #[test]
    fn absent_payload_reads_as_null() {
        let issues = payload::<Message>(None).unwrap_err();
        assert_eq!(issues.len(), 1);
        assert!(issues[0].path.is_empty());
    }
}
