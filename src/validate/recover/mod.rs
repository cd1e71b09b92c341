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

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::value::{BorrowedStrDeserializer, MapDeserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde_json::{Map, Number, Value};
use zocket_protocol::{Issue, PathSegment};

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
/// the order the value was walked (object keys in the order of the [`Map`], then missing fields).
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

/// What a run changes, at one path, to get past an error of the run before.
#[derive(Debug)]
struct Fix {
    /// The struct for `Required`, the object entry for `Skip`, the value for `Placeholder`.
    path: Vec<PathSegment>,
    /// What to do there.
    remedy: Remedy,
    /// The issues to record there instead of walking the entry or value (`Skip`, `Placeholder`).
    report: Vec<Issue>,
}

/// The ways a run can get past an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Remedy {
    /// Add this missing field to the struct (reported as required), with a placeholder value.
    Required(&'static str),
    /// Skip the object entry.
    Skip,
    /// Give the visitor a placeholder instead of the value.
    Placeholder,
}

/// The state shared by every deserializer of one run.
#[derive(Debug)]
struct Ctx {
    /// The fixes learnt from earlier runs.
    fixes: Vec<Fix>,
    /// The issues found so far, in the order they were met.
    issues: RefCell<Vec<Issue>>,
    /// How many nodes the placeholder being built may still have.
    budget: Cell<usize>,
    /// How many JSON values this run has walked.
    walked: Cell<usize>,
}

impl Ctx {
    /// Records an issue at `path`.
    fn record(&self, path: &Path<'_>, message: impl Into<String>) {
        let mut issues = self.issues.borrow_mut();
        if issues.len() < MAX_RECORDED {
            issues.push(Issue {
                path: path.to_vec(),
                message: message.into(),
            });
        }
    }

    /// A fresh placeholder deserializer.
    fn placeholder(&self) -> Neutral<'_> {
        self.budget.set(PLACEHOLDER_BUDGET);
        Neutral { ctx: self, depth: 0 }
    }

    /// If there is a `Skip` or `Placeholder` fix at `path`, records its report and says so.
    fn fixed(&self, path: &Path<'_>, remedy: Remedy) -> bool {
        let fix = (self.fixes.iter()).find(|fix| fix.remedy == remedy && path.is(&fix.path));
        if let Some(fix) = fix {
            self.issues.borrow_mut().extend_from_slice(&fix.report);
        }
        fix.is_some()
    }

    /// The missing fields to add to the struct at `path`.
    fn required(&self, path: &Path<'_>) -> Vec<&'static str> {
        let fields = self.fixes.iter().filter_map(|fix| match fix.remedy {
            Remedy::Required(field) if path.is(&fix.path) => Some(field),
            _ => None,
        });
        fields.collect()
    }
}

/// Where a deserializer is, as a list linked through the stack (no allocation per value).
#[derive(Debug, Clone, Copy)]
enum Path<'p> {
    /// The payload itself.
    Root,
    /// An object entry.
    Key(&'p Path<'p>, &'p str),
    /// An array element.
    Index(&'p Path<'p>, usize),
}

impl Path<'_> {
    /// The segments from the root.
    fn to_vec(self) -> Vec<PathSegment> {
        let (parent, last) = match self {
            Path::Root => return Vec::new(),
            Path::Key(parent, key) => (parent, PathSegment::Key(key.to_owned())),
            Path::Index(parent, index) => (parent, PathSegment::Index(index)),
        };
        let mut segments = parent.to_vec();
        segments.push(last);
        segments
    }

    /// Whether this is the path `segments`.
    fn is(self, segments: &[PathSegment]) -> bool {
        match (self, segments.split_last()) {
            (Path::Root, None) => true,
            (Path::Key(parent, key), Some((PathSegment::Key(last), rest))) => key == last && parent.is(rest),
            (Path::Index(parent, index), Some((PathSegment::Index(last), rest))) => index == *last && parent.is(rest),
            _ => false,
        }
    }
}

/// The error of this module's deserializers (boxed, to keep results and stack frames small).
#[derive(Debug)]
struct Error(Box<Problem>);

/// What an [`Error`] knows: a message, and where it happened once known.
#[derive(Debug)]
struct Problem {
    /// What went wrong.
    message: String,
    /// The field, for errors made by [`de::Error::missing_field`].
    missing: Option<&'static str>,
    /// Where it happened (for a missing field: the struct), set by the innermost deserializer
    /// that saw the error go by.
    path: Option<Vec<PathSegment>>,
    /// How the next run may get past it.
    remedy: Option<Remedy>,
}

