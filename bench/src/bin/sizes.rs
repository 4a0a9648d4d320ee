//! Prints the encoded size of the benchmark session in every format, and the bytes a
//! write-one request of the wide sessions hands the store on each side, as Markdown tables.

use session_kit::codec::{Json, Postcard};
use session_kit::store::{Entry, Record};
use session_kit::SessionData;
use session_kit::{CookieStore, Key, KeyRing};
use session_kit_bench::wide::{PeerWide5, PeerWide50, Wide, Wide5, Wide50};
use session_kit_bench::{
    cookie_value_len, encode_all, jar_router, kit_sealed_router, meta_at, now, runtime, sample_peer, sample_profile,
    sample_record, Client, Profile, COOKIE_NAME, PEER_KEY,
};

fn main() {
    let now = now();
    let profile = sample_profile();
    let mut rows: Vec<(&str, usize)> = Vec::new();

    let (mut out, mut ends) = (Vec::new(), Vec::new());
    encode_all(&profile, &Postcard, &mut out, &mut ends);
    rows.push(("postcard field values (5 fields, no keys)", out.len()));
    out.clear();
    ends.clear();
    encode_all(&profile, &Json, &mut out, &mut ends);
    rows.push(("JSON field values (5 fields, no keys)", out.len()));

    let postcard_record = sample_record(&Postcard, now);
    rows.push(("postcard record (`Record::to_bytes`, keys + meta)", postcard_record.to_bytes().len()));
    rows.push(("JSON record (`Record::to_bytes`, JSON field values)", sample_record(&Json, now).to_bytes().len()));
    rows.push(("peer: the struct as serde_json", serde_json::to_vec(&sample_peer()).unwrap_or_default().len()));

    for (label, store) in [
        ("session-kit sealed cookie value (AES-SIV, postcard)", CookieStore::sealed(KeyRing::new(Key::generate()))),
        ("session-kit signed cookie value (HMAC, postcard)", CookieStore::signed(KeyRing::new(Key::generate()))),
    ] {
        match store.seal(COOKIE_NAME, &postcard_record, Profile::FIELDS) {
            Ok(value) => rows.push((label, value.len())),
            Err(error) => panic!("{label}: {error}"),
        }
    }

    // The cookies as the routers actually send them, after `/seed`.
    let rt = runtime();
    for (label, router) in [
        ("session-kit sealed cookie, as sent by the router", kit_sealed_router()),
        ("peer: PrivateCookieJar + JSON cookie value (AES-GCM)", jar_router()),
    ] {
        let mut client = Client::new(router);
        rt.block_on(client.seed());
        rows.push((label, client.cookie().map_or(0, cookie_value_len)));
    }

    #[allow(clippy::print_stdout)]
    {
        println!("| format | bytes |");
        println!("|---|---:|");
        for (label, len) in rows {
            println!("| {label} | {len} |");
        }
        println!();
        println!("Bytes a write-one request hands the store (wide sessions, ~150-byte string fields):");
        println!();
        println!("| session | session-kit: the change (key + value of the one entry) | session-kit: whole record (`Record::to_bytes`) | peer: the record it rewrites (MessagePack, as tower-sessions-sqlx-store and -redis-store store it) | peer: the struct as JSON |");
        println!("|---|---:|---:|---:|---:|");
        for row in [write_one::<Wide5, PeerWide5>(now), write_one::<Wide50, PeerWide50>(now)] {
            println!(
                "| {} fields | {} | {} | {} | {} |",
                row.fields, row.change, row.record, row.peer_record, row.peer_json
            );
        }
    }
}

/// What a write-one request of a wide session writes, on each side.
struct WriteOne {
    fields: usize,
    /// Key + encoded value of the one entry session-kit's `Change` sets.
    change: usize,
    /// session-kit's whole record (every entry and the metadata), for scale.
    record: usize,
    /// The peer's whole record, as its SQL and Redis stores serialize it on every save.
    peer_record: usize,
    /// The peer's struct as serde_json (the value under its session key).
    peer_json: usize,
}

fn write_one<K: Wide + SessionData, P: Wide + serde::Serialize>(now: session_kit::clock::Timestamp) -> WriteOne {
    let mut kit = K::sample();
    kit.touch();
    let mut record = Record::new(meta_at(now));
    let mut change = 0;
    for (index, spec) in K::FIELDS.iter().enumerate() {
        let mut value = Vec::new();
        if let Err(error) = kit.encode_field(index, &Postcard, &mut value) {
            panic!("field {} does not encode: {error}", spec.key);
        }
        if spec.key == K::TOUCHED {
            change = spec.key.len() + value.len();
        }
        record.entries.push((spec.key.to_owned(), Entry { value, expires_at: None }));
    }
    assert!(change > 0, "no stored field is named {}", K::TOUCHED);

    let mut peer = P::sample();
    peer.touch();
    let json = match serde_json::to_value(&peer) {
        Ok(json) => json,
        Err(error) => panic!("peer struct does not serialize: {error}"),
    };
    let peer_json = serde_json::to_vec(&json).map_or(0, |v| v.len());
    let expiry_date =
        tower_sessions::cookie::time::OffsetDateTime::now_utc() + std::time::Duration::from_secs(24 * 3600);
    let peer_record = tower_sessions::session::Record {
        id: tower_sessions::session::Id::default(),
        data: [(PEER_KEY.to_owned(), json)].into_iter().collect(),
        expiry_date,
    };
    let peer_record = match rmp_serde::to_vec(&peer_record) {
        Ok(bytes) => bytes.len(),
        Err(error) => panic!("peer record does not serialize: {error}"),
    };
    WriteOne { fields: K::FIELD_COUNT, change, record: record.to_bytes().len(), peer_record, peer_json }
}
