//! Finds every problem in an invalid payload, not just the first one serde meets.
//!
//! `serde_json` stops at the first error. After that fast path failed, [`from_value`] deserializes
//! the parsed [`Value`] again through a deserializer of its own that knows where it is (the path
//! from the root) and records an [`Issue`] wherever the JSON does not fit:
//!
//! * Type mismatches (a string where a number is wanted, 300 for a `u8`, an object where an array
//!   is wanted...) are checked *before* the visitor sees the value. The issue is recorded and the
//!   visitor gets a neutral placeholder of the kind it asked for (`0`, `""`, an empty array, a
//!   struct of placeholders, an enum's first variant...), so the rest of the payload is checked too.
//! * Errors that only the `Deserialize` impl can raise (missing fields, unknown fields under
//!   `deny_unknown_fields`, unknown enum variants, `try_from` or `deserialize_with` failures) end a
//!   run. The error carries the path where it happened and a [`Remedy`] for the next run: add the
//!   missing field (reported as `required`), skip the unknown key, or put a placeholder where the
//!   failing value was (reported with the error's message). Then the whole value is deserialized
//!   again, at most [`MAX_FIXES`] times. An error at a value inside which issues were already found
//!   may be caused by the placeholders there, so only those issues are reported, not the error.
//! * An error that no fix gets past ends the search and becomes the last issue. That happens inside
//!   values serde buffers in its own private deserializer (internally, adjacently tagged and
//!   untagged enums, flattened structs: a mismatch there is reported at that value's path with
//!   serde's message) and at values whose type rejects every placeholder (a string parsed as an IP
//!   address, a `try_from` refusing 0...). Issues found before it are still reported.
//!
//! Placeholder values are thrown away: only the issues are kept. Each run visits every JSON value
//! at most once and placeholders are bounded in size and depth; no run is started after
//! [`MAX_FIXES`] fixes or [`MAX_WORK`] values walked in all, so a hostile payload cannot make the
//! work much larger than one walk of itself plus `MAX_WORK`.
//!
//! The parts: [`fix`] (what runs learn, what one run shares), [`path`], [`error`], [`want`] (what
//! a visitor asks for and whether a value fits), [`deserializer`] (the checking deserializer),
//! [`access`] (arrays, objects and keys), [`enums`] and [`placeholder`].

mod access;
mod deserializer;
mod enums;
mod error;
mod fix;
mod path;
mod placeholder;
#[cfg(test)]
mod tests;
mod want;

use std::cell::{Cell, RefCell};

use serde::de::DeserializeOwned;
use serde_json::Value;
use zocket_protocol::{Issue, PathSegment};

use deserializer::{De, Deser};
use error::Problem;
use fix::{Ctx, Fix, Remedy};
use path::Path;

/// How many times the payload may be deserialized again, each time with one more fix.
const MAX_FIXES: usize = 64;
/// After how many JSON values walked (over all runs) no more runs are started.
const MAX_WORK: usize = 1 << 20;
/// How many nodes one placeholder value may have.
const PLACEHOLDER_BUDGET: usize = 256;
/// How deep one placeholder value may nest.
const PLACEHOLDER_DEPTH: usize = 32;
/// How many issues one run records at most; the rest of the walk still runs, unrecorded.
const MAX_RECORDED: usize = 1000;
/// The message of a missing required field.
const REQUIRED: &str = "required";

/// Deserializes `value` into `T`, or reports every failing field of it.
///
/// Meant for payloads the fast path (`serde_json::from_slice::<T>`) rejected. The issues are in
/// the order the value was walked (object keys in the order of the [`Map`](serde_json::Map), then missing fields).
#[cfg(test)]
pub(crate) fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, Vec<Issue>> {
    from_value_or_stand_in(value).map_err(|(_, issues)| issues)
}

/// As [`from_value`], but on failure also hands back the value built with placeholders where
/// fields failed, when deserialization got that far: its other fields are real, so their
/// validation rules can still be checked.
pub(crate) fn from_value_or_stand_in<T: DeserializeOwned>(value: &Value) -> Result<T, (Option<T>, Vec<Issue>)> {
    let (mut fixes, mut work) = (Vec::new(), 0);
    // The result of the run before the last placeholder fix, and where that fix is.
    let mut fallback: Option<(Vec<PathSegment>, Vec<Issue>)> = None;
    loop {
        let ctx = Ctx {
            fixes,
            issues: RefCell::default(),
            budget: Cell::new(0),
            walked: Cell::new(0),
        };
        let result = T::deserialize(Deser(De {
            value,
            ctx: &ctx,
            path: Path::Root,
        }));
        (fixes, work) = (ctx.fixes, work + ctx.walked.get());
        let mut issues = ctx.issues.into_inner();
        let error = match result {
            Ok(value) if issues.is_empty() => return Ok(value),
            Ok(stand_in) => return Err((Some(stand_in), dedup(issues))),
            Err(error) => error.locate(&Path::Root, false),
        };
        // An error raised after issues were found inside its value may be caused by the
        // placeholders put there: it is reported only if nothing inside was.
        let issue = error.to_issue();
        let inside = issues.iter().filter(|known| known.path.starts_with(&issue.path));
        let mut report: Vec<Issue> = inside.cloned().collect();
        if report.is_empty() {
            report.push(issue.clone());
            issues.push(issue);
        }
        let Problem { path, remedy, .. } = *error.0;
        let path = path.unwrap_or_default();
        let tried = |remedy| fixes.iter().any(|f| f.path == path && f.remedy == remedy);
        match remedy {
            Some(remedy) if !tried(remedy) && fixes.len() < MAX_FIXES && work < MAX_WORK => {
                fallback = (remedy == Remedy::Placeholder).then(|| (path.clone(), issues));
                fixes.push(Fix { path, remedy, report });
            }
            // Nothing gets past this error. If it comes from the last placeholder, the run
            // before that one found more.
            _ => {
                return Err((
                    None,
                    dedup(match fallback {
                        Some((at, earlier)) if at == path => earlier,
                        _ => issues,
                    }),
                ));
            }
        }
    }
}

/// Drops repeated issues (a value is walked at most once per run, so they can only be adjacent).
fn dedup(mut issues: Vec<Issue>) -> Vec<Issue> {
    issues.dedup();
    issues
}