impl Error {
    /// Places an error that has no place yet at `path`: a failed key will be skipped next time
    /// (`key`), a failed value replaced by a placeholder. A missing field found here was not
    /// reported by a struct of ours (it comes from a flattened struct or a tagged enum): final.
    fn locate(mut self, path: &Path<'_>, key: bool) -> Self {
        let problem = &mut *self.0;
        if problem.path.is_none() {
            problem.path = Some(path.to_vec());
            problem.remedy = match (problem.missing, key) {
                (Some(_), _) => None,
                (None, true) => Some(Remedy::Skip),
                (None, false) => Some(Remedy::Placeholder),
            };
        }
        self
    }

    /// Places a missing-field error raised by the visitor of the struct at `path`.
    fn missing_in(mut self, path: &Path<'_>) -> Self {
        let problem = &mut *self.0;
        if let (None, Some(field)) = (&problem.path, problem.missing) {
            problem.path = Some(path.to_vec());
            problem.remedy = Some(Remedy::Required(field));
        }
        self
    }

    /// The issue to report for this error.
    fn to_issue(&self) -> Issue {
        let mut path = self.0.path.clone().unwrap_or_default();
        let message = match self.0.missing {
            Some(field) => {
                path.push(PathSegment::Key(field.to_owned()));
                REQUIRED.to_owned()
            }
            None => self.0.message.clone(),
        };
        Issue { path, message }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<M: fmt::Display>(message: M) -> Self {
        Error(Box::new(Problem {
            message: message.to_string(),
            missing: None,
            path: None,
            remedy: None,
        }))
    }

    fn missing_field(field: &'static str) -> Self {
        let mut error = Error::custom(format_args!("missing field `{field}`"));
        error.0.missing = Some(field);
        error
    }
}

/// What a visitor asked the deserializer for.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// Whatever the value is (`deserialize_any`).
    Any,
    /// Nothing: the value is skipped.
    Ignored,
    /// `true` or `false`.
    Bool,
    /// An integer within these bounds.
    Int(i128, u128),
    /// Any number.
    Float,
    /// A one-character string.
    Char,
    /// A string.
    Str,
    /// The name of a field or variant (a string).
    Identifier,
    /// A string or an array of bytes.
    Bytes,
    /// Null or a value.
    Option,
    /// Null.
    Unit,
    /// The content of the named newtype struct.
    NewtypeStruct(&'static str),
    /// An array.
    Seq,
    /// An array of this length.
    Tuple(usize),
    /// An object.
    Map,
    /// An object with these fields (the protocol does not read structs from arrays).
    Struct(&'static [&'static str]),
    /// A variant name or `{"Variant": content}`.
    Enum(&'static [&'static str]),
}

impl Want {
    /// Says what fits, for messages.
    fn expected(self) -> &'static str {
        match self {
            Want::Bool => "a boolean",
            Want::Int(..) => "an integer",
            Want::Float => "a number",
            Want::Char => "a single character",
            Want::Str | Want::Identifier => "a string",
            Want::Bytes => "a string or an array of bytes",
            Want::Unit => "null",
            Want::Seq | Want::Tuple(_) => "an array",
            Want::Map | Want::Struct(_) => "an object",
            Want::Enum(_) => "a variant name or an object with a single key",
            Want::Any | Want::Ignored | Want::Option | Want::NewtypeStruct(_) => "a value",
        }
    }
}

/// Says what kind of JSON value `value` is, for messages.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether `value` fits `want`; if not, says why.
fn check(value: &Value, want: Want) -> Result<(), String> {
    let fits = match (want, value) {
        (Want::Any | Want::Ignored | Want::Option | Want::NewtypeStruct(_), _) => true,
        (Want::Int(min, max), Value::Number(number)) => return check_int(number, min, max),
        (Want::Enum(_), _) => enum_parts(value).is_some(),
        (Want::Char, Value::String(s)) => {
            let mut chars = s.chars();
            chars.next().is_some() && chars.next().is_none()
        }
        (Want::Bool, Value::Bool(_))
        | (Want::Float, Value::Number(_))
        | (Want::Str | Want::Identifier, Value::String(_))
        | (Want::Unit, Value::Null)
        | (Want::Bytes, Value::String(_) | Value::Array(_))
        | (Want::Seq | Want::Tuple(_), Value::Array(_))
        | (Want::Map, Value::Object(_))
        | (Want::Struct(_), Value::Object(_)) => true,
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(format!("expected {}, got {}", want.expected(), kind_of(value)))
    }
}

