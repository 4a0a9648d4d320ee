//! session-kit's hello-style server on the memory store, for `scripts/load.sh`.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    session_kit_bench::serve(session_kit_bench::kit_hello_router()).await
}
