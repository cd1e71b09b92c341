//! Turning untrusted JSON into typed, validated values, with every failing field reported.
//!
//! The fast path is a plain `serde_json` deserialization followed by the type's `garde` rules.
//! Only when deserialization fails does [`recover`] walk the value again to name every field
//! that does not fit, not just the first.

mod recover;
mod strict;

use garde::Validate;
use serde::de::DeserializeOwned;
use serde_json::Value;
use zocket_protocol::{Issue, PathSegment};

/// How many issues a client is told about at most; past it, one last issue says how many more.
const MAX_ISSUES: usize = 100;

/// Deserializes and validates a raw JSON payload; `None` reads as `null`.
pub(crate) fn payload<T>(raw: Option<&[u8]>) -> Result<T, Vec<Issue>>
where
    T: DeserializeOwned + Validate,
    T::Context: Default,
{
    parse_payload(raw).map_err(capped)
}

/// Deserializes and validates a MessagePack payload straight into `T`, as [`payload`] would
/// its JSON form: `None` unless the payload reads the same as its JSON form (no binary, no
/// non-string keys, ...), fits `T` and passes its rules. Otherwise [`payload`] of the JSON
/// form gives the answer (its issues name fields as the client spelled them).
#[cfg(feature = "msgpack")]
pub(crate) fn msgpack_payload<T>(raw: &[u8]) -> Option<T>
where
    T: DeserializeOwned + Validate,
    T::Context: Default,
{
    if !zocket_protocol::msgpack::is_plain(raw) {
        return None;
    }
    let value = strict::from_msgpack::<T>(raw)?;
    value.validate_with(&T::Context::default()).is_ok().then_some(value)
}

/// Keeps an error reply small whatever the payload: at most [`MAX_ISSUES`] issues.
fn capped(mut issues: Vec<Issue>) -> Vec<Issue> {
    if issues.len() > MAX_ISSUES {
        let more = issues.len() - MAX_ISSUES;
        issues.truncate(MAX_ISSUES);
        issues.push(Issue::new(
            Vec::<PathSegment>::new(),
            format!("... and at least {more} more issues"),
        ));
    }
    issues
}

fn parse_payload<T>(raw: Option<&[u8]>) -> Result<T, Vec<Issue>>
where
    T: DeserializeOwned + Validate,
    T::Context: Default,
{
    let raw = raw.unwrap_or(b"null");
    match strict::from_slice::<T>(raw) {
        Ok(value) => check(value, || serde_json::from_slice(raw).ok()),
        Err(error) => match serde_json::from_slice::<Value>(raw) {
            Ok(json) => parse_value(&json),
            Err(_) => Err(vec![Issue::new(Vec::<PathSegment>::new(), error.to_string())]),
        },
    }
}

/// Deserializes and validates an already parsed JSON value (used for connection headers).
///
/// When some fields do not deserialize, the rules of the others still run (on a stand-in value
/// with placeholders in the failed places), so every failing field is named.
pub(crate) fn value<T>(json: &Value) -> Result<T, Vec<Issue>>
where
    T: DeserializeOwned + Validate,
    T::Context: Default,
{
    parse_value(json).map_err(capped)
}

