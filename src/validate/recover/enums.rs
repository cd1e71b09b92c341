//! Enum values ([`EnumAccess`] and [`VariantAccess`]): the variant's name, then its content.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, EnumAccess, VariantAccess, Visitor};
use serde_json::Value;

use super::deserializer::{De, Deser, Source};
use super::error::Error;
use super::fix::Ctx;
use super::path::Path;
use super::want::Want;

/// An enum value: the variant's name, then the variant's content from `S`.
#[derive(Debug)]
pub(super) struct Enum<'de, S> {
    /// The variant's name.
    pub(super) name: &'de str,
    /// Deserializes the variant's content.
    pub(super) content: S,
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
pub(super) struct Variant<'de, 'p> {
    /// The variant's name.
    pub(super) name: &'de str,
    /// The content, unless the enum was just a name.
    pub(super) content: Option<&'de Value>,
    /// The run.
    pub(super) ctx: &'de Ctx,
    /// Where the enum is.
    pub(super) path: Path<'p>,
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
