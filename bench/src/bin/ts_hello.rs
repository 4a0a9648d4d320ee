//! tower-sessions' load-test server, for `scripts/load.sh`: `ts_hello [memory | sqlite DB_PATH |
//! redis UNUSED_PREFIX]` (routes in `session_kit_bench::load`).

#[tokio::main]
async fn main() -> std::io::Result<()> {
    session_kit_bench::load::run("ts_hello", |store| async move { session_kit_bench::load::ts_router(&store).await })
        .await
}
