//! The pieces of a request, one by one: field encoding and decoding, cookie sealing and
//! opening, id generation, and each store's load and apply, with the peers' equivalents.
//! Set `BENCH_QUICK=1` for a short run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use session_kit::codec::{Codec, Json, Postcard};
use session_kit::id::{IdGenerator, RandomIds};
use session_kit::store::{Change, Entry, Store, StoreKey};
use session_kit::{CookieStore, Key, KeyRing, MemoryStore, SessionData};
use session_kit_bench::{
    decode_all, encode_all, meta_at, now, runtime, sample_peer, sample_profile, sample_record, PeerProfile, Profile,
    COOKIE_NAME, PEER_KEY,
};
use tokio::runtime::Runtime;
use tower_sessions::session::{Id, Record as PeerRecord};
use tower_sessions::SessionStore;

/// Criterion settings: short with `BENCH_QUICK=1`, longer otherwise.
fn config() -> Criterion {
    let quick = std::env::var_os("BENCH_QUICK").is_some_and(|v| v != "0");
    // The tables use the median's point estimate; 20,000 bootstrap resamples (criterion's
    // default is 100,000) keep its confidence interval useful and the analysis of ~70 rows short.
    let base = Criterion::default().nresamples(20_000).configure_from_args();
    if quick {
        base.warm_up_time(Duration::from_millis(200)).measurement_time(Duration::from_millis(800)).sample_size(20)
    } else {
        base.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(50)
    }
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    let profile = sample_profile();
    let mut out = Vec::with_capacity(256);
    let mut ends = Vec::with_capacity(8);

    group.bench_function("postcard/encode", |b| {
        b.iter(|| {
            out.clear();
            ends.clear();
            encode_all(black_box(&profile), &Postcard, &mut out, &mut ends);
            black_box(out.len())
        })
    });
    out.clear();
    ends.clear();
    encode_all(&profile, &Postcard, &mut out, &mut ends);
    group.bench_function("postcard/decode", |b| b.iter(|| decode_all(&Postcard, black_box(&out), &ends)));

    group.bench_function("json/encode", |b| {
        b.iter(|| {
            out.clear();
            ends.clear();
            encode_all(black_box(&profile), &Json, &mut out, &mut ends);
            black_box(out.len())
        })
    });
    out.clear();
    ends.clear();
    encode_all(&profile, &Json, &mut out, &mut ends);
    group.bench_function("json/decode", |b| b.iter(|| decode_all(&Json, black_box(&out), &ends)));

    // The peers' route: the whole struct through serde_json.
    let peer = sample_peer();
    group.bench_function("peer-serde_json/encode", |b| {
        b.iter(|| {
            out.clear();
            if let Err(error) = serde_json::to_writer(&mut out, black_box(&peer)) {
                panic!("fixture does not encode: {error}");
            }
            black_box(out.len())
        })
    });
    let json = serde_json::to_vec(&peer).unwrap_or_default();
    group.bench_function("peer-serde_json/decode", |b| {
        b.iter(|| match serde_json::from_slice::<PeerProfile>(black_box(&json)) {
            Ok(p) => p,
            Err(error) => panic!("fixture does not decode: {error}"),
        })
    });
    group.finish();
}

fn cookie(c: &mut Criterion) {
    let mut group = c.benchmark_group("cookie");
    let now = now();
    let record = sample_record(&Postcard, now);
    for (mode, store) in [
        ("sealed", CookieStore::sealed(KeyRing::new(Key::generate()))),
        ("signed", CookieStore::signed(KeyRing::new(Key::generate()))),
    ] {
        group.bench_function(format!("{mode}/seal"), |b| {
            b.iter(|| match store.seal(COOKIE_NAME, black_box(&record), Profile::FIELDS) {
                Ok(value) => value,
                Err(error) => panic!("fixture does not seal: {error}"),
            })
        });
        let value = match store.seal(COOKIE_NAME, &record, Profile::FIELDS) {
            Ok(value) => value,
            Err(error) => panic!("fixture does not seal: {error}"),
        };
        group.bench_function(format!("{mode}/open"), |b| {
            b.iter(|| match store.open(COOKIE_NAME, black_box(&value), Profile::FIELDS, now) {
                Some(opened) => opened,
                None => panic!("fixture does not open"),
            })
        });
    }

    // The peer: cookie's private jar (AES-256-GCM), the cookie value being the JSON session.
    let key = cookie::Key::generate();
    let json = serde_json::to_string(&sample_peer()).unwrap_or_default();
    group.bench_function("private-jar-json/seal", |b| {
        b.iter(|| {
            let mut jar = cookie::CookieJar::new();
            jar.private_mut(&key).add(cookie::Cookie::new(COOKIE_NAME, black_box(&json).clone()));
            jar.get(COOKIE_NAME).map(|c| c.value().len())
        })
    });
    let mut jar = cookie::CookieJar::new();
    jar.private_mut(&key).add(cookie::Cookie::new(COOKIE_NAME, json.clone()));
    let sealed = jar.get(COOKIE_NAME).map(|c| c.value().to_owned()).unwrap_or_default();
    group.bench_function("private-jar-json/open", |b| {
        b.iter(|| {
            let jar = cookie::CookieJar::new();
            match jar.private(&key).decrypt(cookie::Cookie::new(COOKIE_NAME, black_box(&sealed).clone())) {
                Some(opened) => opened,
                None => panic!("fixture does not open"),
            }
        })
    });
    group.finish();
}

fn ids(c: &mut Criterion) {
    let mut group = c.benchmark_group("ids");
    group.bench_function("session-kit/generate", |b| b.iter(|| RandomIds.generate()));
    group.bench_function("session-kit/generate+store_key", |b| b.iter(|| RandomIds.generate().store_key("bench")));
    group.bench_function("tower-sessions/generate", |b| b.iter(Id::default));
    group.finish();
}

