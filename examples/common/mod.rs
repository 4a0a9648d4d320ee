//! Serving an example: the address comes from `ADDR` (default `127.0.0.1:3000`; `127.0.0.1:0`
//! picks a free port), and the first line printed says where it listens, so tests can find it.

use axum::Router;

pub(crate) async fn serve(app: Router) {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("cannot bind ADDR");
    let local = listener.local_addr().expect("bound socket has an address");
    // The one line the example tests wait for.
    #[allow(clippy::print_stdout)]
    {
        println!("listening on http://{local}");
    }
    axum::serve(listener, app).await.expect("server failed");
}

/// `text` with the HTML special characters escaped, for text users typed.
// Not every example renders such text; each compiles this module on its own.
#[allow(dead_code)]
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
