//! Where a deserializer is in the payload: the path from the root, without allocating.

use zocket_protocol::PathSegment;

/// Where a deserializer is, as a list linked through the stack (no allocation per value).
#[derive(Debug, Clone, Copy)]
pub(super) enum Path<'p> {
    /// The payload itself.
    Root,
    /// An object entry.
    Key(&'p Path<'p>, &'p str),
    /// An array element.
    Index(&'p Path<'p>, usize),
}

impl Path<'_> {
    /// The segments from the root.
    pub(super) fn to_vec(self) -> Vec<PathSegment> {
        let (parent, last) = match self {
            Path::Root => return Vec::new(),
            Path::Key(parent, key) => (parent, PathSegment::Key(key.to_owned())),
            Path::Index(parent, index) => (parent, PathSegment::Index(index)),
        };
        let mut segments = parent.to_vec();
        segments.push(last);
        segments
    }

    /// Whether this is the path `segments`.
    pub(super) fn is(self, segments: &[PathSegment]) -> bool {
        match (self, segments.split_last()) {
            (Path::Root, None) => true,
            (Path::Key(parent, key), Some((PathSegment::Key(last), rest))) => key == last && parent.is(rest),
            (Path::Index(parent, index), Some((PathSegment::Index(last), rest))) => index == *last && parent.is(rest),
            _ => false,
        }
    }
}
