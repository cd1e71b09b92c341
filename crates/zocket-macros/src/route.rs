//! Compile-time checks on route strings and nest prefixes, with the protocol's one rule
//! ([`zocket_protocol::check_route_name`]), which the server's router applies too.

use zocket_protocol::RouteNameError;

/// Checks a route (or nest prefix) against the rule.
///
/// `what` names the string in messages ("route" or "nest prefix"). On failure, returns a
/// message meant to be shown at the string literal.
pub(crate) fn validate(value: &str, what: &str) -> Result<(), String> {
    const RULE: &str = "routes are dot-separated segments of ASCII letters, digits, `_` or `-`, \
                        e.g. \"chat.message\"";

    match zocket_protocol::check_route_name(value) {
        Ok(()) => Ok(()),
        Err(RouteNameError::Empty) => Err(format!("{what} must not be empty; {RULE}")),
        Err(RouteNameError::Reserved(segment)) => Err(format!(
            "{what} \"{value}\": segment `{segment}` starts with `__`, which is reserved \
             for protocol frames (like `__rpc_res`)"
        )),
        Err(why) => Err(format!("{what} \"{value}\": {why}; {RULE}")),
    }
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_valid_routes() {
        for ok in [
            "a",
            "system.announcement",
            "chat.onMessage",
            "a-b.c_d.E9",
            "_private",
            "x._y",
        ] {
            assert_eq!(validate(ok, "route"), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_invalid_routes() {
        for bad in [
            "", ".", "a.", ".a", "a..b", "a b", "a/b", "é", "a.__rpc", "__x", "a.b c",
        ] {
            assert!(validate(bad, "route").is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn messages_are_specific() {
        let msg = validate("chat.__rpc_res", "route").unwrap_err();
        assert!(msg.contains("`__rpc_res`") && msg.contains("reserved"), "{msg}");
        let msg = validate("chat..x", "nest prefix").unwrap_err();
        assert!(
            msg.starts_with("nest prefix \"chat..x\": it has an empty segment"),
            "{msg}"
        );
        let msg = validate("chat message", "route").unwrap_err();
        assert!(msg.contains("the character ' '"), "{msg}");
    }
}
