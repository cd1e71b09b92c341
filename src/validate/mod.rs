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
        Ok(value) => check(value, || serde_json::from_slice(raw).ok()),
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
    check(recover::from_value::<T>(json)?, || Some(json.clone()))
}

/// Runs the type's `garde` rules; `json` gives the payload as sent, to name fields as the
/// client spelled them.
fn check<T>(value: T, json: impl FnOnce() -> Option<Value>) -> Result<T, Vec<Issue>>
where
    T: Validate,
    T::Context: Default,
{
    match value.validate_with(&T::Context::default()) {
        Ok(()) => Ok(value),
        Err(report) => {
            let json = json();
            Err(report
                .iter()
                .map(|(path, error)| issue(path, error, json.as_ref()))
                .collect())
        }
    }
}

/// garde names fields as Rust does; the client knows them by their JSON names (serde's
/// `rename_all`). Each key is matched against the payload at that level, trying the usual
/// spellings where the Rust name is not a key there.
fn issue(path: &garde::Path, error: &garde::Error, json: Option<&Value>) -> Issue {
    let mut node = json;
    let mut segments = Vec::with_capacity(path.len());
    for (kind, component) in path.__iter().rev() {
        match kind {
            garde::error::Kind::Key => {
                let key = node
                    .and_then(Value::as_object)
                    .and_then(|object| json_key(object, component))
                    .unwrap_or_else(|| component.to_string());
                node = node.and_then(|value| value.get(&key));
                segments.push(PathSegment::Key(key));
            }
            garde::error::Kind::Index => {
                if let Ok(index) = component.parse::<usize>() {
                    node = node.and_then(|value| value.get(index));
                    segments.push(PathSegment::Index(index));
                }
            }
            garde::error::Kind::None => {}
        }
    }
    Issue {
        path: segments,
        message: error.message().to_owned(),
    }
}

fn json_key(object: &serde_json::Map<String, Value>, rust: &str) -> Option<String> {
    if object.contains_key(rust) {
        return Some(rust.to_owned());
    }
    let words: Vec<&str> = rust.split('_').filter(|w| !w.is_empty()).collect();
    let capitalized = |w: &&str| {
        let mut chars = w.chars();
        chars
            .next()
            .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
            .unwrap_or_default()
    };
    let pascal: String = words.iter().map(capitalized).collect();
    let camel = words
        .first()
        .map(|first| (*first).to_owned() + &words[1..].iter().map(capitalized).collect::<String>());
    let candidates = [
        camel.unwrap_or_default(),
        pascal,
        words.join("-"),
        rust.to_ascii_uppercase(),
        words.join("-").to_ascii_uppercase(),
        rust.to_ascii_lowercase().replace('_', ""),
    ];
    candidates.into_iter().find(|candidate| object.contains_key(candidate))
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
    fn paths_use_the_json_names_of_renamed_fields() {
        #[derive(Debug, Deserialize, Validate)]
        #[serde(rename_all = "camelCase")]
        struct Slow {
            #[garde(range(max = 10))]
            delay_ms: u64,
            #[garde(dive)]
            inner_list: Vec<Inner>,
        }
        #[derive(Debug, Deserialize, Validate)]
        #[serde(rename_all = "kebab-case")]
        struct Inner {
            #[garde(length(min = 2))]
            user_name: String,
        }
        let issues = payload::<Slow>(Some(br#"{"delayMs":11,"innerList":[{"user-name":"x"}]}"#)).unwrap_err();
        assert_eq!(paths(&issues), [r#"["delayMs"]"#, r#"["innerList",0,"user-name"]"#]);
    }

    #[test]
    fn absent_payload_reads_as_null() {
        let issues = payload::<Message>(None).unwrap_err();
        assert_eq!(issues.len(), 1);
        assert!(issues[0].path.is_empty());
    }
}
