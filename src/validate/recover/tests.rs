//! The recovering deserializer against many payload shapes.

// Most test types are only deserialized, never read.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::{Value, json};

use super::from_value;

/// The issues for `json` as `(path, message)`, after checking the fast path rejects it.
fn issues<T>(json: Value) -> Vec<(Value, String)>
where
    T: serde::de::DeserializeOwned + std::fmt::Debug,
{
    let fast = serde_json::from_slice::<T>(json.to_string().as_bytes());
    assert!(fast.is_err(), "the fast path accepted {json}");
    let issues = from_value::<T>(&json).expect_err("recovery accepted an invalid payload");
    let pairs = issues.into_iter().map(|issue| (json!(issue.path), issue.message));
    pairs.collect()
}

/// Asserts that `from_value` accepts `json` and agrees with the fast path.
fn same_as_serde_json<T>(json: Value)
where
    T: serde::de::DeserializeOwned + std::fmt::Debug + PartialEq,
{
    let bytes = json.to_string().into_bytes();
    let want = serde_json::from_slice::<T>(&bytes).expect("the fast path rejected it");
    assert_eq!(from_value::<T>(&json), Ok(want), "payload {json}");
}

/// `(path, message)` as `issues` returns them.
fn at(path: Value, message: &str) -> (Value, String) {
    (path, message.to_owned())
}

#[derive(Debug, Deserialize, PartialEq)]
struct Add {
    a: f64,
    b: f64,
}

#[test]
fn reports_every_wrong_field() {
    let got = issues::<Add>(json!({"a": "1", "b": null}));
    let want = [
        at(json!(["a"]), "expected a number, got a string"),
        at(json!(["b"]), "expected a number, got null"),
    ];
    assert_eq!(got, want);
}

#[test]
fn structs_are_objects_never_arrays() {
    // serde_json's own fast path reads a struct from an array; the protocol does not.
    let issues = from_value::<Add>(&json!([1, -2])).unwrap_err();
    assert_eq!(issues.len(), 1);
    assert_eq!(
        (issues[0].path.len(), issues[0].message.as_str()),
        (0, "expected an object, got an array")
    );
    #[derive(Debug, Deserialize)]
    struct Outer {
        inner: Add,
        list: Vec<Add>,
    }
    let issues = from_value::<Outer>(&json!({"inner": [1, 2], "list": [{"a": 1, "b": 2}, [3, 4]]})).unwrap_err();
    let paths: Vec<Value> = issues.iter().map(|issue| json!(issue.path)).collect();
    assert_eq!(paths, [json!(["inner"]), json!(["list", 1])]);
}

#[test]
fn valid_payloads_are_ok() {
    same_as_serde_json::<Add>(json!({"a": 1, "b": 2.5, "unknown": [null]}));
    let got = issues::<Add>(json!([1, -2, 3]));
    assert_eq!(got, [at(json!([]), "expected an object, got an array")]);
    same_as_serde_json::<(u8, String, char, (), Option<i8>)>(json!([7, "x", "y", null, -3]));
    same_as_serde_json::<Vec<Option<Vec<u64>>>>(json!([null, [], [u64::MAX]]));
    same_as_serde_json::<BTreeMap<i64, Value>>(json!({"-5": {"a": [1, "x"]}, "7": null}));
    same_as_serde_json::<Shape>(json!({"Empty": null}));
    same_as_serde_json::<Option<Shape>>(json!({"Rect": {"w": 1, "h": 2}}));
    same_as_serde_json::<(f32, i128, u128)>(json!([1, -1, 1]));
}

#[derive(Debug, Deserialize)]
struct Three {
    a: u32,
    b: String,
    c: Vec<u8>,
    d: Option<u8>,
    #[serde(default)]
    e: bool,
}

#[test]
fn reports_every_missing_field() {
    let got = issues::<Three>(json!({}));
    let want = [
        at(json!(["a"]), "required"),
        at(json!(["b"]), "required"),
        at(json!(["c"]), "required"),
    ];
    assert_eq!(got, want);
}

#[test]
fn mixes_wrong_and_missing_fields() {
    let got = issues::<Three>(json!({"b": 1, "d": null, "zzz": true}));
    let want = [
        at(json!(["b"]), "expected a string, got a number"),
        at(json!(["a"]), "required"),
        at(json!(["c"]), "required"),
    ];
    assert_eq!(got, want);
}

