//! What a visitor asks for ([`Want`]), and whether a JSON value fits it.

use serde::de::Visitor;
use serde_json::{Number, Value};

use super::error::Error;

/// What a visitor asked the deserializer for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Want {
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
pub(super) fn check(value: &Value, want: Want) -> Result<(), String> {
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
pub(super) fn enum_parts(value: &Value) -> Option<(&str, Option<&Value>)> {
    match value {
        Value::String(name) => Some((name, None)),
        Value::Object(map) if map.len() == 1 => {
            (map.iter().next()).map(|(name, content)| (name.as_str(), Some(content)))
        }
        _ => None,
    }
}

/// Gives a JSON number to a visitor the way `serde_json` does.
pub(super) fn visit_number<'de, V: Visitor<'de>>(number: &Number, visitor: V) -> Result<V::Value, Error> {
    if let Some(int) = number.as_u64() {
        visitor.visit_u64(int)
    } else if let Some(int) = number.as_i64() {
        visitor.visit_i64(int)
    } else {
        visitor.visit_f64(number.as_f64().unwrap_or_default())
    }
}
