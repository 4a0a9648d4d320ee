//! Login and logout with a remember-me box. The id is cycled on login (against session
//! fixation), and the session is destroyed on logout. Sessions are kept in SQLite at
//! `SESSION_DB` (default `./login-sessions.db`), so users stay logged in across a server
//! restart.
//!
//! ```text
//! cargo run --example login --features sqlite
//! # open http://127.0.0.1:3000/, log in as anyone with the password "secret"
//! ```

mod common;

use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use session_kit::{Session, SessionLayer, SqliteStore};

#[derive(Session)]
#[session(name = "login")]
struct Auth {
    user: Option<String>,
    #[flash]
    notice: Option<String>,
}

#[derive(Deserialize)]
struct Credentials {
    user: String,
    password: String,
    remember: Option<String>,
}

async fn home(session: Session<Auth>) -> Html<String> {
    let notice = session.notice.as_deref().map(|n| format!(r#"<p id="notice">{n}</p>"#)).unwrap_or_default();
    let body = match &session.user {
        Some(user) => format!(
            r#"<p id="status">Logged in as {user}{}</p><form method="post" action="/logout"><button id="logout">Log out</button></form>"#,
            if session.is_remembered() { " (remembered)" } else { "" }
        ),
        None => r#"<p id="status">Not logged in</p>
<form method="post" action="/login">
<input name="user" id="user"> <input name="password" id="password" type="password">
<label><input type="checkbox" name="remember" id="remember"> Remember me</label>
<button id="login">Log in</button></form>"#
            .to_owned(),
    };
    Html(format!("<!doctype html><title>login</title>{notice}{body}"))
}

async fn login(mut session: Session<Auth>, Form(form): Form<Credentials>) -> Response {
    let user = form.user.trim();
    if form.password != "secret" || user.is_empty() || !user.chars().all(char::is_alphanumeric) {
        session.notice = Some("Wrong user name or password".to_owned());
        return Redirect::to("/").into_response();
    }
    // New privileges, new id: a session id planted before login is worthless after it.
    session.cycle_id();
    session.user = Some(user.to_owned());
    session.remember_me(form.remember.is_some());
    session.notice = Some(format!("Welcome, {user}"));
    Redirect::to("/").into_response()
}

async fn logout(mut session: Session<Auth>) -> Redirect {
    session.destroy();
    Redirect::to("/")
}

#[tokio::main]
async fn main() {
    let path = std::env::var("SESSION_DB").unwrap_or_else(|_| "login-sessions.db".to_owned());
    let store = SqliteStore::open(&path).await.expect("cannot open the SESSION_DB database");
    let app = Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/logout", post(logout))
        // `__Host-login`: the browser then takes the cookie only from this exact host, over a
        // secure connection, with `Path=/`, so a sibling subdomain (or a plain-HTTP page on
        // the network path) cannot plant a cookie that shadows the login. Use it for every
        // session that carries a login; `localhost` and 127.0.0.1 count as secure.
        .layer(SessionLayer::<Auth>::new(store).host_prefix());
    common::serve(app).await;
}
