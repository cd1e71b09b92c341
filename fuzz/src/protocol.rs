//! The protocol decoder (`zocket-protocol`) under arbitrary frames, JSON and MessagePack.
//!
//! Input: `[codec, frame...]`: an even first byte for JSON, odd for MessagePack.
//!
//! JSON frames are held to a model: what `JSON.parse` would make of them (serde_json's `Value`,
//! where a repeated key keeps its last value). Both codecs must echo a decoded `rpcId` into a
//! reply that decodes back to the same id, and a payload must convert to valid JSON or fail
//! cleanly. A MessagePack payload the server reads without converting (`msgpack::is_plain`)
//! must read as the same value as its JSON form.

use serde::de::IgnoredAny;
use serde_json::Value;
use zocket::protocol::{Codec, RPC_RESULT};

/// Runs every check on one input; panics on a disagreement.
pub fn check(data: &[u8]) {
    let [codec, ref frame @ ..] = *data else {
        return;
    };
    let codec = if codec % 2 == 0 { Codec::Json } else { Codec::MsgPack };
    let decoded = codec.decode(frame);
    if codec == Codec::Json {
        json_model(frame, &decoded);
    }
    let Ok(incoming) = decoded else {
        return;
    };
    if let Some(Ok(json)) = incoming.payload.map(|payload| codec.payload_to_json(payload)) {
        assert!(
            serde_json::from_slice::<IgnoredAny>(&json).is_ok(),
            "a payload converts to valid JSON: {:?}",
            String::from_utf8_lossy(&json)
        );
    }
    if let (Codec::MsgPack, Some(payload)) = (codec, incoming.payload) {
        plain_model(payload);
    }
    if let Some(rpc_id) = incoming.rpc_id {
        let mut reply = Vec::new();
        codec
            .write_reply(&mut reply, rpc_id, &Value::Null)
            .expect("null always encodes");
        let back = codec
            .decode(&reply)
            .unwrap_or_else(|bad| panic!("the reply to {rpc_id:?} does not decode: {}", bad.message));
        assert_eq!(back.route, RPC_RESULT);
        assert_eq!(back.rpc_id, Some(rpc_id), "the reply carries the call's id unchanged");
    }
}

/// A MessagePack payload that `is_plain` passes (the server then reads it straight into the
/// handler's type) reads as the same value as its JSON form (what it reads any other from), but
/// for the last bits of a float (see `same`).
fn plain_model(payload: &[u8]) {
    if !zocket::protocol::msgpack::is_plain(payload) {
        return;
    }
    let json = Codec::MsgPack
        .payload_to_json(payload)
        .expect("a plain payload has a JSON form");
    let from_json: Value = serde_json::from_slice(&json).expect("its JSON form is JSON");
    let direct: Value = crate::rmp_serde::from_slice(payload).expect("a plain payload reads as a value");
    assert!(
        same(&direct, &from_json),
        "read directly and through its JSON form: {direct} vs {from_json}"
    );
}

/// Equal values, except that floats need only agree to 12 significant digits: serde_json's
/// float parsing (without its `float_roundtrip` feature) can be a few bits off for extreme
/// exponents (-1.2583712138194633e-228 reads 2 bits low), where the direct read takes the
/// float's bits as sent.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() && y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x == y || (x - y).abs() <= x.abs().max(y.abs()) * 1e-12
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((kx, x), (ky, y))| kx == ky && same(x, y))
        }
        _ => a == b,
    }
}

/// A JSON frame that `JSON.parse` reads as an object with a string `type` and a string (or
/// null, or no) `rpcId` decodes, to the same route, payload and id; any other such frame is
/// refused.
fn json_model(frame: &[u8], decoded: &Result<zocket::protocol::Incoming<'_>, zocket::protocol::BadFrame<'_>>) {
    let Ok(value) = serde_json::from_slice::<Value>(frame) else {
        // `Value` refuses some text the decoder skips over unread (a lone surrogate escape in
        // a field it ignores); what the decoder returns must still be JSON.
        if let Ok(incoming) = decoded {
            for raw in incoming.payload.iter().chain(&incoming.rpc_id) {
                assert!(serde_json::from_slice::<IgnoredAny>(raw).is_ok());
            }
        }
        return;
    };
    let object = value.as_object();
    let route = object.and_then(|object| object.get("type")).and_then(Value::as_str);
    let rpc_id = object.and_then(|object| object.get("rpcId")).filter(|id| !id.is_null());
    let payload = object.and_then(|object| object.get("payload")).filter(|p| !p.is_null());
    let valid = route.is_some() && rpc_id.is_none_or(Value::is_string);
    match decoded {
        Ok(incoming) => {
            assert!(valid, "decoded a frame JSON.parse does not read as a message: {value}");
            assert_eq!(Some(&*incoming.route), route);
            let parse = |raw: &[u8]| serde_json::from_slice::<Value>(raw).expect("a raw value is JSON");
            assert_eq!(incoming.payload.map(parse).as_ref(), payload);
            assert_eq!(incoming.rpc_id.map(parse).as_ref(), rpc_id);
        }
        Err(bad) => assert!(!valid, "refused ({}) a valid message: {value}", bad.message),
    }
}
