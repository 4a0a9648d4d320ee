//! The client-side cache of the Redis store: sessions this process has read, served again
//! without a round trip, and dropped as soon as Redis says they changed.
//!
//! Redis tells the process about changes through client tracking in broadcasting mode: a
//! connection of its own to each server that holds keys (the server, or every primary of a
//! cluster), speaking RESP3, asks `CLIENT TRACKING ON BCAST PREFIX {prefix}`, and from then on
//! Redis pushes the name of every key under the prefix that any client changes, deletes or
//! lets expire. The store's own connection is untouched: reads still go there on a miss,
//! writes always (the scripts check liveness and merge on the server, so a cached read never
//! lets a write lose an update or bring a session back).
//!
//! Why an entry is never stale for longer than an invalidation takes to arrive:
//! - A read installs a placeholder under its key *before* it is sent, and its answer is kept
//!   only if the placeholder is still there when the answer comes. An invalidation removes
//!   whatever the key holds, placeholder or value. A change that Redis runs after the read
//!   pushes its invalidation after that, so the invalidation either removes the placeholder
//!   (the answer is not kept) or the value kept from it: never is an older value kept after
//!   the invalidation that outdates it.
//! - Without tracking nothing can be trusted: entries are only served and placeholders only
//!   installed while every tracking connection is known to be up. Its loss (the client sees
//!   the connection close, a heartbeat `PING` fails or times out, a cluster's primaries
//!   change) drops every entry and placeholder, and the cache stays off until tracking is
//!   set up again; setting it up starts from an empty cache.
//! - A connection can die silently (a network partition without a reset): a heartbeat `PING`
//!   goes to each tracking connection every [`HEARTBEAT`], and entries are served only while
//!   the last answered one was sent less than [`MAX_SILENCE`] ago. Every invalidation for a
//!   change Redis ran before that `PING` came before its answer on the same connection (or,
//!   for a change in the same turn of Redis's event loop, in the same write right after it).
//! - The process's own writes forget the key before they are sent and again when they are
//!   answered, so the next load in this process reads what it wrote.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hashlink::LruCache;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionInfo, ProtocolVersion, PushInfo, PushKind, RedisError, Value};
use tokio::task::AbortHandle;

use crate::record::Record;

/// How often each tracking connection is checked with a `PING`.
pub(super) const HEARTBEAT: Duration = Duration::from_millis(500);

/// How long after the last answered heartbeat was sent entries are still served: the bound on
/// staleness when a tracking connection dies without the client noticing. Also the time a
/// heartbeat may take.
pub(super) const MAX_SILENCE: Duration = Duration::from_millis(1500);

/// Waits between attempts to set tracking up again, growing from the first to the last.
const RETRY_WAITS: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));

/// What a cache key holds.
enum Slot {
    /// A read is on its way; its answer is kept only if this is still here (its ticket).
    Filling(u64),
    /// The record as Redis last answered it, not yet invalidated.
    Ready(Arc<Record>),
}

struct State {
    entries: LruCache<Vec<u8>, Slot>,
    /// Counts each setting up of tracking; pushes and heartbeats of an older one are ignored.
    generation: u64,
    /// A tracking connection of this generation was lost.
    broken: bool,
    /// When the last answered heartbeat (or the tracking setup) was sent.
    confirmed: Option<Instant>,
}

impl State {
    fn usable(&self, now: Instant) -> bool {
        !self.broken && self.confirmed.is_some_and(|at| now.saturating_duration_since(at) <= MAX_SILENCE)
    }
}

/// What a load does with the cache.
pub(super) enum Lookup {
    /// The record, served from the cache.
    Hit(Arc<Record>),
    /// Not cached: read Redis, then hand the answer to [`ClientCache::fill`] with this ticket.
    Fill(Ticket),
    /// The cache cannot be trusted now (tracking is down) or does not cover this key: read
    /// Redis and keep nothing.
    Bypass,
}

/// A read's claim on a cache key, from [`Lookup::Fill`].
pub(super) struct Ticket(u64);

/// Cached records by Redis key, bounded, with the state of tracking.
pub(super) struct ClientCache {
    /// Tracking covers the keys under this prefix only (a store's `with_prefix` may move away).
    prefix: Vec<u8>,
    state: Mutex<State>,
    tickets: AtomicU64,
}

