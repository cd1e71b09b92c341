//! Route names are checked when routes are added, with the protocol's one rule
//! ([`zocket_protocol::check_route_name`]), which the derive macros check at compile time too.

/// Panics unless `name` follows the route-name rule.
#[track_caller]
pub(crate) fn check(name: &str) {
    if let Err(why) = zocket_protocol::check_route_name(name) {
        panic!("zocket: invalid route name \"{name}\": {why}");
    }
}