/// Whether `number` is an integer from `min` to `max`; if not, says why.
fn check_int(number: &Number, min: i128, max: u128) -> Result<(), String> {
    let int = (number.as_i64().map(i128::from)).or_else(|| number.as_u64().map(i128::from));
    match int {
        None => Err(format!("expected an integer, got {number}")),
        Some(int) if int < min || u128::try_from(int).is_ok_and(|int| int > max) => {
            Err(format!("expected an integer from {min} to {max}, got {number}"))
        }
        Some(_) => Ok(()),
    }
}

/// The variant name and content of an enum value: `"Variant"` or `{"Variant": content}`.
fn enum_parts(value: &Value) -> Option<(&str, Option<&Value>)> {
    match value {
        Value::String(name) => Some((name, None)),
        Value::Object(map) if map.len() == 1 => {
            (map.iter().next()).map(|(name, content)| (name.as_str(), Some(content)))
        }
        _ => None,
    }
}

/// Gives a JSON number to a visitor the way `serde_json` does.
fn visit_number<'de, V: Visitor<'de>>(number: &Number, visitor: V) -> Result<V::Value, Error> {
    if let Some(int) = number.as_u64() {
        visitor.visit_u64(int)
    } else if let Some(int) = number.as_i64() {
        visitor.visit_i64(int)
    } else {
        visitor.visit_f64(number.as_f64().unwrap_or_default())
    }
}

/// Something that can answer any [`Want`]; [`Deser`] turns it into a [`Deserializer`].
trait Source<'de>: Sized {
    /// Gives the visitor what it asked for, or a placeholder of that kind.
    fn run<V: Visitor<'de>>(self, want: Want, visitor: V) -> Result<V::Value, Error>;
}

/// The [`Deserializer`] of a [`Source`]: every method names its [`Want`].
#[derive(Debug)]
struct Deser<S>(S);

/// Writes `Deserializer` methods that only pass their [`Want`] on.
macro_rules! wants {
    ($($method:ident($($arg:ident: $ty:ty),*) => $want:expr;)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Error> {
            self.0.run($want, visitor)
        }
    )*};
}