impl ClientCache {
    /// An empty cache of at most `max_entries` keys under `prefix`, off until tracking is up.
    pub(super) fn new(prefix: &str, max_entries: usize) -> Self {
        Self {
            prefix: prefix.as_bytes().to_vec(),
            state: Mutex::new(State {
                entries: LruCache::new(max_entries.max(1)),
                generation: 0,
                broken: true,
                confirmed: None,
            }),
            tickets: AtomicU64::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map half-changed in a way that
        // matters: every entry is a complete value or a placeholder.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Looks `key` up for a load.
    pub(super) fn lookup(&self, key: &str) -> Lookup {
        if !key.as_bytes().starts_with(&self.prefix) {
            return Lookup::Bypass;
        }
        let mut state = self.state();
        if !state.usable(Instant::now()) {
            return Lookup::Bypass;
        }
        if let Some(Slot::Ready(record)) = state.entries.get(key.as_bytes()) {
            return Lookup::Hit(record.clone());
        }
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        state.entries.insert(key.as_bytes().to_vec(), Slot::Filling(ticket));
        Lookup::Fill(Ticket(ticket))
    }

    /// Keeps what a read with `ticket` found under `key` (a live record), unless the key was
    /// invalidated, written or dropped since the read was sent; releases the claim either way.
    pub(super) fn fill(&self, key: &str, ticket: Ticket, found: Option<&Record>) {
        let mut state = self.state();
        let ours = matches!(state.entries.peek(key.as_bytes()), Some(Slot::Filling(t)) if *t == ticket.0);
        if !ours {
            return;
        }
        match found {
            // Replacing a key keeps its place in the LRU order: it was just used.
            Some(record) => drop(state.entries.insert(key.as_bytes().to_vec(), Slot::Ready(Arc::new(record.clone())))),
            None => drop(state.entries.remove(key.as_bytes())),
        }
    }

    /// Drops `key`: this process is changing it, or found it expired.
    pub(super) fn forget(&self, key: &str) {
        self.state().entries.remove(key.as_bytes());
    }

    /// A push from a tracking connection of `generation`.
    fn on_push(&self, generation: u64, push: &PushInfo) {
        match push.kind {
            PushKind::Invalidate => {
                let mut state = self.state();
                match push.data.first() {
                    Some(Value::Array(keys)) => {
                        for key in keys {
                            if let Value::BulkString(key) = key {
                                state.entries.remove(key.as_slice());
                            }
                        }
                    }
                    // After FLUSHALL / FLUSHDB Redis names no key: everything is gone.
                    _ => state.entries.clear(),
                }
            }
            PushKind::Disconnection => self.lost(generation),
            _ => {}
        }
    }

    /// A new setting up of tracking starts: nothing cached so far can be trusted.
    fn begin(&self) -> u64 {
        let mut state = self.state();
        state.generation += 1;
        state.entries.clear();
        state.broken = false;
        state.confirmed = None;
        state.generation
    }

    /// Every tracking connection of `generation` answered a command sent at `at`.
    fn confirm(&self, generation: u64, at: Instant) {
        let mut state = self.state();
        if state.generation == generation && !state.broken {
            state.confirmed = Some(state.confirmed.map_or(at, |c| c.max(at)));
        }
    }

    /// A tracking connection of `generation` is gone: drop everything, serve nothing.
    fn lost(&self, generation: u64) {
        let mut state = self.state();
        if state.generation == generation {
            state.broken = true;
            state.confirmed = None;
            state.entries.clear();
        }
    }

    /// How many keys the cache holds (records and reads on their way).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.state().entries.len()
    }
}

/// Where the tracking connections go.
pub(super) enum Servers {
    /// One server.
    Single(ConnectionInfo),
    /// The primaries of a cluster, listed through its connection, reached with the settings
    /// (password, database) of a listed node.
    #[cfg(feature = "redis-cluster")]
    Cluster { template: ConnectionInfo, conn: redis::cluster_async::ClusterConnection },
}

impl Servers {
    async fn list(&self) -> Result<Vec<ConnectionInfo>, RedisError> {
        match self {
            Self::Single(info) => Ok(vec![info.clone()]),
            #[cfg(feature = "redis-cluster")]
            Self::Cluster { template, conn } => {
                let primaries = super::primaries(conn).await?;
                Ok(primaries
                    .into_iter()
                    .map(|(host, port)| template.clone().set_addr(redis::ConnectionAddr::Tcp(host, port)))
                    .collect())
            }
        }
    }
}

/// The settings tracking connections are opened with.
pub(super) struct Settings {
    pub(super) connect_timeout: Duration,
    pub(super) response_timeout: Duration,
}

/// The tracking connections of one generation, and the servers they reach.
struct Trackers {
    generation: u64,
    servers: Vec<ConnectionInfo>,
    conns: Vec<MultiplexedConnection>,
}

/// Sets tracking up on every server: from an empty cache, confirmed once all are on.
async fn track(cache: &Arc<ClientCache>, servers: &Servers, settings: &Settings) -> Result<Trackers, RedisError> {
    let generation = cache.begin();
    let listed = servers.list().await?;
    // Confirmed as of the earliest `CLIENT TRACKING`: every change after it is reported.
    let mut confirmed: Option<Instant> = None;
    let mut conns = Vec::with_capacity(listed.len());
    for info in &listed {
        let resp3 = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.clone().set_redis_settings(resp3))?;
        let pushes = Arc::downgrade(cache);
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.response_timeout))
            // Called by the connection's reader, in order with the replies: an invalidation
            // takes effect before any reply that follows it is seen.
            .set_push_sender(move |push: PushInfo| {
                if let Some(cache) = pushes.upgrade() {
                    cache.on_push(generation, &push);
                }
                Ok::<(), std::convert::Infallible>(())
            });
        let mut conn = client.get_multiplexed_async_connection_with_config(&config).await?;
        let mut on = redis::cmd("CLIENT");
        on.arg("TRACKING").arg("ON").arg("BCAST");
        if !cache.prefix.is_empty() {
            on.arg("PREFIX").arg(&cache.prefix);
        }
        let sent = Instant::now();
        on.query_async::<()>(&mut conn).await?;
        confirmed.get_or_insert(sent);
        conns.push(conn);
    }
    if let Some(at) = confirmed {
        cache.confirm(generation, at);
    }
    Ok(Trackers { generation, servers: listed, conns })
}

