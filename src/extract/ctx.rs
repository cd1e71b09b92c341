//! [`Ctx`]: the connection context `on_connect` built.

use crate::call::Conn;
use crate::{Call, CallError, ClientId, FromCall};
use std::{fmt, ops::Deref, sync::Arc};

/// The context of the calling connection, as `on_connect` returned it. Derefs to `C`.
///
/// ```
/// use zocket::Ctx;
/// struct User { name: String }
/// async fn whoami(user: Ctx<User>) -> String {
///     user.name.clone()
/// }
/// ```
pub struct Ctx<C>(pub(crate) Arc<Conn<C>>);

impl<C> Ctx<C> {
    /// The id of the connection this context belongs to.
    pub fn client_id(&self) -> &ClientId {
        &self.0.id
    }
}

impl<C> Deref for Ctx<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.0.ctx
    }
}

impl<C> Clone for Ctx<C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<C: fmt::Debug> fmt::Debug for Ctx<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Ctx").field(&self.0.ctx).finish()
    }
}

impl<O, C: Send + Sync, S: Send + Sync> FromCall<O, C, S> for Ctx<C> {
    async fn from_call(call: &Call<O, C, S>) -> Result<Self, CallError> {
        Ok(Ctx(call.conn.clone()))
    }
}