impl<'de, S: Source<'de>> Deserializer<'de> for Deser<S> {
    type Error = Error;

    wants! {
        deserialize_any() => Want::Any;
        deserialize_ignored_any() => Want::Ignored;
        deserialize_bool() => Want::Bool;
        deserialize_i8() => Want::Int(i8::MIN as i128, i8::MAX as u128);
        deserialize_i16() => Want::Int(i16::MIN as i128, i16::MAX as u128);
        deserialize_i32() => Want::Int(i32::MIN as i128, i32::MAX as u128);
        deserialize_i64() => Want::Int(i64::MIN as i128, i64::MAX as u128);
        deserialize_i128() => Want::Int(i128::MIN, i128::MAX as u128);
        deserialize_u8() => Want::Int(0, u8::MAX as u128);
        deserialize_u16() => Want::Int(0, u16::MAX as u128);
        deserialize_u32() => Want::Int(0, u32::MAX as u128);
        deserialize_u64() => Want::Int(0, u64::MAX as u128);
        deserialize_u128() => Want::Int(0, u128::MAX);
        deserialize_f32() => Want::Float;
        deserialize_f64() => Want::Float;
        deserialize_char() => Want::Char;
        deserialize_str() => Want::Str;
        deserialize_string() => Want::Str;
        deserialize_identifier() => Want::Identifier;
        deserialize_bytes() => Want::Bytes;
        deserialize_byte_buf() => Want::Bytes;
        deserialize_option() => Want::Option;
        deserialize_unit() => Want::Unit;
        deserialize_unit_struct(_name: &'static str) => Want::Unit;
        deserialize_newtype_struct(name: &'static str) => Want::NewtypeStruct(name);
        deserialize_seq() => Want::Seq;
        deserialize_tuple(len: usize) => Want::Tuple(len);
        deserialize_tuple_struct(_name: &'static str, len: usize) => Want::Tuple(len);
        deserialize_map() => Want::Map;
        deserialize_struct(_name: &'static str, fields: &'static [&'static str])
            => Want::Struct(fields);
        deserialize_enum(_name: &'static str, variants: &'static [&'static str])
            => Want::Enum(variants);
    }
}

/// Deserializes one JSON value, checking it first.
#[derive(Debug, Clone, Copy)]
struct De<'de, 'p> {
    /// The value.
    value: &'de Value,
    /// The run.
    ctx: &'de Ctx,
    /// Where the value is.
    path: Path<'p>,
}

impl De<'_, '_> {
    /// Records what is wrong with the value for `want`; true if a placeholder must replace it.
    fn misfits(&self, want: Want) -> bool {
        self.ctx.walked.set(self.ctx.walked.get() + 1);
        if self.ctx.fixed(&self.path, Remedy::Placeholder) {
            return true;
        }
        if let Err(message) = check(self.value, want) {
            self.ctx.record(&self.path, message);
            return true;
        }
        if let (Want::Tuple(len), Value::Array(items)) = (want, self.value) {
            if items.len() != len {
                let message = format!("expected an array of {len} elements, got {}", items.len());
                self.ctx.record(&self.path, message);
            }
        }
        false
    }
}

impl<'de> Source<'de> for De<'de, '_> {
    fn run<V: Visitor<'de>>(self, want: Want, visitor: V) -> Result<V::Value, Error> {
        let Self { value, ctx, path } = self;
        if self.misfits(want) {
            return ctx.placeholder().run(want, visitor);
        }
        match (want, value) {
            (Want::Ignored, _) => visitor.visit_unit(),
            (Want::Option, Value::Null) => visitor.visit_none(),
            (Want::Option, _) => visitor.visit_some(Deser(self)),
            // serde_json's own types (`RawValue`) need its own deserializer.
            (Want::NewtypeStruct(name), _) if name.starts_with("$serde_json::") => {
                Deserializer::deserialize_newtype_struct(value, name, visitor).map_err(<Error as de::Error>::custom)
            }
            (Want::NewtypeStruct(_), _) => visitor.visit_newtype_struct(Deser(self)),
            (Want::Enum(_), _) => match enum_parts(value) {
                Some((name, content)) => visitor.visit_enum(Enum {
                    name,
                    content: Variant {
                        name,
                        content,
                        ctx,
                        path,
                    },
                }),
                None => ctx.placeholder().run(want, visitor),
            },
            (Want::Tuple(len), Value::Array(items)) => visitor.visit_seq(Elements::new(self, items, len)),
            (Want::Struct(_), Value::Object(map)) => {
                let entries = Entries::new(self, map, ctx.required(&path));
                (visitor.visit_map(entries)).map_err(|error| error.missing_in(&path))
            }
            (_, Value::Null) => visitor.visit_unit(),
            (_, Value::Bool(b)) => visitor.visit_bool(*b),
            (_, Value::Number(number)) => visit_number(number, visitor),
            (_, Value::String(s)) => visitor.visit_borrowed_str(s),
            (_, Value::Array(items)) => {
                let mut elements = Elements::new(self, items, items.len());
                let result = visitor.visit_seq(&mut elements);
                // A struct read from an array takes as many elements as it has fields.
                if result.is_ok() && elements.next < items.len() {
                    let message = format!("expected an array of {} elements, got {}", elements.next, items.len());
                    ctx.record(&path, message);
                }
                result
            }
            (_, Value::Object(map)) => visitor.visit_map(Entries::new(self, map, Vec::new())),
        }
    }
}

/// The elements of an array, padded with placeholders (or cut) to `len`.
#[derive(Debug)]
struct Elements<'de, 'p> {
    /// The run.
    ctx: &'de Ctx,
    /// Where the array is.
    path: Path<'p>,
    /// Its elements.
    items: &'de [Value],
    /// The index of the next element.
    next: usize,
    /// How many elements to give.
    len: usize,
}

impl<'de, 'p> Elements<'de, 'p> {
    /// The first `len` elements of the array `items` that `de` is at.
    fn new(de: De<'de, 'p>, items: &'de [Value], len: usize) -> Self {
        let (ctx, path) = (de.ctx, de.path);
        Elements {
            ctx,
            path,
            items,
            next: 0,
            len,
        }
    }
}

impl<'de> SeqAccess<'de> for Elements<'de, '_> {
    type Error = Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, Error> {
        if self.next >= self.len {
            return Ok(None);
        }
        let index = self.next;
        self.next += 1;
        let path = Path::Index(&self.path, index);
        let result = match self.items.get(index) {
            Some(value) => seed.deserialize(Deser(De {
                value,
                ctx: self.ctx,
                path,
            })),
            None => seed.deserialize(Deser(self.ctx.placeholder())),
        };
        result.map(Some).map_err(|error| error.locate(&path, false))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.len.saturating_sub(self.next))
    }
}

/// The entries of an object, without skipped keys, then the missing fields added by fixes.
#[derive(Debug)]
struct Entries<'de, 'p> {
    /// The run.
    ctx: &'de Ctx,
    /// Where the object is.
    path: Path<'p>,
    /// The entries not given yet.
    entries: serde_json::map::Iter<'de>,
    /// The missing fields not given yet.
    missing: std::vec::IntoIter<&'static str>,
    /// The entry whose key was given last (no value for a missing field).
    pending: Option<(&'de str, Option<&'de Value>)>,
}

impl<'de, 'p> Entries<'de, 'p> {
    /// The entries of the object `map` that `de` is at, then `missing` fields.
    fn new(de: De<'de, 'p>, map: &'de Map<String, Value>, missing: Vec<&'static str>) -> Self {
        Entries {
            ctx: de.ctx,
            path: de.path,
            entries: map.iter(),
            missing: missing.into_iter(),
            pending: None,
        }
    }
}

impl<'de> MapAccess<'de> for Entries<'de, '_> {
    type Error = Error;

    fn next_key_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, Error> {
        loop {
            let (key, value) = match self.entries.next() {
                Some((key, value)) => (key.as_str(), Some(value)),
                None => match self.missing.next() {
                    Some(field) => (field, None),
                    None => return Ok(None),
                },
            };
            let path = Path::Key(&self.path, key);
            if self.ctx.fixed(&path, Remedy::Skip) {
                continue;
            }
            self.pending = Some((key, value));
            let ctx = self.ctx;
            let result = seed.deserialize(Deser(Key { key, ctx, path }));
            return result.map(Some).map_err(|error| error.locate(&path, true));
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
        let Some((key, value)) = self.pending.take() else {
            return Err(de::Error::custom("a value was asked for before its key"));
        };
        let path = Path::Key(&self.path, key);
        let ctx = self.ctx;
        let result = match value {
            Some(value) => seed.deserialize(Deser(De { value, ctx, path })),
            None => {
                ctx.record(&path, REQUIRED);
                seed.deserialize(Deser(ctx.placeholder()))
            }
        };
        result.map_err(|error| error.locate(&path, false))
    }
}

/// Deserializes an object key: a string, parsed when a number or a boolean is wanted (like
/// `serde_json` does for map keys).
#[derive(Debug)]
struct Key<'de, 'p> {
    /// The key.
    key: &'de str,
    /// The run.
    ctx: &'de Ctx,
    /// Where the entry is.
    path: Path<'p>,
}

impl<'de> Source<'de> for Key<'de, '_> {
    fn run<V: Visitor<'de>>(self, want: Want, visitor: V) -> Result<V::Value, Error> {
        let parsed = match want {
            Want::Bool => match self.key {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::String(String::new()),
            },
            Want::Int(..) | Want::Float => (self.key.parse()).map_or(Value::String(String::new()), Value::Number),
            Want::Option => return visitor.visit_some(Deser(self)),
            Want::NewtypeStruct(_) => return visitor.visit_newtype_struct(Deser(self)),
            Want::Enum(_) => return visitor.visit_enum(BorrowedStrDeserializer::new(self.key)),
            _ => return visitor.visit_borrowed_str(self.key),
        };
        if let Err(message) = check(&parsed, want) {
            self.ctx.record(&self.path, format!("invalid key: {message}"));
            return self.ctx.placeholder().run(want, visitor);
        }
        match parsed {
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(number) => visit_number(&number, visitor),
            _ => visitor.visit_borrowed_str(self.key),
        }
    }
}

/// An enum value: the variant's name, then the variant's content from `S`.
#[derive(Debug)]
struct Enum<'de, S> {
    /// The variant's name.
    name: &'de str,
    /// Deserializes the variant's content.
    content: S,
}

impl<'de, S: Source<'de>> EnumAccess<'de> for Enum<'de, S> {
    type Error = Error;
    type Variant = Deser<S>;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Deser<S>), Error> {
        let variant = seed.deserialize(BorrowedStrDeserializer::new(self.name))?;
        Ok((variant, Deser(self.content)))
    }
}

impl<'de, S: Source<'de>> VariantAccess<'de> for Deser<S> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        self.0.run(Want::Tuple(len), visitor)
    }

    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        self.0.run(Want::Struct(fields), visitor)
    }
}

