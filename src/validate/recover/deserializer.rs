//! The [`Deserializer`] of any [`Source`], and [`De`]: the source that checks a JSON value first.

use serde::de::{self, Deserializer, Visitor};
use serde_json::Value;

use super::access::{Elements, Entries};
use super::enums::{Enum, Variant};
use super::error::Error;
use super::fix::{Ctx, Remedy};
use super::path::Path;
use super::want::{Want, check, enum_parts, visit_number};

/// Something that can answer any [`Want`]; [`Deser`] turns it into a [`Deserializer`].
pub(super) trait Source<'de>: Sized {
    /// Gives the visitor what it asked for, or a placeholder of that kind.
    fn run<V: Visitor<'de>>(self, want: Want, visitor: V) -> Result<V::Value, Error>;
}

/// The [`Deserializer`] of a [`Source`]: every method names its [`Want`].
#[derive(Debug)]
pub(super) struct Deser<S>(pub(super) S);

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
pub(super) struct De<'de, 'p> {
    /// The value.
    pub(super) value: &'de Value,
    /// The run.
    pub(super) ctx: &'de Ctx,
    /// Where the value is.
    pub(super) path: Path<'p>,
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