#[test]
fn optional_and_default_fields_may_be_absent_or_null() {
    let got = issues::<Three>(json!({"a": 1, "b": "x", "c": [300]}));
    assert_eq!(got, [at(json!(["c", 0]), "expected an integer from 0 to 255, got 300")]);
    let three = from_value::<Three>(&json!({"a": 1, "b": "x", "c": [], "d": null})).unwrap();
    assert_eq!((three.d, three.e), (None, false));
    let got = issues::<Three>(json!({"a": 1, "b": "x", "c": [], "d": "no"}));
    assert_eq!(got, [at(json!(["d"]), "expected an integer, got a string")]);
}

#[derive(Debug, Deserialize)]
struct Outer {
    user: User,
    id: u64,
}

#[derive(Debug, Deserialize)]
struct User {
    name: String,
    tags: Vec<String>,
}

#[test]
fn nested_paths() {
    let got = issues::<Outer>(json!({"user": {"tags": ["x", 5]}, "id": -1}));
    let want = [
        at(
            json!(["id"]),
            "expected an integer from 0 to 18446744073709551615, got -1",
        ),
        at(json!(["user", "tags", 1]), "expected a string, got a number"),
        at(json!(["user", "name"]), "required"),
    ];
    assert_eq!(got, want);
}

#[test]
fn array_index_paths() {
    #[derive(Debug, Deserialize)]
    struct Items {
        items: Vec<Item>,
    }
    #[derive(Debug, Deserialize)]
    struct Item {
        n: i8,
    }
    let got = issues::<Items>(json!({"items": [{"n": 1}, {"n": "x"}, {}, 7, {"n": -129}]}));
    let want = [
        at(json!(["items", 1, "n"]), "expected an integer, got a string"),
        at(json!(["items", 2, "n"]), "required"),
        at(json!(["items", 3]), "expected an object, got a number"),
        at(
            json!(["items", 4, "n"]),
            "expected an integer from -128 to 127, got -129",
        ),
    ];
    assert_eq!(got, want);
}

