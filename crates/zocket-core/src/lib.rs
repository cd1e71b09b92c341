//! What a zocket server and its clients share, with no I/O: declared incoming routes
//! ([`Route`]) and the set of messages a server sends ([`Outgoing`], decoded by clients through
//! [`DecodeOutgoing`]).
//!
//! Put the declarations in a crate of their own that depends on this one (or on `zocket`, or on
//! `zocket-client`: the derives find whichever the crate depends on); the server registers a
//! handler for each declared route and the client calls it, both from the same types:
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use zocket_core::{DecodeOutgoing, Outgoing, Route};
//!
//! #[derive(Serialize, Deserialize, ts_rs::TS, Route)]
//! #[zocket(route = "math.add", reply = f64)]
//! pub struct Add {
//!     pub a: f64,
//!     pub b: f64,
//! }
//!
//! #[derive(Debug, Clone, PartialEq, Outgoing)]
//! pub enum Out {
//!     #[zocket(route = "system.tick")]
//!     Tick { n: i64 },
//! }
//!
//! assert_eq!(Add::NAME, "math.add");
//! let mut payload = serde_json::Deserializer::from_str(r#"{"n": 7}"#);
//! let tick = Out::decode("system.tick", &mut payload).unwrap().unwrap();
//! assert_eq!(tick, Out::Tick { n: 7 });
//! assert_eq!(tick.route(), "system.tick");
//! ```

extern crate self as zocket_core;

mod outgoing;
mod route;

pub use outgoing::{DecodeOutgoing, Describe, Outgoing, PayloadOf};
pub use route::{Declared, Route};
pub use zocket_macros::{Outgoing, Route};

/// What the derives' generated code names; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use serde;
    pub use ts_rs;
}
