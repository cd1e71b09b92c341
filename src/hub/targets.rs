//! [`Targets`]: one id or room name, or many, wherever a send is aimed.

use crate::ClientId;

/// One or many client ids or room names: `"lobby"`, `&id`, `["a", "b"]`, `vec![id1, id2]`, `&ids`.
///
/// ```
/// use zocket::{ClientId, Targets};
/// fn count(t: impl Targets) -> usize { t.into_targets().len() }
/// let id = ClientId::from("c1");
/// assert_eq!(count("lobby"), 1);
/// assert_eq!(count(&id), 1);
/// assert_eq!(count(["a", "b"]), 2);
/// assert_eq!(count(vec![id.clone(), id]), 2);
/// ```
pub trait Targets {
    /// The names as owned strings.
    fn into_targets(self) -> Vec<Box<str>>;
}

macro_rules! one {
    ($($t:ty),*) => {$(
        impl Targets for $t {
            fn into_targets(self) -> Vec<Box<str>> {
                vec![AsRef::<str>::as_ref(&self).into()]
            }
        }
    )*};
}

one!(&str, String, &String, ClientId, &ClientId);

fn many<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> Vec<Box<str>> {
    items.into_iter().map(|item| item.as_ref().into()).collect()
}

impl<T: AsRef<str>> Targets for Vec<T> {
    fn into_targets(self) -> Vec<Box<str>> {
        many(self)
    }
}

impl<T: AsRef<str>> Targets for &Vec<T> {
    fn into_targets(self) -> Vec<Box<str>> {
        many(self)
    }
}

impl<T: AsRef<str>> Targets for &[T] {
    fn into_targets(self) -> Vec<Box<str>> {
        many(self)
    }
}

impl<T: AsRef<str>, const N: usize> Targets for [T; N] {
    fn into_targets(self) -> Vec<Box<str>> {
        many(self)
    }
}