#[test]
fn renamed_fields_use_json_names() {
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Renamed {
        first_name: String,
        #[serde(rename = "ID")]
        id: u32,
        inner_list: Vec<Inner>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    struct Inner {
        max_size: u8,
    }
    let got = issues::<Renamed>(json!({"firstName": 1, "innerList": [{"MAX_SIZE": true}, {}]}));
    let want = [
        at(json!(["firstName"]), "expected a string, got a number"),
        at(
            json!(["innerList", 0, "MAX_SIZE"]),
            "expected an integer, got a boolean",
        ),
        at(json!(["innerList", 1, "MAX_SIZE"]), "required"),
        at(json!(["ID"]), "required"),
    ];
    assert_eq!(got, want);
}

#[test]
fn integer_ranges() {
    #[derive(Debug, Deserialize)]
    struct Ints {
        a: u8,
        b: i64,
        c: u32,
        d: i16,
        e: u128,
        f: i128,
        g: u64,
    }
    let payload = json!({"a": 300, "b": 1.5, "c": -1, "d": 40000, "e": -5, "f": 2.0, "g": 1e20});
    let want = [
        at(json!(["a"]), "expected an integer from 0 to 255, got 300"),
        at(json!(["b"]), "expected an integer, got 1.5"),
        at(json!(["c"]), "expected an integer from 0 to 4294967295, got -1"),
        at(json!(["d"]), "expected an integer from -32768 to 32767, got 40000"),
        at(
            json!(["e"]),
            &format!("expected an integer from 0 to {}, got -5", u128::MAX),
        ),
        at(json!(["f"]), "expected an integer, got 2.0"),
        at(json!(["g"]), "expected an integer, got 1e+20"),
    ];
    assert_eq!(issues::<Ints>(payload), want);
    let ok = json!({"a": 255, "b": i64::MIN, "c": 0, "d": -32768, "e": u64::MAX, "f": -1, "g": 3});
    assert!(from_value::<Ints>(&ok).is_ok());
}

#[derive(Debug, Deserialize, PartialEq)]
enum Shape {
    Empty,
    Circle(f64),
    Pair(u8, u8),
    Rect { w: f64, h: f64 },
}

#[derive(Debug, Deserialize, PartialEq)]
struct Drawing {
    shape: Shape,
    color: Color,
    n: u8,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Color {
    Red,
    Green,
    #[serde(other)]
    Unknown,
}

#[test]
fn valid_enums() {
    let cases = [
        (json!("Empty"), Shape::Empty),
        (json!({"Empty": null}), Shape::Empty),
        (json!({"Circle": 2}), Shape::Circle(2.0)),
        (json!({"Pair": [1, 2]}), Shape::Pair(1, 2)),
        (json!({"Rect": {"w": 1, "h": 2}}), Shape::Rect { w: 1.0, h: 2.0 }),
    ];
    for (payload, shape) in cases {
        let drawing = json!({"shape": payload, "color": "purple", "n": 1});
        let want = Drawing {
            shape,
            color: Color::Unknown,
            n: 1,
        };
        assert_eq!(from_value::<Drawing>(&drawing), Ok(want));
    }
    assert_eq!(from_value::<Color>(&json!("green")), Ok(Color::Green));
}

#[test]
fn enum_errors_do_not_hide_later_fields() {
    let unknown = "unknown variant `Oval`, expected one of `Empty`, `Circle`, `Pair`, `Rect`";
    let cases = [
        (json!("Oval"), at(json!(["shape"]), unknown)),
        (json!({"Oval": 1}), at(json!(["shape"]), unknown)),
        (
            json!(3),
            at(
                json!(["shape"]),
                "expected a variant name or an object with a single key, got a number",
            ),
        ),
        (
            json!({"Circle": 1, "Empty": null}),
            at(
                json!(["shape"]),
                "expected a variant name or an object with a single key, got an object",
            ),
        ),
        (
            json!({"Circle": "big"}),
            at(json!(["shape", "Circle"]), "expected a number, got a string"),
        ),
        (
            json!("Circle"),
            at(json!(["shape"]), "expected an object {\"Circle\": ...}, got a string"),
        ),
        (
            json!({"Empty": 1}),
            at(json!(["shape", "Empty"]), "expected null, got a number"),
        ),
        (
            json!({"Pair": [1]}),
            at(json!(["shape", "Pair"]), "expected an array of 2 elements, got 1"),
        ),
        (
            json!({"Rect": {"w": "1"}}),
            at(json!(["shape", "Rect", "w"]), "expected a number, got a string"),
        ),
    ];
    for (shape, first) in cases {
        let got = issues::<Drawing>(json!({"color": 5, "n": "x", "shape": shape}));
        let mut want = vec![
            at(
                json!(["color"]),
                "expected a variant name or an object with a single key, got a number",
            ),
            at(json!(["n"]), "expected an integer, got a string"),
            first,
        ];
        if shape == json!({"Rect": {"w": "1"}}) {
            want.push(at(json!(["shape", "Rect", "h"]), "required"));
        }
        assert_eq!(got, want, "shape {shape}");
    }
}

#[test]
fn deep_nesting_does_not_blow_up() {
    #[derive(Debug, Deserialize)]
    struct Node {
        next: Option<Box<Node>>,
        v: u8,
    }
    let mut payload = json!({"v": "bottom"});
    for _ in 0..120 {
        payload = json!({"next": payload, "v": 1});
    }
    let got = issues::<Node>(payload.clone());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.as_array().map(Vec::len), Some(121));
    assert_eq!(got[0].1, "expected an integer, got a string");
    // The deepest payload serde_json parses (127 levels), into a `Value` and a wrong type.
    let deepest = format!("{}{}", "[".repeat(127), "]".repeat(127));
    let payload: Value = serde_json::from_str(&deepest).unwrap();
    assert!(from_value::<Value>(&payload).is_ok());
    assert_eq!(from_value::<Add>(&payload).map_err(|issues| issues.len()), Err(1));
}

#[test]
fn wrong_root_is_one_issue_with_an_empty_path() {
    assert_eq!(
        issues::<Add>(json!("hello")),
        [at(json!([]), "expected an object, got a string")]
    );
    assert_eq!(
        issues::<Vec<u8>>(json!({})),
        [at(json!([]), "expected an array, got an object")]
    );
    assert_eq!(
        issues::<Shape>(json!(null)),
        [at(
            json!([]),
            "expected a variant name or an object with a single key, got null"
        )]
    );
}

#[test]
fn deny_unknown_fields_reports_each_unknown_field() {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        a: u8,
        b: u8,
    }
    let got = issues::<Strict>(json!({"a": "x", "c": 1, "d": 2}));
    let want = [
        at(json!(["a"]), "expected an integer, got a string"),
        at(json!(["c"]), "unknown field `c`, expected `a` or `b`"),
        at(json!(["d"]), "unknown field `d`, expected `a` or `b`"),
        at(json!(["b"]), "required"),
    ];
    assert_eq!(got, want);
}

