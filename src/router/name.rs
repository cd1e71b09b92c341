//! The rule for route names, shared by incoming routes and namespaces.

/// Panics unless `name` is dot-separated segments of ASCII letters, digits, `_` or `-`, none
/// starting with `__` (reserved for protocol frames such as `__rpc_res`).
#[track_caller]
pub(crate) fn check(name: &str) {
    if let Err(why) = validate(name) {
        panic!("zocket: invalid route name \"{name}\": {why}");
    }
}

fn validate(name: &str) -> Result<(), &'static str> {
    for segment in name.split('.') {
        if segment.is_empty() {
            return Err("empty segment");
        }
        if segment.starts_with("__") {
            return Err("segments starting with \"__\" are reserved");
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err("use only ASCII letters, digits, '_' and '-' between dots");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_dotted_names_and_refuses_the_rest() {
        for ok in ["greet", "chat.onMessage", "a.b-c.d_e", "v2"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".a", "a.", "a..b", "__rpc_res", "a.__x", "a b", "é"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
