//! The contents of arrays and objects ([`SeqAccess`] and [`MapAccess`]), and object keys.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::REQUIRED;
use super::deserializer::{De, Deser, Source};
use super::error::Error;
use super::fix::{Ctx, Remedy};
use super::path::Path;
use super::want::{Want, check, visit_number};

/// The elements of an array, padded with placeholders (or cut) to `len`.
#[derive(Debug)]
pub(super) struct Elements<'de, 'p> {
    /// The run.
    ctx: &'de Ctx,
    /// Where the array is.
    path: Path<'p>,
    /// Its elements.
    items: &'de [Value],
    /// The index of the next element.
    pub(super) next: usize,
    /// How many elements to give.
    len: usize,
}

impl<'de, 'p> Elements<'de, 'p> {
    /// The first `len` elements of the array `items` that `de` is at.
    pub(super) fn new(de: De<'de, 'p>, items: &'de [Value], len: usize) -> Self {
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
pub(super) struct Entries<'de, 'p> {
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
    pub(super) fn new(de: De<'de, 'p>, map: &'de Map<String, Value>, missing: Vec<&'static str>) -> Self {
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
