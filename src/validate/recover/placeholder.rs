//! Placeholders: the neutral value of whatever kind a visitor asks for, bounded in size and depth.

use serde::de::value::MapDeserializer;
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};

use super::deserializer::{Deser, Source};
use super::enums::Enum;
use super::error::Error;
use super::fix::Ctx;
use super::want::Want;
use super::{PLACEHOLDER_BUDGET, PLACEHOLDER_DEPTH};

impl Ctx {
    /// A fresh placeholder deserializer.
    pub(super) fn placeholder(&self) -> Neutral<'_> {
        self.budget.set(PLACEHOLDER_BUDGET);
        Neutral { ctx: self, depth: 0 }
    }
}

/// Deserializes a placeholder: the neutral value of whatever kind the visitor asks for.
#[derive(Debug, Clone, Copy)]
pub(super) struct Neutral<'de> {
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
