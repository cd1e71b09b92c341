//! TypeScript declarations of a server's routes, for end-to-end types in TypeScript clients.
//!
//! [`export`] renders one self-contained `.ts` module: a declaration for every named type that
//! crosses the wire (from [`ts_rs`], so `#[serde(rename...)]` and friends are honoured), and an
//! `AppRouter` type with the headers, every incoming route (its `input` and `output`) and every
//! outgoing route (its payload), keyed by full route name. The TypeScript client in
//! `clients/typescript` turns it into `client.chat.message(input): Promise<output>` and
//! `client.on.chat.onMessage(cb)`.
//!
//! Every type that crosses the wire implements [`TS`](trait@crate::TS): the `T` of each
//! [`Input<T>`](crate::Input), each handler's reply ([`IntoReply::Ok`](crate::IntoReply::Ok)),
//! each outgoing payload and the headers. Derive it next to `Serialize`/`Deserialize`:
//!
//! ```
//! use garde::Validate;
//! use serde::{Deserialize, Serialize};
//! use zocket::{Input, Json, NoHeaders, Outgoing, TS, Zocket};
//!
//! #[derive(Deserialize, Validate, TS)]
//! struct Greet {
//!     #[garde(length(min = 1))]
//!     name: String,
//! }
//!
//! #[derive(Serialize, TS)]
//! #[serde(rename_all = "camelCase")]
//! struct Greeting {
//!     text: String,
//!     sent_at: u64,
//! }
//!
//! #[derive(Outgoing)]
//! enum Out {
//!     #[zocket(route = "chat.onMessage")]
//!     Message { text: String, from: String },
//! }
//!
//! async fn greet(Input(g): Input<Greet>) -> Json<Greeting> {
//!     Json(Greeting { text: format!("Hello, {}!", g.name), sent_at: 0 })
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let zo = Zocket::<NoHeaders, Out>::new();
//! let router = zo.router().route("greet", greet);
//! let server = zo.server(router);
//! let ts = zocket::typescript::export(&server);
//! assert!(ts.contains("export type Greet = { name: string, };"));
//! assert!(ts.contains(r#""greet": { input: Greet, output: Greeting },"#));
//! assert!(ts.contains(r#""chat.onMessage": { text: string, from: string, },"#));
//! # }
//! ```
//!
//! `#[derive(TS)]` expands to paths in the `ts_rs` crate: add `ts-rs` (the version zocket uses)
//! to your dependencies, or name zocket's re-export on each type with
//! `#[ts(crate = "zocket::ts_rs")]`.
//!
//! Notes on the mapping:
//! - 64- and 128-bit integers are `number` (JSON has no other numbers; values past 2^53 lose
//!   precision in JavaScript).
//! - A handler that reads no payload has input `void`: call it with no argument.
//! - ts-rs describes what serde *writes*. For an input field that may be omitted because it has
//!   a `#[serde(default)]`, tell TypeScript so: `#[ts(optional)]` on an `Option`, or
//!   `#[ts(as = "Option<_>", optional)]` on any other type.
//! - Two different Rust types with the same name cannot share one module: export panics and
//!   asks for a `#[ts(rename = "...")]`.

use crate::{Outgoing, Server};
use std::any::TypeId;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use ts_rs::{Config, TS, TypeVisitor};

/// The name of the type that describes the whole server.
const APP_ROUTER: &str = "AppRouter";

/// The TypeScript module describing `server`: its named types and its `AppRouter`.
///
/// Deterministic: the same server always renders the same text (types and routes sorted by
/// name). Panics if two different Rust types would be declared under one TypeScript name.
pub fn export<H, O, C, S>(server: &Server<H, O, C, S>) -> String
where
    H: TS + 'static,
    O: Outgoing,
{
    let mut types = Types::new();
    let headers = types.named::<H>();
    for route in server.shared.routes.values() {
        let signature = (route.endpoint.describe)(&mut types);
        types.incoming.insert(route.name.to_string(), signature);
    }
    O::describe(&mut types, "");
    types.render(&headers)
}

/// Writes [`export`]'s module to `path`, creating its parent directories. The file is left
/// untouched (not even its modification time) when it already holds the same text.
pub fn write<H, O, C, S>(server: &Server<H, O, C, S>, path: impl AsRef<Path>) -> std::io::Result<()>
where
    H: TS + 'static,
    O: Outgoing,
{
    let path = path.as_ref();
    let text = export(server);
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)
}

impl<H, O, C, S> Server<H, O, C, S>
where
    H: TS + 'static,
    O: Outgoing,
{
    /// This server's TypeScript types: see [`typescript::export`](export()).
    pub fn typescript(&self) -> String {
        export(self)
    }

    /// Writes this server's TypeScript types to `path`: see [`typescript::write`](write()).
    pub fn write_typescript(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        write(self, path)
    }
}

/// What an incoming route takes and replies, as TypeScript type expressions.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    input: String,
    output: String,
}

impl Signature {
    /// From the input type the handler's payload extractor describes (`None` if it describes
    /// none), whether the handler reads the payload, and the reply's type.
    pub fn new(input: Option<String>, reads_input: bool, output: String) -> Self {
        let input = match (input, reads_input) {
            (_, false) => "void".to_owned(),
            (Some(input), true) => input,
            // The handler reads the payload but says nothing of its shape.
            (None, true) => "unknown".to_owned(),
        };
        Self { input, output }
    }
}

