//! Removes a load test's Redis keys: `redis_sweep PREFIX [KEY...]` deletes every key under
//! `PREFIX` (session-kit's) and the bare `KEY`s (the peer's session ids), on `$REDIS_URL`
//! (default `redis://127.0.0.1:6379`), and prints how many went. Never touches other keys.

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(prefix) = args.next().filter(|p| !p.is_empty() && !p.contains('*')) else {
        eprintln!("usage: redis_sweep PREFIX [KEY...] (a non-empty prefix without `*`)");
        std::process::exit(2);
    };
    let keys: Vec<String> = args.collect();
    match session_kit_bench::redis_cleanup(&prefix, &keys) {
        Ok(removed) => eprintln!("redis_sweep: removed {removed} keys (prefix {prefix}, {} peer keys)", keys.len()),
        Err(error) => {
            eprintln!("redis_sweep: {error}");
            std::process::exit(1);
        }
    }
}
