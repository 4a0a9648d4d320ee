//! Two session types on one router, each with its own store and cookie: `Auth` on the
//! server (memory), `Cart` in a sealed cookie. One handler extracts both; both are saved.
//!
//! ```text
//! cargo run --example multi
//! curl -c jar -b jar 'http://127.0.0.1:3000/add?item=apple'
//! curl -c jar -b jar 'http://127.0.0.1:3000/add?item=pear'
//! ```

mod common;

use axum::extract::Query;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use session_kit::{CookieStore, Key, KeyRing, MemoryStore, Session, SessionLayer};

#[derive(Session)]
#[session(name = "auth")]
struct Auth {
    visits: u64,
}

#[derive(Session)]
#[session(name = "cart")]
struct Cart {
    items: Vec<String>,
}

#[derive(Deserialize)]
struct Add {
    item: String,
}

async fn add(mut auth: Session<Auth>, mut cart: Session<Cart>, Query(q): Query<Add>) -> String {
    auth.visits += 1;
    cart.items.push(q.item);
    format!("visits: {}, cart: {}", auth.visits, cart.items.join(", "))
}

#[tokio::main]
async fn main() {
    let app = Router::new()
        .route("/add", get(add))
        .layer(SessionLayer::<Auth>::new(MemoryStore::new()))
        .layer(SessionLayer::<Cart>::new(CookieStore::sealed(KeyRing::new(Key::generate()))));
    common::serve(app).await;
}
