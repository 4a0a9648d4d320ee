//! A bounded pool of connections to one server.
//!
//! At most `pool_size` connections exist at once; a request waits up to the acquire timeout for
//! one to come free. A connection goes back to the pool only if its last command ended with a
//! whole, well-formed reply (see [`Conn::reusable`]), so a broken or hostile reply never leaves
//! half-read bytes for the next request.

use std::io;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use super::protocol::{Conn, Limits};
use super::STORE;
use crate::error::StoreError;

pub(super) struct Pool {
    pub(super) addr: String,
    pub(super) limits: Limits,
    pub(super) acquire_timeout: Duration,
    pub(super) size: usize,
    idle: Mutex<Vec<Conn>>,
    /// One permit per connection that may exist.
    slots: Semaphore,
}

impl Pool {
    pub(super) fn new(addr: String, limits: Limits, acquire_timeout: Duration, size: usize) -> Self {
        Self { addr, limits, acquire_timeout, size, idle: Mutex::new(Vec::new()), slots: Semaphore::new(size) }
    }

    /// A connection for one or more commands: an idle one if there is a usable one, else a
    /// new one.
    pub(super) async fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let slot = self.slot().await?;
        loop {
            let idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
            match idle {
                Some(conn) if conn.reusable() => return Ok(Pooled { conn: Some(conn), pool: self, _slot: slot }),
                // Closed by the server while idle, or holding stray bytes: drop it, try the next.
                Some(_) => continue,
                None => break,
            }
        }
        let conn = self.open().await?;
        Ok(Pooled { conn: Some(conn), pool: self, _slot: slot })
    }

    /// A new connection that is closed after use, for a command that leaves it unusable.
    pub(super) async fn dedicated(&self) -> Result<Pooled<'_>, StoreError> {
        let slot = self.slot().await?;
        let mut conn = self.open().await?;
        conn.healthy = false;
        Ok(Pooled { conn: Some(conn), pool: self, _slot: slot })
    }

    async fn slot(&self) -> Result<SemaphorePermit<'_>, StoreError> {
        match tokio::time::timeout(self.acquire_timeout, self.slots.acquire()).await {
            Ok(Ok(slot)) => Ok(slot),
            // The semaphore is never closed; answer as for a timeout rather than panic.
            Ok(Err(_)) | Err(_) => Err(StoreError::backend(
                STORE,
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no connection came free within {:?} (acquire_timeout); all {} (pool_size) are busy",
                        self.acquire_timeout, self.size
                    ),
                ),
            )),
        }
    }

    async fn open(&self) -> Result<Conn, StoreError> {
        Conn::open(&self.addr, self.limits).await.map_err(|e| StoreError::backend(STORE, e))
    }
}

/// A connection taken from the pool: goes back when dropped, if it finished its last command
/// cleanly; its slot is freed either way.
pub(super) struct Pooled<'a> {
    conn: Option<Conn>,
    pool: &'a Pool,
    // Dropped after `Drop::drop` has put the connection back, so whoever gets the slot next
    // finds it.
    _slot: SemaphorePermit<'a>,
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
            self.pool.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(conn);
        }
    }
}
