//! A small pool of connections to one server.

use std::sync::Mutex;

use super::protocol::Conn;
use super::{backend, MAX_IDLE};
use crate::error::StoreError;

/// A pooled connection: goes back to the pool when dropped, if it finished its last command.
pub(super) struct Pooled<'a> {
    conn: Option<Conn>,
    pool: &'a Pool,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn.as_ref().unwrap_or_else(|| unreachable!("taken only in drop"))
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().unwrap_or_else(|| unreachable!("taken only in drop"))
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take().filter(|c| c.healthy) {
            let mut idle = self.pool.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
    }
}

pub(super) struct Pool {
    pub(super) addr: String,
    pub(super) idle: Mutex<Vec<Conn>>,
}

impl Pool {
    pub(super) async fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => Conn::open(&self.addr).await.map_err(backend)?,
        };
        Ok(Pooled { conn: Some(conn), pool: self })
    }
}