#[derive(Debug, Deserialize)]
#[serde(try_from = "u32")]
struct Even(u32);

impl TryFrom<u32> for Even {
    type Error = String;
    fn try_from(n: u32) -> Result<Self, String> {
        if n.is_multiple_of(2) {
            Ok(Even(n))
        } else {
            Err(format!("{n} is odd"))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
struct NonEmpty(String);

impl TryFrom<String> for NonEmpty {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, &'static str> {
        if s.is_empty() {
            Err("must not be empty")
        } else {
            Ok(NonEmpty(s))
        }
    }
}

#[test]
fn custom_errors_become_issues() {
    #[derive(Debug, Deserialize)]
    struct Custom {
        a: u8,
        even: Even,
        list: Vec<Even>,
        z: u8,
    }
    // The placeholder (0) is even, so checking goes on after each custom error.
    let got = issues::<Custom>(json!({"a": "x", "even": 3, "list": [2, 5, "s", 7], "z": -1}));
    let want = [
        at(json!(["a"]), "expected an integer, got a string"),
        at(json!(["even"]), "3 is odd"),
        at(json!(["list", 1]), "5 is odd"),
        at(json!(["list", 2]), "expected an integer, got a string"),
        at(json!(["list", 3]), "7 is odd"),
        at(json!(["z"]), "expected an integer from 0 to 255, got -1"),
    ];
    assert_eq!(got, want);

    #[derive(Debug, Deserialize)]
    struct Stops {
        a: u8,
        name: NonEmpty,
        z: u8,
    }
    // The placeholder ("") is rejected too: checking stops there, earlier issues are kept.
    let got = issues::<Stops>(json!({"a": -1, "name": "", "z": "late"}));
    let want = [
        at(json!(["a"]), "expected an integer from 0 to 255, got -1"),
        at(json!(["name"]), "must not be empty"),
    ];
    assert_eq!(got, want);
}

#[test]
fn tuples_and_arrays() {
    #[derive(Debug, Deserialize)]
    struct Tuples {
        pair: (u8, String),
        arr: [bool; 3],
        point: Point,
    }
    #[derive(Debug, Deserialize)]
    struct Point(i32, i32);
    let got = issues::<Tuples>(json!({"arr": [true, 1], "pair": [1, 2, 3], "point": {}}));
    let want = [
        at(json!(["arr"]), "expected an array of 3 elements, got 2"),
        at(json!(["arr", 1]), "expected a boolean, got a number"),
        at(json!(["pair"]), "expected an array of 2 elements, got 3"),
        at(json!(["pair", 1]), "expected a string, got a number"),
        at(json!(["point"]), "expected an array, got an object"),
    ];
    assert_eq!(got, want);
}

#[test]
fn maps_with_parsed_keys() {
    let ok = from_value::<HashMap<u32, bool>>(&json!({"1": true, "22": false}));
    assert_eq!(ok, Ok(HashMap::from([(1, true), (22, false)])));
    let got = issues::<BTreeMap<u8, bool>>(json!({"1": 0, "300": true, "x": false}));
    let want = [
        at(json!(["1"]), "expected a boolean, got a number"),
        at(
            json!(["300"]),
            "invalid key: expected an integer from 0 to 255, got 300",
        ),
        at(json!(["x"]), "invalid key: expected an integer, got a string"),
    ];
    assert_eq!(got, want);
    let bools = from_value::<HashMap<bool, u8>>(&json!({"true": 1}));
    assert_eq!(bools, Ok(HashMap::from([(true, 1)])));
}

#[test]
fn scalars() {
    #[derive(Debug, Deserialize)]
    struct Scalars {
        c: char,
        b: bool,
        u: (),
        s: String,
        bytes: serde_json::Value,
    }
    let got = issues::<Scalars>(json!({"b": "true", "bytes": 1, "c": "ab", "s": [], "u": 0}));
    let want = [
        at(json!(["b"]), "expected a boolean, got a string"),
        at(json!(["c"]), "expected a single character, got a string"),
        at(json!(["s"]), "expected a string, got an array"),
        at(json!(["u"]), "expected null, got a number"),
    ];
    assert_eq!(got, want);
}

#[test]
fn serde_json_types_are_supported() {
    #[derive(Debug, Deserialize)]
    struct Raw {
        raw: Box<serde_json::value::RawValue>,
        any: Value,
        n: u8,
    }
    let payload = json!({"raw": {"x": [1, 2]}, "any": {"deep": [null]}, "n": 1});
    let raw = from_value::<Raw>(&payload).unwrap();
    assert_eq!(raw.raw.get(), r#"{"x":[1,2]}"#);
    assert_eq!(raw.any, json!({"deep": [null]}));
    let got = issues::<Raw>(json!({"raw": 1, "any": 2}));
    assert_eq!(got, [at(json!(["n"]), "required")]);
}

#[test]
fn tagged_untagged_and_flattened() {
    #[derive(Debug, Deserialize)]
    #[serde(tag = "type")]
    enum Tagged {
        A { x: u8 },
    }
    #[derive(Debug, Deserialize)]
    #[serde(untagged)]
    enum Untagged {
        N(u8),
        S(String),
    }
    #[derive(Debug, Deserialize)]
    struct Mixed {
        a: u8,
        t: Tagged,
        u: Untagged,
        #[serde(flatten)]
        rest: Flat,
    }
    #[derive(Debug, Deserialize)]
    struct Flat {
        k: u8,
    }
    let ok = json!({"a": 1, "t": {"type": "A", "x": 2}, "u": "s", "k": 3});
    assert!(from_value::<Mixed>(&ok).is_ok());

    #[derive(Debug, Deserialize)]
    struct NoFlatten {
        t: Tagged,
        u: Untagged,
        z: u8,
    }
    let got = issues::<NoFlatten>(json!({"t": {"type": "A"}, "u": [], "z": "x"}));
    assert_eq!(got, [at(json!(["t", "x"]), "required")]);
    // No placeholder fits a tagged or untagged enum: checking stops at the first error in one
    // (reported at the enum's path), issues found before it are kept.
    let got = issues::<NoFlatten>(json!({"t": {"type": "A", "x": 1}, "u": [], "z": "x"}));
    let want = [at(
        json!(["u"]),
        "data did not match any variant of untagged enum Untagged",
    )];
    assert_eq!(got, want);
    let got = issues::<NoFlatten>(json!({"t": {"type": "A", "x": "1"}, "u": [], "z": "x"}));
    assert_eq!(got, [at(json!(["t"]), "invalid type: string \"1\", expected u8")]);
    // Flattened fields are only checked as a whole, at the struct; that error is not reported
    // when something inside the struct was (it might come from a placeholder).
    let got = issues::<Mixed>(json!({"a": "x", "t": {"type": "A", "x": 2}, "u": 1, "k": "y"}));
    assert_eq!(got, [at(json!(["a"]), "expected an integer, got a string")]);
    let got = issues::<Mixed>(json!({"a": 1, "t": {"type": "A", "x": 2}, "u": 1, "k": "y"}));
    let want = [at(json!([]), "invalid type: string \"y\", expected u8")];
    assert_eq!(got, want);
}

#[test]
fn reruns_are_bounded() {
    #[derive(Debug, Deserialize)]
    struct Item {
        n: u8,
    }
    let payload = Value::Array(vec![json!({}); 1000]);
    let got = issues::<Vec<Item>>(payload);
    assert_eq!(got.len(), super::MAX_FIXES + 1);
    assert!(got.iter().all(|(_, message)| message == "required"));
}

#[test]
fn work_is_bounded() {
    #[derive(Debug, Deserialize)]
    struct Big {
        a: Vec<u8>,
        b: Vec<Item>,
    }
    #[derive(Debug, Deserialize)]
    struct Item {
        n: u8,
    }
    // Each run walks `a` (600 000 values): after two runs no fix is tried any more.
    let a = Value::Array(vec![json!(0); 600_000]);
    let got = issues::<Big>(json!({"a": a, "b": vec![json!({}); 10]}));
    let want = [
        at(json!(["b", 0, "n"]), "required"),
        at(json!(["b", 1, "n"]), "required"),
    ];
    assert_eq!(got, want);
}

#[test]
fn placeholders_are_bounded() {
    #[derive(Debug, Deserialize)]
    enum Expr {
        Add(Box<Expr>, Box<Expr>),
        Lit(f64),
    }
    #[derive(Debug, Deserialize)]
    struct Calc {
        e: Expr,
        z: u8,
    }
    let got = issues::<Calc>(json!({"e": 5, "z": "x"}));
    assert_eq!(
        got,
        [at(
            json!(["e"]),
            "expected a variant name or an object with a single key, got a number"
        )]
    );
    let ok = json!({"e": {"Add": [{"Lit": 1}, {"Lit": 2}]}, "z": 1});
    assert!(from_value::<Calc>(&ok).is_ok());
}

#[test]
fn never_panics_on_odd_values() {
    let values = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1.5),
        json!(""),
        json!("x"),
        json!([]),
        json!([null, [], {}]),
        json!({}),
        json!({"a": {"b": [1, "2", null]}, "": 0}),
        json!({"Circle": []}),
        json!({"shape": {"Rect": []}, "color": {"red": 1}}),
    ];
    for value in values {
        let _ = from_value::<Add>(&value);
        let _ = from_value::<Drawing>(&value);
        let _ = from_value::<Outer>(&value);
        let _ = from_value::<Three>(&value);
        let _ = from_value::<Shape>(&value);
        let _ = from_value::<(u8, Vec<Option<Shape>>)>(&value);
        let _ = from_value::<HashMap<i8, Value>>(&value);
        let _ = from_value::<Value>(&value);
        let _ = from_value::<()>(&value);
    }
}

#[test]
fn errors_that_placeholders_may_cause_are_not_reported() {
    #[derive(Debug, Deserialize)]
    #[serde(try_from = "RawRange")]
    struct Range(u8, u8);
    #[derive(Debug, Deserialize)]
    struct RawRange {
        lo: u8,
        hi: u8,
    }
    impl TryFrom<RawRange> for Range {
        type Error = &'static str;
        fn try_from(raw: RawRange) -> Result<Self, &'static str> {
            if raw.lo <= raw.hi {
                Ok(Range(raw.lo, raw.hi))
            } else {
                Err("lo must not be above hi")
            }
        }
    }
    #[derive(Debug, Deserialize)]
    struct Query {
        range: Range,
        z: u8,
    }
    // `hi` becomes 0, so the range check fails because of the placeholder: only the real
    // issue is reported, and the placeholder range (0, 0) passes, so checking goes on.
    let got = issues::<Query>(json!({"range": {"lo": 5, "hi": "x"}, "z": "late"}));
    let want = [
        at(json!(["range", "hi"]), "expected an integer, got a string"),
        at(json!(["z"]), "expected an integer, got a string"),
    ];
    assert_eq!(got, want);
    // A range check on valid fields is reported at the range.
    let got = issues::<Query>(json!({"range": {"lo": 5, "hi": 1}, "z": "late"}));
    let want = [
        at(json!(["range"]), "lo must not be above hi"),
        at(json!(["z"]), "expected an integer, got a string"),
    ];
    assert_eq!(got, want);
}

