//! An auth guard in middleware: the guard reads the session and lets logged-in requests
//! through; the handler behind it extracts the same session again and changes it.
//!
//! ```text
//! cargo run --example guard
//! # http://127.0.0.1:3000/account redirects to /login; /login?user=ada logs in; /account counts visits
//! ```

mod common;

use axum::extract::{Query, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use session_kit::{MemoryStore, Session, SessionLayer};

#[derive(Session)]
#[session(name = "guard")]
struct Auth {
    user: Option<String>,
    visits: u32,
}

/// Lets a request through only with a logged-in session. It keeps its handle while the
/// handler runs: the handler gets the session too, and the layer saves once, after both.
async fn require_login(session: Session<Auth>, request: Request, next: Next) -> Response {
    if session.user.is_none() {
        return Redirect::to("/login").into_response();
    }
    next.run(request).await
}

async fn account(mut session: Session<Auth>) -> String {
    session.visits += 1;
    let user = session.user.as_deref().unwrap_or_default();
    format!("Hello {user}, visit {}", session.visits)
}

#[derive(Deserialize)]
struct Login {
    user: Option<String>,
}

async fn login(mut session: Session<Auth>, Query(login): Query<Login>) -> Response {
    match login.user {
        Some(user) => {
            session.cycle_id();
            session.user = Some(user);
            Redirect::to("/account").into_response()
        }
        None => "Log in with /login?user=NAME".into_response(),
    }
}

#[tokio::main]
async fn main() {
    let guarded = Router::new().route("/account", get(account)).route_layer(middleware::from_fn(require_login));
    let app = Router::new()
        .route("/login", get(login))
        .merge(guarded)
        // Added last, so it wraps the guard as well as the handlers.
        .layer(SessionLayer::<Auth>::new(MemoryStore::new()));
    common::serve(app).await;
}
