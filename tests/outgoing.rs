//! `#[derive(Outgoing)]`: routes, nested namespaces, payloads with serde attributes, `From`.

use serde::Serialize;
use std::borrow::Cow;
use zocket::{Outgoing, TS};

struct Payload<'a, O>(&'a O);
impl<O: Outgoing> Serialize for Payload<'_, O> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_payload(s)
    }
}
fn json<O: Outgoing>(o: &O) -> String {
    serde_json::to_string(&Payload(o)).unwrap()
}

#[derive(Serialize, TS)]
struct Announcement {
    text: String,
}

#[derive(Outgoing)]
enum Chat {
    #[zocket(route = "onMessage")]
    Message { text: String, from: String },
    #[zocket(route = "typing")]
    #[serde(rename_all = "camelCase")]
    Typing {
        user_id: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        #[serde(rename = "on")]
        is_typing: bool,
    },
}

#[derive(Outgoing)]
enum Out {
    #[zocket(route = "system.announcement")]
    Announcement(Announcement),
    #[zocket(route = "system.shutdown")]
    Shutdown,
    #[zocket(nest = "chat")]
    Chat(Chat),
    #[zocket(route = "n")]
    Number(u32),
}

#[test]
fn routes_are_static_or_nested() {
    assert_eq!(Out::Shutdown.route(), "system.shutdown");
    assert!(matches!(Out::Shutdown.route(), Cow::Borrowed(_)));
    let nested = Out::Chat(Chat::Message {
        text: "a".into(),
        from: "b".into(),
    });
    assert_eq!(nested.route(), "chat.onMessage");
    assert_eq!(
        Out::routes(),
        [
            "system.announcement",
            "system.shutdown",
            "chat.onMessage",
            "chat.typing",
            "n"
        ]
    );
}

#[test]
fn payloads_follow_serde_attributes() {
    assert_eq!(json(&Out::Shutdown), "null");
    assert_eq!(json(&Out::Number(7)), "7");
    assert_eq!(json(&Out::from(Announcement { text: "hi".into() })), r#"{"text":"hi"}"#);
    let typing = Chat::Typing {
        user_id: 4,
        note: None,
        is_typing: true,
    };
    assert_eq!(json(&typing), r#"{"userId":4,"on":true}"#);
    let typing = Chat::Typing {
        user_id: 4,
        note: Some("x".into()),
        is_typing: false,
    };
    assert_eq!(json(&Out::from(typing)), r#"{"userId":4,"note":"x","on":false}"#);
}

#[test]
fn newtype_variants_convert_with_from() {
    assert!(matches!(Out::from(3u32), Out::Number(3)));
    let out: Out = Chat::Message {
        text: "t".into(),
        from: "f".into(),
    }
    .into();
    assert_eq!(out.route(), "chat.onMessage");
    assert_eq!(json(&out), r#"{"text":"t","from":"f"}"#);
}

#[derive(Outgoing)]
#[allow(dead_code)]
enum Inner {
    #[zocket(route = "message")]
    Message,
}

#[derive(Outgoing)]
#[allow(dead_code)]
enum Clash {
    #[zocket(route = "chat.message")]
    Direct,
    #[zocket(nest = "chat")]
    Nested(Inner),
}

#[test]
#[should_panic(expected = "the outgoing route \"chat.message\" is declared twice")]
fn routes_colliding_through_nesting_are_refused_when_the_server_is_built() {
    assert_eq!(Clash::routes(), ["chat.message", "chat.message"]);
    let zo = zocket::Zocket::<zocket::NoHeaders, Clash>::new();
    let router = zo.router();
    let _ = zo.server(router);
}
