//! Derive macros for [zocket](https://docs.rs/zocket).
//!
//! This crate provides `#[derive(Outgoing)]`, which turns an enum into the closed set of
//! messages a zocket server may send: each variant names its route and its payload; and
//! `#[derive(Route)]`, which declares an incoming route on its input type. Use them through the
//! re-exports (`zocket::Outgoing`, `zocket_client::Route`, `zocket_core::Route`, ...) rather
//! than depending on this crate directly.
//!
//! The generated code names the traits in `zocket-core` through whichever of `zocket-core`,
//! `zocket` or `zocket-client` the crate depends on (and serde only through it), so it compiles
//! in a crate of shared declarations that depends on any one of them, and in crates that do not
//! depend on serde.

mod attr;
mod declare;
mod decode;
mod expand;
mod krate;
mod outgoing;
mod route;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Implements `Outgoing` (and, for clients, `DecodeOutgoing`) for an enum: one variant per
/// message.
///
/// Every variant carries exactly one `#[zocket(...)]` attribute:
///
/// - `#[zocket(route = "a.b.c")]`: the variant is sent on its own route. It may be
///   - a unit variant `V`: the payload is unit (`null` in JSON);
///   - a newtype variant `V(T)` with `T: Serialize + TS`: the payload is `T`, serialized as is;
///   - a struct variant `V { a: A, b: B }`: the payload is an object of its fields, serialized
///     as if they were a struct deriving `Serialize`: the variant's `#[serde(...)]` attributes
///     go on that struct (so they must be container attributes, e.g. `rename_all =
///     "camelCase"`), each field's go on the field (e.g. `rename = "userId"`,
///     `skip_serializing_if = "Option::is_none"`, `flatten`, `serialize_with = "path"`).
///     Nothing is cloned to serialize them. Each field's type implements `TS`.
///
///   Tuple variants with two or more fields are rejected: use a struct variant.
/// - `#[zocket(nest = "ns")]` on a newtype variant `V(Inner)` where `Inner: Outgoing`: the
///   variant sends `Inner`'s messages under the prefix, on route `"ns." + inner.route()`, with
///   `Inner`'s payload. Its `routes()` are `Inner`'s, prefixed.
///
/// Routes and nest prefixes are checked at compile time: dot-separated segments, each non-empty
/// and made of ASCII letters, digits, `_` or `-`, none starting with `__` (reserved for protocol
/// frames). Two variants may not share a route, nor a nest prefix.
///
/// For `zocket::typescript`, the derive also describes each route's payload in TypeScript: a
/// newtype's `T` by name, a struct variant's fields written out inline (ts-rs reads the same
/// `#[serde(...)]` attributes), a unit variant as `null`, nested enums under their prefix.
///
/// The derive also implements `DecodeOutgoing` (a route and its payload back into the variant,
/// for clients), bounded on every payload type implementing `Deserialize`: an enum whose
/// payloads only serialize still compiles, without that impl. A struct variant decodes with the
/// same `#[serde(...)]` attributes; a field with `with = ".."` or `deserialize_with = ".."`
/// needs its type's deserializer to exist.
///
/// The derive also implements `From<T>` for the enum for each newtype variant `V(T)` (route or
/// nest), except for a type held by more than one newtype variant (compared as written), where
/// the conversion would be ambiguous.
///
/// Only enums without generic parameters or lifetimes are supported. `#[serde(...)]` on unit
/// and newtype variants, or on a newtype variant's field, has no effect on the payload.
///
/// # Example
///
/// ```ignore
/// use zocket::Outgoing;
///
/// #[derive(Outgoing)]
/// enum Chat {
///     #[zocket(route = "message")]
///     Message(ChatMessage),                 // payload: ChatMessage as serialized
///     #[zocket(route = "typing")]
///     #[serde(rename_all = "camelCase")]
///     Typing { user_id: u64, is_typing: bool }, // payload: {"userId":1,"isTyping":true}
/// }
///
/// #[derive(Outgoing)]
/// enum Out {
///     #[zocket(route = "system.shutdown")]
///     Shutdown,                             // payload: null
///     #[zocket(nest = "chat")]
///     Chat(Chat),                           // routes "chat.message", "chat.typing"
/// }
///
/// assert_eq!(Out::routes(), ["system.shutdown", "chat.message", "chat.typing"]);
/// let out = Out::from(Chat::Typing { user_id: 1, is_typing: true });
/// assert_eq!(out.route(), "chat.typing");
/// ```
///
/// Mistakes are compile errors pointing at the offending code:
///
/// ```ignore
/// #[derive(Outgoing)]
/// enum Out {
///     #[zocket(route = "chat.__rpc_res")] // error: segment `__rpc_res` starts with `__`
///     A,
///     B,                                  // error: variant `B` has no route
///     #[zocket(route = "x")]
///     C(u8, u8),                          // error: tuple variant `C` has 2 fields
/// }
/// ```
#[proc_macro_derive(Outgoing, attributes(zocket, serde))]
pub fn derive_outgoing(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    outgoing::derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Implements `Route` for the input type of an incoming route:
/// `#[zocket(route = "math.add", reply = f64)]`.
///
/// - `route` (required): the route's full name, checked at compile time like the routes of
///   `#[derive(Outgoing)]` (dot-separated segments of ASCII letters, digits, `_` or `-`, none
///   starting with `__`).
/// - `reply` (optional, default `()`): the type of a successful call's reply. The server's
///   handler must return it (or `&'static str` for `String`, `Json<T>` for `T`, `Result<T, E>`
///   for `T`); the client reads it.
///
/// On a struct with fields (or an enum), the type itself is what a call sends and what the
/// server's handler reads (`Input<Self>`). On a unit struct the route takes no input: a call
/// sends no payload and the handler reads none.
///
/// # Example
///
/// ```ignore
/// #[derive(Serialize, Deserialize, Validate, TS, Route)]
/// #[zocket(route = "math.add", reply = f64)]
/// struct Add { a: f64, b: f64 }
///
/// #[derive(Serialize, Route)]
/// #[zocket(route = "whoami", reply = Whoami)]
/// struct GetWhoami;
/// ```
#[proc_macro_derive(Route, attributes(zocket))]
pub fn derive_route(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    declare::derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
