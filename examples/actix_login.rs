//! Login and logout with a remember-me box, on actix-web: the `login` example's program. The id
//! is cycled on login (against session fixation), and the session is destroyed on logout.
//! Sessions are kept in SQLite at `SESSION_DB` (default `./login-sessions.db`), so users stay
//! logged in across a server restart.
//!
//! ```text
//! cargo run --example actix_login --features actix,sqlite
//! # open http://127.0.0.1:3000/, log in as anyone with the password "secret"
//! ```

mod actix_common;

use actix_web::http::header::{ContentType, LOCATION};
use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Deserialize;
use session_kit::actix::{Session, SessionMiddleware};
use session_kit::SqliteStore;

#[derive(session_kit::Session)]
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

async fn home(session: Session<Auth>) -> HttpResponse {
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
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(format!("<!doctype html><title>login</title>{notice}{body}"))
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((LOCATION, location)).finish()
}

async fn login(mut session: Session<Auth>, form: web::Form<Credentials>) -> HttpResponse {
    let user = form.user.trim();
    if form.password != "secret" || user.is_empty() || !user.chars().all(char::is_alphanumeric) {
        session.notice = Some("Wrong user name or password".to_owned());
        return see_other("/");
    }
    // New privileges, new id: a session id planted before login is worthless after it.
    session.cycle_id();
    session.user = Some(user.to_owned());
    session.remember_me(form.remember.is_some());
    session.notice = Some(format!("Welcome, {user}"));
    see_other("/")
}

async fn logout(mut session: Session<Auth>) -> HttpResponse {
    session.destroy();
    see_other("/")
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let path = std::env::var("SESSION_DB").unwrap_or_else(|_| "login-sessions.db".to_owned());
    let store = SqliteStore::open(&path).await.expect("cannot open the SESSION_DB database");
    // `__Host-login`: the browser then takes the cookie only from this exact host, over a
    // secure connection, with `Path=/`, so a sibling subdomain (or a plain-HTTP page on the
    // network path) cannot plant a cookie that shadows the login. `localhost` and 127.0.0.1
    // count as secure.
    let sessions = SessionMiddleware::<Auth>::new(store).host_prefix();
    HttpServer::new(move || {
        App::new()
            .route("/", web::get().to(home))
            .route("/login", web::post().to(login))
            .route("/logout", web::post().to(logout))
            .wrap(sessions.clone())
    })
    .listen(actix_common::listener())?
    .run()
    .await
}