/// The types collected while describing a server's routes.
#[doc(hidden)]
pub struct Types {
    config: Config,
    /// Declarations by TypeScript name, with the Rust type that made each.
    declared: BTreeMap<String, (String, &'static str)>,
    seen: HashSet<TypeId>,
    incoming: BTreeMap<String, Signature>,
    outgoing: BTreeMap<String, String>,
}

impl std::fmt::Debug for Types {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Types")
            .field("declared", &self.declared.keys().collect::<Vec<_>>())
            .field("incoming", &self.incoming.keys().collect::<Vec<_>>())
            .field("outgoing", &self.outgoing.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What `#[derive(Outgoing)]` describes its routes with.
impl zocket_core::Describe for Types {
    fn named<T: TS + ?Sized + 'static>(&mut self) -> String {
        Types::named::<T>(self)
    }

    fn inline<T: TS + ?Sized + 'static>(&mut self) -> String {
        Types::inline::<T>(self)
    }

    fn outgoing(&mut self, route: String, payload: String) {
        Types::outgoing(self, route, payload);
    }
}

impl Types {
    fn new() -> Self {
        Self {
            // JSON numbers are JavaScript numbers, whatever their Rust width.
            config: Config::new().with_large_int("number"),
            declared: BTreeMap::new(),
            seen: HashSet::new(),
            incoming: BTreeMap::new(),
            outgoing: BTreeMap::new(),
        }
    }

    /// `T`'s name in TypeScript (`Greet`, `string`, `Array<Room>`), declaring every named type
    /// it refers to.
    pub fn named<T: TS + ?Sized + 'static>(&mut self) -> String {
        self.declare::<T>();
        T::name(&self.config)
    }

    /// `T`'s definition written out (`{ text: string, }`), declaring every named type it
    /// refers to but not `T` itself.
    pub fn inline<T: TS + ?Sized + 'static>(&mut self) -> String {
        self.visit::<T>();
        T::inline(&self.config)
    }

    /// Records an outgoing route and its payload's type.
    pub fn outgoing(&mut self, route: String, payload: String) {
        self.outgoing.insert(route, payload);
    }

    /// Declares `T` itself if it has a declaration (primitives and wrappers have none), and
    /// every named type it refers to.
    fn declare<T: TS + ?Sized + 'static>(&mut self) {
        if !self.seen.insert(TypeId::of::<T>()) {
            return;
        }
        if T::output_path().is_some() {
            let name = T::ident(&self.config);
            let mut decl = T::docs().unwrap_or_default();
            decl.push_str("export ");
            decl.push_str(&T::decl(&self.config));
            let rust = std::any::type_name::<T>();
            if name == APP_ROUTER {
                panic!(
                    "zocket: the Rust type {rust} is named {APP_ROUTER} in TypeScript, the name of \
                     the router type; rename it with #[ts(rename = \"...\")]"
                );
            }
            match self.declared.get(&name) {
                // The same generic type with other arguments, or an identical declaration.
                Some((existing, _)) if *existing == decl => {}
                Some((_, other)) => panic!(
                    "zocket: two Rust types are named {name} in TypeScript ({other} and {rust}); \
                     give one of them another name with #[ts(rename = \"...\")]"
                ),
                None => {
                    self.declared.insert(name, (decl, rust));
                }
            }
        }
        self.visit::<T>();
    }

    /// Declares every named type `T` refers to, recursively.
    fn visit<T: TS + ?Sized + 'static>(&mut self) {
        struct Visit<'a>(&'a mut Types);
        impl TypeVisitor for Visit<'_> {
            fn visit<U: TS + 'static + ?Sized>(&mut self) {
                self.0.declare::<U>();
            }
        }
        T::visit_dependencies(&mut Visit(self));
        T::visit_generics(&mut Visit(self));
    }

    fn render(&self, headers: &str) -> String {
        let mut out = String::from(
            "// Generated by zocket from the server's routes (zocket::typescript::export). Do not edit.\n",
        );
        for (decl, _) in self.declared.values() {
            out.push('\n');
            out.push_str(decl);
            out.push('\n');
        }
        out.push_str(
            "\n/** The server's routes, for the TypeScript client: `createClient<AppRouter>(url, { headers })`. */\n",
        );
        let _ = writeln!(out, "export type {APP_ROUTER} = {{");
        out.push_str("  /** Connection headers, sent as URL query parameters. */\n");
        let _ = writeln!(out, "  headers: {headers},");
        out.push_str("  /** Client-to-server routes: what a call sends and what its reply holds. */\n");
        out.push_str("  incoming: {");
        if self.incoming.is_empty() {
            out.push_str("},\n");
        } else {
            out.push('\n');
            for (route, sig) in &self.incoming {
                let _ = writeln!(
                    out,
                    "    {route:?}: {{ input: {}, output: {} }},",
                    sig.input, sig.output
                );
            }
            out.push_str("  },\n");
        }
        out.push_str("  /** Server-to-client messages: the payload of each. */\n");
        out.push_str("  outgoing: {");
        if self.outgoing.is_empty() {
            out.push_str("},\n");
        } else {
            out.push('\n');
            for (route, payload) in &self.outgoing {
                let _ = writeln!(out, "    {route:?}: {payload},");
            }
            out.push_str("  },\n");
        }
        out.push_str("};\n");
        out
    }
}

#[cfg(test)]
mod tests;