/// Whether every tracking connection answers a `PING`, and (in a cluster) the primaries are
/// still the ones tracked.
async fn healthy(trackers: &mut Trackers, servers: &Servers) -> bool {
    let pings = async {
        for conn in &mut trackers.conns {
            redis::cmd("PING").query_async::<()>(conn).await?;
        }
        // A cluster's primaries may have changed (a failover, a new shard): the new ones are
        // not tracked. (One server lists itself, without a round trip.)
        let mut now: Vec<String> = servers.list().await?.iter().map(|i| i.addr().to_string()).collect();
        let mut tracked: Vec<String> = trackers.servers.iter().map(|i| i.addr().to_string()).collect();
        now.sort();
        tracked.sort();
        if now != tracked {
            return Ok(false);
        }
        Ok::<bool, RedisError>(true)
    };
    matches!(tokio::time::timeout(MAX_SILENCE - HEARTBEAT, pings).await, Ok(Ok(true)))
}

/// Keeps tracking up for as long as the store lives: heartbeats, and setting it up again
/// after a loss (the cache is off meanwhile).
async fn supervise(cache: Arc<ClientCache>, servers: Servers, settings: Settings, mut trackers: Trackers) {
    loop {
        loop {
            tokio::time::sleep(HEARTBEAT).await;
            let sent = Instant::now();
            if !healthy(&mut trackers, &servers).await {
                cache.lost(trackers.generation);
                tracing::warn!("redis store: client cache tracking lost; the cache is off until it is back");
                break;
            }
            cache.confirm(trackers.generation, sent);
        }
        let mut wait = RETRY_WAITS.0;
        trackers = loop {
            tokio::time::sleep(wait).await;
            match track(&cache, &servers, &settings).await {
                Ok(trackers) => break trackers,
                // The cache stays off: `track` began a generation that was never confirmed.
                Err(error) => {
                    tracing::debug!(%error, "redis store: client cache tracking not back yet");
                    wait = (wait * 2).min(RETRY_WAITS.1);
                }
            }
        };
    }
}

