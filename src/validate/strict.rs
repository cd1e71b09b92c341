//! serde_json reads a struct from an array as well as from an object; the protocol's schemas are
//! objects, as the original's were. This pass-through wrapper asks for a map wherever a struct
//! (or a struct variant) is wanted, at any depth, and changes nothing else.

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use std::fmt;

/// `serde_json::from_slice`, except that structs must be objects.
pub(crate) fn from_slice<T: DeserializeOwned>(raw: &[u8]) -> serde_json::Result<T> {
    let mut json = serde_json::Deserializer::from_slice(raw);
    let value = T::deserialize(Strict(&mut json))?;
    json.end()?;
    Ok(value)
}

/// A MessagePack payload read as [`from_slice`] reads JSON (structs must be maps); `None` if
/// it does not fit `T`.
#[cfg(feature = "msgpack")]
pub(crate) fn from_msgpack<T: DeserializeOwned>(raw: &[u8]) -> Option<T> {
    let mut msgpack = rmp_serde::Deserializer::from_read_ref(raw);
    T::deserialize(Strict(&mut msgpack)).ok()
}

/// A deserializer whose structs are maps.
struct Strict<D>(D);

/// A visitor, sequence, map, enum or variant access passing `Strict` down to what it reads.
struct Wrap<T>(T);

/// A seed that deserializes through `Strict`.
struct Seed<S>(S);

/// A seed for a struct variant's content: a map.
struct StructContent<V>(V);

/// A struct's visitor that takes a map and nothing else: serde_json's `deserialize_map`
/// refuses an array itself, MessagePack's hands over whatever it finds.
struct Struct<V>(V);

macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method($($arg,)* Wrap(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any(), deserialize_bool(), deserialize_i8(), deserialize_i16(), deserialize_i32(),
        deserialize_i64(), deserialize_i128(), deserialize_u8(), deserialize_u16(), deserialize_u32(),
        deserialize_u64(), deserialize_u128(), deserialize_f32(), deserialize_f64(), deserialize_char(),
        deserialize_str(), deserialize_string(), deserialize_bytes(), deserialize_byte_buf(),
        deserialize_option(), deserialize_unit(), deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str), deserialize_seq(), deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize), deserialize_map(),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
        deserialize_identifier(), deserialize_ignored_any(),
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(Struct(visitor))
    }

    /// Always: a MessagePack payload is read as its JSON form would be (an address or a time
    /// as a string, say), so both codecs accept the same values.
    fn is_human_readable(&self) -> bool {
        true
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, value: $ty) -> Result<V::Value, E> {
            self.0.$method(value)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    forward_visit! {
        visit_bool(bool), visit_i8(i8), visit_i16(i16), visit_i32(i32), visit_i64(i64), visit_i128(i128),
        visit_u8(u8), visit_u16(u16), visit_u32(u32), visit_u64(u64), visit_u128(u128), visit_f32(f32),
        visit_f64(f64), visit_char(char), visit_str(&str), visit_borrowed_str(&'de str), visit_string(String),
        visit_bytes(&[u8]), visit_borrowed_bytes(&'de [u8]), visit_byte_buf(Vec<u8>),
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(Strict(deserializer))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(Strict(deserializer))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(Wrap(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(Wrap(map))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(Wrap(data))
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Seed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(Seed(seed))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(Seed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Wrap<A> {
    type Error = A::Error;
    type Variant = Wrap<A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Self::Variant), A::Error> {
        let (value, variant) = self.0.variant_seed(Seed(seed))?;
        Ok((value, Wrap(variant)))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(Seed(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Wrap(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.newtype_variant_seed(StructContent(visitor))
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Strict(deserializer))
    }
}

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for StructContent<V> {
    type Value = V::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        deserializer.deserialize_map(Struct(self.0))
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Struct<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(Wrap(map))
    }
}

#[cfg(test)]
mod tests {
    use super::from_slice;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Point {
        x: i32,
        y: i32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    enum Shape {
        Dot,
        Circle(u32),
        Pair(u8, u8),
        Rect { w: u32, h: u32 },
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct All {
        point: Point,
        points: Vec<Point>,
        maybe: Option<Point>,
        shapes: Vec<Shape>,
        by_name: BTreeMap<String, Point>,
        tuple: (u8, String),
    }

    #[test]
    fn reads_what_serde_json_reads_from_objects() {
        let raw = br#"{"point":{"x":1,"y":2},"points":[{"x":3,"y":4}],"maybe":null,
            "shapes":["Dot",{"Circle":5},{"Pair":[1,2]},{"Rect":{"w":6,"h":7}}],
            "by_name":{"a":{"x":0,"y":0}},"tuple":[9,"nine"]}"#;
        let strict: All = from_slice(raw).unwrap();
        assert_eq!(strict, serde_json::from_slice::<All>(raw).unwrap());
        assert_eq!(strict.shapes[3], Shape::Rect { w: 6, h: 7 });
    }

    #[test]
    fn refuses_structs_given_as_arrays_at_any_depth() {
        assert!(
            serde_json::from_slice::<Point>(b"[1,2]").is_ok(),
            "serde_json alone accepts it"
        );
        assert!(from_slice::<Point>(b"[1,2]").is_err());
        assert!(from_slice::<Vec<Point>>(br#"[{"x":1,"y":2},[3,4]]"#).is_err());
        assert!(from_slice::<Option<Point>>(b"[1,2]").is_err());
        assert!(from_slice::<Shape>(br#"{"Rect":[1,2]}"#).is_err());
        assert!(from_slice::<BTreeMap<String, Point>>(br#"{"a":[1,2]}"#).is_err());
        assert!(from_slice::<Point>(br#"{"x":1,"y":2} trailing"#).is_err());
    }

    #[cfg(feature = "msgpack")]
    #[test]
    fn reads_msgpack_as_it_reads_json() {
        use super::from_msgpack;
        let pack =
            |json: &str| rmp_serde::to_vec_named(&serde_json::from_str::<serde_json::Value>(json).unwrap()).unwrap();
        let raw = r#"{"point":{"x":1,"y":2},"points":[{"x":3,"y":4}],"maybe":null,
            "shapes":["Dot",{"Circle":5},{"Pair":[1,2]},{"Rect":{"w":6,"h":7}}],
            "by_name":{"a":{"x":0,"y":0}},"tuple":[9,"nine"]}"#;
        assert_eq!(
            from_msgpack::<All>(&pack(raw)),
            Some(from_slice(raw.as_bytes()).unwrap())
        );
        for array_for_a_struct in [
            "[1,2]",
            r#"[{"x":1,"y":2},[3,4]]"#,
            r#"{"Rect":[1,2]}"#,
            r#"{"a":[1,2]}"#,
        ] {
            let packed = pack(array_for_a_struct);
            assert!(from_msgpack::<Point>(&packed).is_none());
            assert!(from_msgpack::<Vec<Point>>(&packed).is_none());
            assert!(from_msgpack::<Shape>(&packed).is_none());
            assert!(from_msgpack::<BTreeMap<String, Point>>(&packed).is_none());
        }
        // Human-readable forms, as in JSON.
        let at: std::net::IpAddr = from_msgpack(&pack(r#""127.0.0.1""#)).unwrap();
        assert_eq!(at, std::net::IpAddr::from([127, 0, 0, 1]));
    }
}
