//! Prints the encoded size of the benchmark session in every format, as a Markdown table.

use session_kit::codec::{Json, Postcard};
use session_kit::{CookieStore, Key, KeyRing, SessionData};
use session_kit_bench::{
    cookie_value_len, encode_all, jar_router, kit_sealed_router, now, runtime, sample_peer, sample_profile,
    sample_record, Client, Profile, COOKIE_NAME,
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
    }
}
