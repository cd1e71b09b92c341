//! `#[derive(Outgoing)]` decodes what it encodes: a route and its payload back into the
//! variant, in JSON and MessagePack, for every variant shape, nested enums and serde
//! attributes; unknown routes are `None`, payloads of the wrong shape errors.

use serde::{Deserialize, Serialize, Serializer};
use zocket_core::{DecodeOutgoing, Outgoing, PayloadOf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
struct Announcement {
    text: String,
}

#[derive(Debug, Clone, PartialEq, Outgoing)]
enum Chat {
    #[zocket(route = "onMessage")]
    Message { text: String, from: String },
    #[zocket(route = "typing")]
    #[serde(rename_all = "camelCase")]
    Typing {
        user_id: u32,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        note: Option<String>,
        #[serde(rename = "on")]
        is_typing: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Outgoing)]
enum Out {
    #[zocket(route = "system.announcement")]
    Announcement(Announcement),
    #[zocket(route = "system.shutdown")]
    Shutdown,
    #[zocket(nest = "chat")]
    Chat(Chat),
    // A nest whose prefix is a prefix of another's: each route still finds its variant.
    #[zocket(nest = "chat.rooms")]
    Rooms(Chat),
    #[zocket(route = "n")]
    Number(u32),
}

fn samples() -> Vec<Out> {
    vec![
        Out::Announcement(Announcement { text: "hi".into() }),
        Out::Shutdown,
        Out::Chat(Chat::Message {
            text: "a".into(),
            from: "b".into(),
        }),
        Out::Chat(Chat::Typing {
            user_id: 7,
            note: None,
            is_typing: true,
        }),
        Out::Rooms(Chat::Typing {
            user_id: 8,
            note: Some("n".into()),
            is_typing: false,
        }),
        Out::Number(42),
    ]
}

fn json<O: Outgoing>(message: &O) -> Vec<u8> {
    serde_json::to_vec(&PayloadOf(message)).unwrap()
}

fn msgpack<O: Outgoing>(message: &O) -> Vec<u8> {
    let mut out = Vec::new();
    PayloadOf(message)
        .serialize(&mut rmp_serde::Serializer::new(&mut out).with_struct_map())
        .unwrap();
    out
}

#[test]
fn every_shape_round_trips_in_json_and_msgpack() {
    for message in samples() {
        let route = message.route();
        assert!(Out::has_route(&route), "{route}");
        let bytes = json(&message);
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let back = Out::decode(&route, &mut de)
            .expect("a known route")
            .expect("a valid payload");
        assert_eq!(back, message, "{route}: {}", String::from_utf8_lossy(&bytes));

        let bytes = msgpack(&message);
        let mut de = rmp_serde::Deserializer::from_read_ref(&bytes);
        let back = Out::decode(&route, &mut de).unwrap().unwrap();
        assert_eq!(back, message, "{route} in MessagePack");
    }
}

#[test]
fn serde_attributes_apply_to_decoding_too() {
    let typing = br#"{"userId":3,"on":true}"#;
    let mut de = serde_json::Deserializer::from_slice(typing);
    let decoded = Out::decode("chat.typing", &mut de).unwrap().unwrap();
    assert_eq!(
        decoded,
        Out::Chat(Chat::Typing {
            user_id: 3,
            note: None,
            is_typing: true
        })
    );
}

#[test]
fn unknown_routes_are_none_and_bad_payloads_errors() {
    for route in ["chat", "chat.nope", "system", "system.shutdown.x", "", "n.n"] {
        assert!(!Out::has_route(route), "{route}");
        let mut de = serde_json::Deserializer::from_str("null");
        assert!(Out::decode(route, &mut de).is_none(), "{route}");
    }
    let mut de = serde_json::Deserializer::from_str(r#"{"text": 5}"#);
    let error = Out::decode("system.announcement", &mut de).unwrap().unwrap_err();
    assert!(error.to_string().contains("invalid type"), "{error}");
    let mut de = serde_json::Deserializer::from_str(r#"{"userId": 1}"#);
    assert!(Out::decode("chat.rooms.typing", &mut de).unwrap().is_err());
}

/// A payload that only serializes: the enum still derives `Outgoing` (a server's), without
/// `DecodeOutgoing`.
struct OnlySerializes;

impl Serialize for OnlySerializes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

impl ts_rs::TS for OnlySerializes {
    type WithoutGenerics = Self;
    type OptionInnerType = Self;
    fn name(_: &ts_rs::Config) -> String {
        "null".into()
    }
    fn inline(_: &ts_rs::Config) -> String {
        "null".into()
    }
}

#[derive(Outgoing)]
enum ServerOnly {
    #[zocket(route = "x")]
    X(OnlySerializes),
}

#[test]
fn an_enum_whose_payloads_only_serialize_still_derives() {
    assert_eq!(ServerOnly::X(OnlySerializes).route(), "x");
    assert_eq!(json(&ServerOnly::X(OnlySerializes)), b"null");
}