#[test]
fn std_and_adjacently_tagged_types() {
    #[derive(Debug, Deserialize)]
    #[serde(tag = "t", content = "c")]
    enum Adjacent {
        A { x: u8 },
        B(String),
    }
    #[derive(Debug, Deserialize)]
    #[serde(transparent)]
    struct Transparent {
        v: u8,
    }
    #[derive(Debug, Deserialize)]
    struct Misc {
        adj: Adjacent,
        d: std::time::Duration,
        ip: std::net::IpAddr,
        tr: Transparent,
        z: Box<str>,
    }
    let ok = json!({
        "adj": {"t": "A", "c": {"x": 1}}, "ip": "1.2.3.4", "d": {"secs": 1, "nanos": 0},
        "tr": 3, "z": "s",
    });
    assert!(from_value::<Misc>(&ok).is_ok());
    let got = issues::<Misc>(json!({"adj": {"t": "B", "c": "s"}, "d": {}, "tr": "3", "z": 1}));
    let want = [
        at(json!(["d", "secs"]), "required"),
        at(json!(["d", "nanos"]), "required"),
        at(json!(["tr"]), "expected an integer, got a string"),
        at(json!(["z"]), "expected a string, got a number"),
        at(json!(["ip"]), "required"),
    ];
    assert_eq!(got, want);
    // The content of an adjacently tagged enum is buffered when it comes before the tag (and
    // keys are sorted): it is only checked as a whole, and no placeholder fits it.
    let got = issues::<Misc>(json!({"adj": {"t": "B", "c": 1}, "d": {}}));
    assert_eq!(
        got,
        [at(json!(["adj"]), "invalid type: integer `1`, expected a string")]
    );
    // No placeholder string parses as an IP address: checking stops there too.
    let got = issues::<Misc>(json!({"d": [1], "ip": "nope", "tr": "3"}));
    let want = [
        at(json!(["d"]), "expected an object, got an array"),
        at(json!(["ip"]), "invalid IP address syntax"),
    ];
    assert_eq!(got, want);
}
