//! Serving an actix-web example: the address comes from `ADDR` (default `127.0.0.1:3000`;
//! `127.0.0.1:0` picks a free port), and the first line printed says where it listens, so tests
//! can find it.

use std::net::TcpListener;

/// The socket to serve on, announced on standard output.
pub(crate) fn listener() -> TcpListener {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = TcpListener::bind(&addr).expect("cannot bind ADDR");
    let local = listener.local_addr().expect("bound socket has an address");
    // The one line the example tests wait for.
    #[allow(clippy::print_stdout)]
    {
        println!("listening on http://{local}");
    }
    listener
}