/// A store's cache with the task that keeps its tracking up; the task ends when the last
/// clone of the store is dropped.
pub(super) struct Tracked {
    pub(super) cache: Arc<ClientCache>,
    task: AbortHandle,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Tracked {
    /// Sets tracking up (failing if the servers refuse it, e.g. Redis before 6 has no RESP3)
    /// and starts keeping it up.
    pub(super) async fn start(
        prefix: &str,
        max_entries: usize,
        servers: Servers,
        settings: Settings,
    ) -> Result<Self, RedisError> {
        let cache = Arc::new(ClientCache::new(prefix, max_entries));
        let trackers = track(&cache, &servers, &settings).await?;
        let task = tokio::spawn(supervise(cache.clone(), servers, settings, trackers)).abort_handle();
        Ok(Self { cache, task })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Meta;
    use crate::time::Timestamp;

    fn record(n: u64) -> Record {
        Record::new(Meta::new(Timestamp::from_millis(n)))
    }

    /// A cache whose tracking is up (generation 1).
    fn up(max: usize) -> ClientCache {
        let cache = ClientCache::new("s:", max);
        let generation = cache.begin();
        cache.confirm(generation, Instant::now());
        cache
    }

    fn filled(cache: &ClientCache, key: &str, n: u64) {
        let Lookup::Fill(ticket) = cache.lookup(key) else { panic!("{key} should be a miss") };
        cache.fill(key, ticket, Some(&record(n)));
    }

    fn hit(cache: &ClientCache, key: &str) -> Option<u64> {
        match cache.lookup(key) {
            Lookup::Hit(r) => Some(r.meta.created_at.as_millis()),
            Lookup::Fill(ticket) => {
                cache.fill(key, ticket, None);
                None
            }
            Lookup::Bypass => None,
        }
    }

    fn invalidate(cache: &ClientCache, generation: u64, keys: &[&str]) {
        let keys = keys.iter().map(|k| Value::BulkString(k.as_bytes().to_vec())).collect();
        cache.on_push(generation, &PushInfo { kind: PushKind::Invalidate, data: vec![Value::Array(keys)] });
    }

    #[test]
    fn a_read_answer_is_kept_and_served_until_invalidated() {
        let cache = up(8);
        filled(&cache, "s:a", 1);
        assert_eq!(hit(&cache, "s:a"), Some(1));
        invalidate(&cache, 1, &["s:a"]);
        assert_eq!(hit(&cache, "s:a"), None);
    }

    #[test]
    fn an_answer_overtaken_by_an_invalidation_or_a_write_is_not_kept() {
        let cache = up(8);
        let Lookup::Fill(ticket) = cache.lookup("s:a") else { panic!("miss expected") };
        invalidate(&cache, 1, &["s:a"]);
        cache.fill("s:a", ticket, Some(&record(1)));
        assert_eq!(hit(&cache, "s:a"), None, "an answer older than the invalidation was kept");

        let Lookup::Fill(ticket) = cache.lookup("s:b") else { panic!("miss expected") };
        cache.forget("s:b");
        cache.fill("s:b", ticket, Some(&record(1)));
        assert_eq!(hit(&cache, "s:b"), None, "an answer older than this process's write was kept");

        // Two reads of one key: only the later claim may fill it.
        let Lookup::Fill(first) = cache.lookup("s:c") else { panic!("miss expected") };
        let Lookup::Fill(second) = cache.lookup("s:c") else { panic!("miss expected") };
        cache.fill("s:c", first, Some(&record(1)));
        assert!(matches!(cache.lookup("s:c"), Lookup::Fill(_)), "the earlier read's answer was kept");
        cache.fill("s:c", second, Some(&record(2)));
        assert_eq!(hit(&cache, "s:c"), None, "a claim replaced by a new lookup still filled the key");
    }

    #[test]
    fn losing_tracking_drops_everything_until_it_is_set_up_again() {
        let cache = up(8);
        filled(&cache, "s:a", 1);
        let Lookup::Fill(ticket) = cache.lookup("s:b") else { panic!("miss expected") };
        cache.on_push(1, &PushInfo { kind: PushKind::Disconnection, data: Vec::new() });
        assert!(matches!(cache.lookup("s:a"), Lookup::Bypass), "a cache without tracking still served");
        cache.fill("s:b", ticket, Some(&record(1)));
        assert_eq!(cache.len(), 0);
        // A heartbeat of the lost generation does not bring it back; a new setup does, empty.
        cache.confirm(1, Instant::now());
        assert!(matches!(cache.lookup("s:a"), Lookup::Bypass));
        let generation = cache.begin();
        assert!(matches!(cache.lookup("s:a"), Lookup::Bypass), "served before the new tracking was confirmed");
        cache.confirm(generation, Instant::now());
        assert_eq!(hit(&cache, "s:a"), None);
        // A late disconnection of the old generation does not switch the new one off.
        cache.on_push(1, &PushInfo { kind: PushKind::Disconnection, data: Vec::new() });
        filled(&cache, "s:a", 3);
        assert_eq!(hit(&cache, "s:a"), Some(3));
    }

    #[test]
    fn a_silent_tracking_connection_stops_the_cache() {
        let cache = ClientCache::new("s:", 8);
        let generation = cache.begin();
        cache.confirm(generation, Instant::now().checked_sub(MAX_SILENCE + HEARTBEAT).unwrap_or_else(Instant::now));
        assert!(matches!(cache.lookup("s:a"), Lookup::Bypass), "served past the heartbeat deadline");
    }

    #[test]
    fn the_cache_holds_at_most_its_bound_and_only_its_prefix() {
        let cache = up(2);
        filled(&cache, "s:a", 1);
        filled(&cache, "s:b", 2);
        assert_eq!(hit(&cache, "s:a"), Some(1)); // b is now the least recently used
        filled(&cache, "s:c", 3);
        assert_eq!(cache.len(), 2);
        assert_eq!(hit(&cache, "s:b"), None, "the least recently used key was not evicted");
        assert!(matches!(cache.lookup("other:a"), Lookup::Bypass), "a key outside the tracked prefix");
    }

    #[test]
    fn a_flush_drops_everything() {
        let cache = up(8);
        filled(&cache, "s:a", 1);
        cache.on_push(1, &PushInfo { kind: PushKind::Invalidate, data: vec![Value::Nil] });
        assert_eq!(hit(&cache, "s:a"), None);
    }
}