fn parse_value<T>(json: &Value) -> Result<T, Vec<Issue>>
where
    T: DeserializeOwned + Validate,
    T::Context: Default,
{
    match recover::from_value_or_stand_in::<T>(json) {
        Ok(value) => check(value, || Some(json.clone())),
        Err((None, issues)) => Err(issues),
        Err((Some(stand_in), mut issues)) => {
            if let Err(more) = check(stand_in, || Some(json.clone())) {
                // Rules failing on a placeholder (or inside one) say nothing about the client's data.
                // A missing field has no JSON key to match its Rust name against, so names are
                // compared without case, `_` or `-`.
                let known: Vec<Vec<PathSegment>> = issues.iter().map(|issue| loose(&issue.path)).collect();
                let fresh: Vec<Issue> = more
                    .into_iter()
                    .filter(|rule| {
                        let path = loose(&rule.path);
                        !known.iter().any(|k| path.starts_with(k) || k.starts_with(&path))
                    })
                    .collect();
                issues.extend(fresh);
            }
            Err(issues)
        }
    }
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

/// A path with its keys spelled the same whatever the case convention.
fn loose(path: &[PathSegment]) -> Vec<PathSegment> {
    path.iter()
        .map(|segment| match segment {
            PathSegment::Key(key) => PathSegment::Key(
                key.chars()
                    .filter(|c| *c != '_' && *c != '-')
                    .map(|c| c.to_ascii_lowercase())
                    .collect(),
            ),
            index => index.clone(),
        })
        .collect()
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
    fn type_errors_and_rule_failures_are_reported_together() {
        #[derive(Debug, Deserialize, Validate)]
        #[serde(rename_all = "camelCase")]
        struct SlowEcho {
            #[garde(length(min = 1))]
            text: String,
            #[garde(range(max = 5000))]
            delay_ms: u64,
        }
        let issues = payload::<SlowEcho>(Some(br#"{"text":7,"delayMs":6000}"#)).unwrap_err();
        assert_eq!(paths(&issues), [r#"["text"]"#, r#"["delayMs"]"#]);
        assert!(
            issues[0].message.contains("string"),
            "the placeholder's own rule failure is not reported"
        );
    }

    #[test]
    fn a_missing_renamed_field_is_named_once() {
        #[derive(Debug, Deserialize, Validate)]
        struct Headers {
            #[serde(rename = "api-key")]
            #[garde(length(min = 5))]
            api_key: String,
            #[garde(length(min = 5))]
            token: String,
        }
        let issues = value::<Headers>(&serde_json::json!({"token": "abc"})).unwrap_err();
        assert_eq!(paths(&issues), [r#"["api-key"]"#, r#"["token"]"#]);
    }

    #[test]
    fn huge_invalid_payloads_get_a_small_reply() {
        #[derive(Debug, Deserialize, Validate)]
        #[garde(allow_unvalidated)]
        struct Tags {
            #[allow(dead_code)]
            tags: Vec<u8>,
        }
        let raw = format!(r#"{{"tags":[{}{{}}]}}"#, "{},".repeat(100_000));
        let issues = payload::<Tags>(Some(raw.as_bytes())).unwrap_err();
        assert_eq!(issues.len(), MAX_ISSUES + 1);
        assert_eq!(issues[0].path, [PathSegment::from("tags"), PathSegment::Index(0)]);
        assert!(issues[MAX_ISSUES].message.starts_with("... and at least"));
        assert!(issues[MAX_ISSUES].path.is_empty());
    }

    #[test]
    fn an_array_is_not_an_object() {
        let issues = payload::<Message>(Some(br#" ["hi", []]"#)).unwrap_err();
        assert_eq!(
            issues,
            [Issue::new(
                Vec::<PathSegment>::new(),
                "expected an object, got an array"
            )]
        );
        let list: Vec<u8> = payload_plain(Some(b"[1,2]"));
        assert_eq!(list, [1, 2], "types that are lists still read arrays");
    }

    /// A type with no rules, to test what deserialization alone accepts.
    fn payload_plain<T: DeserializeOwned>(raw: Option<&[u8]>) -> T {
        #[derive(Deserialize, Validate)]
        #[serde(transparent)]
        struct Plain<T> {
            #[garde(skip)]
            inner: T,
        }
        payload::<Plain<T>>(raw).map(|plain| plain.inner).unwrap()
    }

    #[test]
    fn absent_payload_reads_as_null() {
        let issues = payload::<Message>(None).unwrap_err();
        assert_eq!(issues.len(), 1);
        assert!(issues[0].path.is_empty());
    }
}
