//! Who a send is aimed at: [`ClientIds`] and [`RoomNames`], distinct so that a client id
//! cannot be sent to as a room, nor a room name as a client.

use crate::ClientId;

/// One client id or many: `&id`, `id`, `[a, b]`, `vec![a, b]`, `&ids`.
///
/// A client id is a [`ClientId`], never a plain string: turn a string you received into one
/// with `ClientId::from(text)`.
///
/// ```
/// use zocket::{ClientId, ClientIds};
/// fn count(ids: impl ClientIds) -> usize { ids.into_ids().len() }
/// let id = ClientId::from("c1");
/// assert_eq!(count(&id), 1);
/// assert_eq!(count([id.clone(), id.clone()]), 2);
/// assert_eq!(count(vec![id]), 1);
/// ```
///
/// A room name is not a client id:
///
/// ```compile_fail
/// # use zocket::ClientIds;
/// fn count(ids: impl ClientIds) -> usize { ids.into_ids().len() }
/// count("lobby");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a client id or a list of them",
    note = "client ids are zocket::ClientId values (ClientId::from(text) for one received as text); to send to a room, use .to_room(..)"
)]
pub trait ClientIds {
    /// The ids, as the hub keys them.
    fn into_ids(self) -> Vec<Box<str>>;
}

/// One room name or many: `"lobby"`, `String`, `["a", "b"]`, `vec![name]`, `&names`.
///
/// ```
/// use zocket::RoomNames;
/// fn count(rooms: impl RoomNames) -> usize { rooms.into_names().len() }
/// assert_eq!(count("lobby"), 1);
/// assert_eq!(count(["a", "b"]), 2);
/// assert_eq!(count(vec![String::from("a")]), 1);
/// ```
///
/// A client id is not a room name:
///
/// ```compile_fail
/// # use zocket::{ClientId, RoomNames};
/// fn count(rooms: impl RoomNames) -> usize { rooms.into_names().len() }
/// count(&ClientId::from("c1"));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a room name or a list of them",
    note = "room names are strings (&str, String, or lists of them); to send to clients by id, use .to(..)"
)]
pub trait RoomNames {
    /// The names.
    fn into_names(self) -> Vec<Box<str>>;
}

fn ids<'a>(items: impl IntoIterator<Item = &'a ClientId>) -> Vec<Box<str>> {
    items.into_iter().map(|id| id.as_str().into()).collect()
}

impl ClientIds for ClientId {
    fn into_ids(self) -> Vec<Box<str>> {
        vec![self.as_str().into()]
    }
}

impl ClientIds for &ClientId {
    fn into_ids(self) -> Vec<Box<str>> {
        vec![self.as_str().into()]
    }
}

impl ClientIds for Vec<ClientId> {
    fn into_ids(self) -> Vec<Box<str>> {
        ids(&self)
    }
}

impl ClientIds for &Vec<ClientId> {
    fn into_ids(self) -> Vec<Box<str>> {
        ids(self)
    }
}

impl ClientIds for &[ClientId] {
    fn into_ids(self) -> Vec<Box<str>> {
        ids(self)
    }
}

impl<const N: usize> ClientIds for [ClientId; N] {
    fn into_ids(self) -> Vec<Box<str>> {
        ids(&self)
    }
}

/// A room name: a string, never a [`ClientId`].
trait Name {
    fn name(&self) -> &str;
}

impl Name for &str {
    fn name(&self) -> &str {
        self
    }
}

impl Name for String {
    fn name(&self) -> &str {
        self
    }
}

impl Name for &String {
    fn name(&self) -> &str {
        self
    }
}

impl Name for std::sync::Arc<str> {
    fn name(&self) -> &str {
        self
    }
}

fn names<T: Name>(items: impl IntoIterator<Item = T>) -> Vec<Box<str>> {
    items.into_iter().map(|item| item.name().into()).collect()
}

impl RoomNames for &str {
    fn into_names(self) -> Vec<Box<str>> {
        vec![self.into()]
    }
}

impl RoomNames for String {
    fn into_names(self) -> Vec<Box<str>> {
        vec![self.into_boxed_str()]
    }
}

impl RoomNames for &String {
    fn into_names(self) -> Vec<Box<str>> {
        vec![self.as_str().into()]
    }
}

#[allow(private_bounds)]
impl<T: Name> RoomNames for Vec<T> {
    fn into_names(self) -> Vec<Box<str>> {
        names(self)
    }
}

#[allow(private_bounds)]
impl<T: Name + Clone> RoomNames for &[T] {
    fn into_names(self) -> Vec<Box<str>> {
        names(self.iter().cloned())
    }
}

#[allow(private_bounds)]
impl<T: Name + Clone> RoomNames for &Vec<T> {
    fn into_names(self) -> Vec<Box<str>> {
        names(self.iter().cloned())
    }
}

#[allow(private_bounds)]
impl<T: Name, const N: usize> RoomNames for [T; N] {
    fn into_names(self) -> Vec<Box<str>> {
        names(self)
    }
}
