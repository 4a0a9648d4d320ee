//! How stale session-kit's Redis client-side cache can be: two store instances on one Redis,
//! as two app servers. `here` has the cache and has read the session; `there` changes it (or
//! destroys it); the time from `there`'s write being answered until `here`'s load shows it is
//! one sample. Prints p50 / p99 / max for changes and destroys as a Markdown table.
//!
//! `redis_staleness [rounds]` (default 2000; feature `redis`, server at `$REDIS_URL`, default
//! `redis://127.0.0.1:6379`). `here` polls its cache in a loop (a cached load is a lookup, no
//! round trip); a round that has not seen the write after 5 s fails the run. The run's keys are
//! removed afterwards.

use std::time::{Duration, Instant};

use session_kit::store::{Change, Entry, Meta, Record, Store, StoreKey};
use session_kit::RedisStore;
use session_kit_bench::{redis_cleanup, redis_prefix, redis_url, runtime};

/// A round that has not seen the write by then fails the run.
const GIVE_UP: Duration = Duration::from_secs(5);

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(2000);
    let prefix = redis_prefix();
    let rt = runtime();
    let result = rt.block_on(measure(&prefix, rounds));
    if let Err(error) = redis_cleanup(&prefix, &[]) {
        eprintln!("could not remove this run's Redis keys (prefix {prefix}): {error}");
    }
    let (changes, destroys) = match result {
        Ok(samples) => samples,
        Err(error) => {
            eprintln!("redis_staleness: {error}");
            std::process::exit(1);
        }
    };
    #[allow(clippy::print_stdout)]
    {
        println!("Two RedisStore instances on {} (loopback), one with the client cache:\n", redis_url());
        println!("| what the other instance did | samples | p50 | p99 | max |");
        println!("|---|---:|---:|---:|---:|");
        for (what, samples) in [("changed a field", changes), ("destroyed the session", destroys)] {
            let count = samples.len();
            let [p50, p99, max] = percentiles(samples);
            println!("| {what} | {count} | {p50} | {p99} | {max} |");
        }
        println!("\nTime from the writer's reply until the caching instance's load shows the write.");
    }
}

fn percentiles(mut samples: Vec<Duration>) -> [String; 3] {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).map_or("-".to_owned(), |d| format!("{:.0} µs", d.as_secs_f64() * 1e6))
    };
    [at(0.5), at(0.99), at(1.0)]
}

fn live_session(now: session_kit::clock::Timestamp) -> Record {
    let mut meta = Meta::new(now);
    meta.idle_deadline = Some(now.after(Duration::from_secs(3600)));
    let mut record = Record::new(meta);
    record.entries.push(("n".to_owned(), Entry { value: vec![0], expires_at: None }));
    record
}

async fn measure(prefix: &str, rounds: usize) -> Result<(Vec<Duration>, Vec<Duration>), String> {
    use session_kit::clock::{Clock, SystemClock};

    let here = RedisStore::builder(redis_url()).prefix(prefix).client_cache(10_000).connect().await;
    let here = here.map_err(|e| format!("caching store: {e}"))?;
    let there = RedisStore::builder(redis_url()).prefix(prefix).connect().await.map_err(|e| format!("writer: {e}"))?;
    let (mut changes, mut destroys) = (Vec::new(), Vec::new());
    let mut key = fresh_key();
    there.create(&key, &live_session(SystemClock.now()), SystemClock.now()).await.map_err(|e| e.to_string())?;
    for round in 0..rounds {
        let now = SystemClock.now();
        // Read twice: cached from the second load on.
        for _ in 0..2 {
            here.load(&key, now).await.map_err(|e| e.to_string())?.ok_or("the session is missing")?;
        }
        if round % 10 == 9 {
            there.delete(&key).await.map_err(|e| e.to_string())?;
            destroys.push(until(|| async { Ok(here.load(&key, now).await?.is_none()) }).await?);
            key = fresh_key();
            there.create(&key, &live_session(now), now).await.map_err(|e| e.to_string())?;
        } else {
            let value = (round as u64).to_le_bytes().to_vec();
            let change = Change {
                set: vec![("n".to_owned(), Entry { value: value.clone(), expires_at: None })],
                ..Change::default()
            };
            there.apply(&key, &change, now).await.map_err(|e| e.to_string())?;
            changes.push(
                until(|| async {
                    let found = here.load(&key, now).await?;
                    Ok(found.and_then(|r| r.get("n").map(|e| e.value.clone())) == Some(value.clone()))
                })
                .await?,
            );
        }
    }
    Ok((changes, destroys))
}

/// Polls `seen` until it holds; how long that took.
async fn until<F, Fut>(mut seen: F) -> Result<Duration, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, session_kit::StoreError>>,
{
    let start = Instant::now();
    loop {
        if seen().await.map_err(|e| e.to_string())? {
            return Ok(start.elapsed());
        }
        if start.elapsed() > GIVE_UP {
            return Err(format!("the write was not seen within {GIVE_UP:?}"));
        }
        tokio::task::yield_now().await;
    }
}

fn fresh_key() -> StoreKey {
    let hex = format!("{:032x}", rand_u128());
    StoreKey::parse(&hex).unwrap_or_else(|| unreachable!("32 hex digits are a store key"))
}

/// A random 128-bit number from the standard library's randomly seeded hasher (no rand
/// dependency for one binary).
fn rand_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let mut bits = 0u128;
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(bits);
        bits = (bits << 64) | u128::from(h.finish());
    }
    bits
}
