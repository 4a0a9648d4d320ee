//! tower-sessions' hello-style server on its memory store, for `scripts/load.sh`.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    session_kit_bench::serve(session_kit_bench::ts_hello_router()).await
}