/// Times `iters` runs of an async operation inside one `block_on`.
fn time_async<F, Fut>(rt: &Runtime, iters: u64, mut op: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            op().await;
        }
        start.elapsed()
    })
}

/// session-kit store: `load` and `apply` of a one-field change (plus new idle deadline) on a
/// stored sample record.
fn kit_store(group: &mut BenchmarkGroup<'_, WallTime>, rt: &Runtime, name: &str, store: &dyn Store) {
    let now = now();
    let key: StoreKey = RandomIds.generate().store_key("bench");
    let record = sample_record(&Postcard, now);
    if let Err(error) = rt.block_on(store.create(&key, &record, now)) {
        panic!("{name}: create failed: {error}");
    }
    group.bench_function(format!("{name}/load"), |b| {
        b.iter_custom(|iters| {
            time_async(rt, iters, || async {
                match store.load(&key, now).await {
                    Ok(Some(record)) => drop(black_box(record)),
                    other => panic!("{name}: load failed: {other:?}"),
                }
            })
        })
    });
    let mut seen_at = 0u64;
    group.bench_function(format!("{name}/apply"), |b| {
        b.iter_custom(|iters| {
            time_async(rt, iters, || {
                seen_at += 1;
                let mut value = Vec::new();
                if let Err(error) = Codec::encode(&Postcard, &seen_at, &mut value) {
                    panic!("encode: {error}");
                }
                let change = Change {
                    set: vec![("seen_at".to_owned(), Entry { value, expires_at: None })],
                    remove: Vec::new(),
                    meta: Some(meta_at(now)),
                };
                async move {
                    match store.apply(&key, &change, now).await {
                        Ok(applied) => drop(black_box(applied)),
                        Err(error) => panic!("{name}: apply failed: {error}"),
                    }
                }
            })
        })
    });
    if let Err(error) = rt.block_on(store.delete(&key)) {
        panic!("{name}: delete failed: {error}");
    }
}

/// tower-sessions store: `load` and `save` of the sample record (the peer saves whole records).
fn peer_store<S: SessionStore>(group: &mut BenchmarkGroup<'_, WallTime>, rt: &Runtime, name: &str, store: &S) {
    let mut data = std::collections::HashMap::new();
    data.insert(PEER_KEY.to_owned(), serde_json::to_value(sample_peer()).unwrap_or_default());
    let expiry_date = tower_sessions::cookie::time::OffsetDateTime::now_utc() + Duration::from_secs(24 * 3600);
    let mut record = PeerRecord { id: Id::default(), data, expiry_date };
    if let Err(error) = rt.block_on(store.create(&mut record)) {
        panic!("{name}: create failed: {error}");
    }
    let id = record.id;
    group.bench_function(format!("{name}/load"), |b| {
        b.iter_custom(|iters| {
            time_async(rt, iters, || async {
                match store.load(&id).await {
                    Ok(Some(record)) => drop(black_box(record)),
                    other => panic!("{name}: load failed: {other:?}"),
                }
            })
        })
    });
    group.bench_function(format!("{name}/save"), |b| {
        b.iter_custom(|iters| {
            time_async(rt, iters, || async {
                if let Err(error) = store.save(&record).await {
                    panic!("{name}: save failed: {error}");
                }
            })
        })
    });
    if let Err(error) = rt.block_on(store.delete(&id)) {
        panic!("{name}: delete failed: {error}");
    }
}

fn stores(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("store");
    kit_store(&mut group, &rt, "session-kit-memory", &MemoryStore::new());
    peer_store(&mut group, &rt, "tower-sessions-memory", &tower_sessions::MemoryStore::default());

    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("no temporary directory: {error}"),
    };
    #[cfg(feature = "sqlite")]
    {
        let path = dir.path().join("kit.db");
        let store = match rt.block_on(session_kit::SqliteStore::open(&path.to_string_lossy())) {
            Ok(store) => store,
            Err(error) => panic!("session-kit SQLite store: {error}"),
        };
        kit_store(&mut group, &rt, "session-kit-sqlite", &store);
    }
    let store = match rt.block_on(session_kit_bench::ts_sqlite_store(&dir.path().join("tower.db"))) {
        Ok(store) => store,
        Err(error) => panic!("tower-sessions SQLite store: {error}"),
    };
    peer_store(&mut group, &rt, "tower-sessions-sqlite", &store);

    // Redis (feature `redis`): the server at `$REDIS_URL`, this run's own key prefix; both
    // benchmarks delete their record afterwards, and the prefix is swept once more at the end.
    #[cfg(feature = "redis")]
    {
        let prefix = session_kit_bench::redis_prefix();
        let store = match rt.block_on(session_kit_bench::kit_redis_store(&prefix)) {
            Ok(store) => store,
            Err(error) => panic!("session-kit Redis store: {error}"),
        };
        kit_store(&mut group, &rt, "session-kit-redis", &store);
        let store = match rt.block_on(session_kit_bench::ts_redis_store()) {
            Ok(store) => store,
            Err(error) => panic!("tower-sessions Redis store: {error}"),
        };
        peer_store(&mut group, &rt, "tower-sessions-redis", &store);
        if let Err(error) = session_kit_bench::redis_cleanup(&prefix, &[]) {
            eprintln!("could not remove this run's Redis keys (prefix {prefix}): {error}");
        }
    }
    group.finish();
}

#[allow(missing_docs)] // criterion_group! makes an undocumented pub fn
mod harness {
    use super::*;

    criterion_group! {
        name = micro;
        config = config();
        targets = codec, cookie, ids, stores
    }
}
criterion_main!(harness::micro);
