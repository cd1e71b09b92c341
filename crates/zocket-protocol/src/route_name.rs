//! The rule for route names, the one place it is written: the server's router checks names
//! with it when routes are added, and the derive macros check route strings at compile time.

use std::fmt;

/// Checks a route name (or a namespace prefix): dot-separated, non-empty segments of ASCII
/// letters, digits, `_` or `-`, none starting with `__` (reserved for protocol frames such as
/// `__rpc_res`).
///
/// ```
/// use zocket_protocol::{RouteNameError, check_route_name};
/// assert_eq!(check_route_name("chat.onMessage"), Ok(()));
/// assert_eq!(check_route_name("chat..x"), Err(RouteNameError::EmptySegment));
/// assert_eq!(check_route_name("a.__rpc_res"), Err(RouteNameError::Reserved("__rpc_res".into())));
/// assert_eq!(check_route_name("a b"), Err(RouteNameError::Character(' ')));
/// ```
pub fn check_route_name(name: &str) -> Result<(), RouteNameError> {
    if name.is_empty() {
        return Err(RouteNameError::Empty);
    }
    for segment in name.split('.') {
        if segment.is_empty() {
            return Err(RouteNameError::EmptySegment);
        }
        if let Some(bad) = segment
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(RouteNameError::Character(bad));
        }
        if segment.starts_with("__") {
            return Err(RouteNameError::Reserved(segment.to_owned()));
        }
    }
    Ok(())
}

/// Why a route name breaks the rule of [`check_route_name`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteNameError {
    /// The name is empty.
    Empty,
    /// A segment is empty: a leading, trailing or doubled `.`.
    EmptySegment,
    /// A character other than an ASCII letter or digit, `_` or `-`.
    Character(char),
    /// A segment starts with `__`, which is reserved for protocol frames.
    Reserved(String),
}

impl fmt::Display for RouteNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("it is empty"),
            Self::EmptySegment => f.write_str("it has an empty segment (a leading, trailing or doubled `.`)"),
            Self::Character(c) if c.is_whitespace() || c.is_control() => write!(f, "it contains the character {c:?}"),
            Self::Character(c) => write!(f, "it contains the character `{c}`"),
            Self::Reserved(segment) => write!(
                f,
                "segment `{segment}` starts with `__`, which is reserved for protocol frames (like `__rpc_res`)"
            ),
        }
    }
}

impl std::error::Error for RouteNameError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dotted_names_and_refuses_the_rest() {
        for ok in ["greet", "chat.onMessage", "a.b-c.d_e", "v2", "_private", "x._y"] {
            assert_eq!(check_route_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", ".", ".a", "a.", "a..b", "__rpc_res", "a.__x", "a b", "é", "a/b"] {
            assert!(check_route_name(bad).is_err(), "{bad}");
        }
    }
}