/// The content of the enum variant `name`: `content` for `{"name": content}`, none for `"name"`.
#[derive(Debug)]
struct Variant<'de, 'p> {
    /// The variant's name.
    name: &'de str,
    /// The content, unless the enum was just a name.
    content: Option<&'de Value>,
    /// The run.
    ctx: &'de Ctx,
    /// Where the enum is.
    path: Path<'p>,
}

impl<'de> Source<'de> for Variant<'de, '_> {
    fn run<V: Visitor<'de>>(self, want: Want, visitor: V) -> Result<V::Value, Error> {
        let Self { name, ctx, .. } = self;
        let path = Path::Key(&self.path, name);
        match (self.content, want) {
            (Some(value), _) => {
                (De { value, ctx, path }.run(want, visitor)).map_err(|error| error.locate(&path, false))
            }
            (None, Want::Unit) => visitor.visit_unit(),
            (None, _) => {
                let message = format!("expected an object {{\"{name}\": ...}}, got a string");
                ctx.record(&self.path, message);
                ctx.placeholder().run(want, visitor)
            }
        }
    }
}

/// Deserializes a placeholder: the neutral value of whatever kind the visitor asks for.
#[derive(Debug, Clone, Copy)]
struct Neutral<'de> {
    /// The run (for the budget).
    ctx: &'de Ctx,
    /// How deep in the placeholder this is.
    depth: usize,
}

