//! session-kit's load-test server, for `scripts/load.sh`: `kit_hello [memory | sqlite DB_PATH |
//! redis KEY_PREFIX]` (routes in `session_kit_bench::load`).

#[tokio::main]
async fn main() -> std::io::Result<()> {
    session_kit_bench::load::run("kit_hello", |store| async move { session_kit_bench::load::kit_router(&store).await })
        .await
}