impl<'de> Source<'de> for Neutral<'de> {
    fn run<V: Visitor<'de>>(self, want: Want, visitor: V) -> Result<V::Value, Error> {
        let budget = self.ctx.budget.get();
        if budget == 0 || self.depth >= PLACEHOLDER_DEPTH {
            return Err(de::Error::custom("no placeholder fits this value"));
        }
        self.ctx.budget.set(budget - 1);
        let inner = Neutral {
            depth: self.depth + 1,
            ..self
        };
        let placeholders = |left| Placeholders { inner, left };
        match want {
            Want::Any | Want::Ignored | Want::Unit => visitor.visit_unit(),
            Want::Bool => visitor.visit_bool(false),
            Want::Int(..) => visitor.visit_u64(0),
            Want::Float => visitor.visit_f64(0.0),
            Want::Char => visitor.visit_char('\0'),
            Want::Str => visitor.visit_borrowed_str(""),
            // Derived identifiers take an index too: the first field or variant.
            Want::Identifier => visitor.visit_u64(0),
            Want::Bytes => visitor.visit_borrowed_bytes(&[]),
            Want::Option => visitor.visit_none(),
            Want::NewtypeStruct(_) => visitor.visit_newtype_struct(Deser(inner)),
            Want::Seq => visitor.visit_seq(placeholders(0)),
            Want::Tuple(len) => visitor.visit_seq(placeholders(len)),
            // Derived structs also read their fields, in order, from a sequence; unlike a map,
            // that works even when `fields` lists aliases.
            Want::Struct(fields) => visitor.visit_seq(placeholders(fields.len())),
            // An empty map.
            Want::Map => visitor.visit_map(MapDeserializer::new(std::iter::empty::<((), ())>())),
            Want::Enum(variants) => match variants.first() {
                Some(name) => visitor.visit_enum(Enum { name, content: inner }),
                None => Err(de::Error::custom("no placeholder fits an enum without variants")),
            },
        }
    }
}

/// `left` placeholder elements, for placeholder arrays, tuples and structs.
#[derive(Debug)]
struct Placeholders<'de> {
    /// Makes each element.
    inner: Neutral<'de>,
    /// How many elements are still to come.
    left: usize,
}

impl<'de> SeqAccess<'de> for Placeholders<'de> {
    type Error = Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(Deser(self.inner)).map(Some)
    }
}

#[cfg(test)]
mod tests;
