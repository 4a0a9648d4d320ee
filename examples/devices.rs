//! The sessions of one user: log in with a device name, list where you are logged in, end one
//! of those sessions, or log out everywhere else. The user name is the session's owner field
//! (`#[session(owner)]`), so `Session::sessions()` lists and ends the sessions of that user.
//! Sessions are kept in memory.
//!
//! ```text
//! cargo run --example devices
//! # open http://127.0.0.1:3000/ in two browsers (or a private window), log in as the same
//! # user with the password "secret" and two device names, then open /devices in either
//! ```

mod common;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use session_kit::clock::Timestamp;
use session_kit::owner::SessionRef;
use session_kit::{MemoryStore, Session, SessionLayer};

#[derive(Session)]
#[session(name = "devices")]
struct Account {
    /// Who is logged in: the owner whose sessions `/devices` lists.
    #[session(owner)]
    user: Option<String>,
    /// The name given at login, shown in the list.
    device: Option<String>,
    #[flash]
    notice: Option<String>,
}

/// A store error, answered as a 500 (and logged).
struct Failed(session_kit::Error);

impl From<session_kit::Error> for Failed {
    fn from(error: session_kit::Error) -> Self {
        Self(error)
    }
}

impl IntoResponse for Failed {
    fn into_response(self) -> Response {
        tracing::error!(error = %self.0, "the session store failed");
        (StatusCode::INTERNAL_SERVER_ERROR, "The session store failed; try again").into_response()
    }
}

#[derive(Deserialize)]
struct Credentials {
    user: String,
    password: String,
    device: String,
}

#[derive(Deserialize)]
struct End {
    session: String,
}

/// `at` as `YYYY-MM-DD HH:MM:SS UTC`.
fn show(at: Timestamp) -> String {
    let secs = at.as_millis() / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rest / 3600, rest % 3600 / 60, rest % 60)
}

fn page(title: &str, notice: Option<&str>, body: &str) -> Html<String> {
    let notice = notice.map(|n| format!(r#"<p id="notice">{}</p>"#, common::escape(n))).unwrap_or_default();
    Html(format!("<!doctype html><title>{title}</title>{notice}{body}"))
}

const LOGIN_FORM: &str = r#"<p id="status">Not logged in</p>
<form method="post" action="/login">
<input name="user" id="user" placeholder="user"> <input name="password" id="password" type="password" placeholder="password">
<input name="device" id="device" placeholder="device name, e.g. laptop">
<button id="login">Log in</button></form>"#;

async fn home(session: Session<Account>) -> Html<String> {
    let body = match (&session.user, &session.device) {
        (Some(user), device) => format!(
            r#"<p id="status">Logged in as {user} on {}</p>
<p><a id="devices" href="/devices">Your devices</a></p>
<form method="post" action="/logout"><button id="logout">Log out</button></form>"#,
            common::escape(device.as_deref().unwrap_or("an unnamed device"))
        ),
        (None, _) => LOGIN_FORM.to_owned(),
    };
    page("devices", session.notice.as_deref(), &body)
}

async fn login(mut session: Session<Account>, Form(form): Form<Credentials>) -> Response {
    let user = form.user.trim();
    let device = form.device.trim();
    if form.password != "secret" || user.is_empty() || !user.chars().all(char::is_alphanumeric) {
        session.notice = Some("Wrong user name or password".to_owned());
        return Redirect::to("/").into_response();
    }
    // New privileges, new id; the user's list follows the new id.
    session.cycle_id();
    session.user = Some(user.to_owned());
    session.device = Some(if device.is_empty() { "unnamed device" } else { device }.chars().take(60).collect());
    session.notice = Some(format!("Welcome, {user}"));
    Redirect::to("/").into_response()
}

/// Where you are logged in: one row per live session of this user, the oldest first.
async fn devices(session: Session<Account>) -> Result<Response, Failed> {
    let Some(user) = session.user.clone() else {
        return Ok(page("devices", session.notice.as_deref(), LOGIN_FORM).into_response());
    };
    let mut rows = String::new();
    for s in session.sessions().list(&user).await? {
        let device = common::escape(s.value.device.as_deref().unwrap_or("unnamed device"));
        let this = if s.is_current { r#" <strong class="current">this device</strong>"# } else { "" };
        // The reference names the session for `end`; it never opens it, and another user's
        // reference ends nothing.
        rows += &format!(
            r#"<tr class="session" data-ref="{r}"><td class="device">{device}</td><td class="created">{}</td><td class="last-active">{}</td><td>{this}</td>
<td><form method="post" action="/devices/end"><input type="hidden" name="session" value="{r}"><button class="end">End</button></form></td></tr>
"#,
            show(s.created_at),
            show(s.last_active),
            r = s.reference,
        );
    }
    let body = format!(
        r#"<p id="status">Logged in as {user}</p>
<table id="sessions"><tr><th>Device</th><th>Created</th><th>Last active</th><th></th><th></th></tr>
{rows}</table>
<form method="post" action="/devices/end-others"><button id="end-others">Log out everywhere else</button></form>
<form method="post" action="/logout"><button id="logout">Log out</button></form>
<p><a href="/">Home</a></p>"#
    );
    Ok(page("your devices", session.notice.as_deref(), &body).into_response())
}

async fn end(mut session: Session<Account>, Form(form): Form<End>) -> Result<Redirect, Failed> {
    let Some(user) = session.user.clone() else { return Ok(Redirect::to("/")) };
    let ended = match form.session.parse::<SessionRef>() {
        Ok(reference) => session.sessions().end(&user, &reference).await?,
        Err(_) => false,
    };
    session.notice = Some(if ended { "Session ended" } else { "No such session" }.to_owned());
    Ok(Redirect::to("/devices"))
}

async fn end_others(mut session: Session<Account>) -> Result<Redirect, Failed> {
    let Some(user) = session.user.clone() else { return Ok(Redirect::to("/")) };
    let ended = session.sessions().end_others(&user).await?;
    session.notice = Some(format!("Logged out everywhere else ({ended} ended)"));
    Ok(Redirect::to("/devices"))
}

async fn logout(mut session: Session<Account>) -> Redirect {
    session.destroy();
    Redirect::to("/")
}

#[tokio::main]
async fn main() {
    let app = Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/devices", get(devices))
        .route("/devices/end", post(end))
        .route("/devices/end-others", post(end_others))
        .route("/logout", post(logout))
        .layer(SessionLayer::<Account>::new(MemoryStore::new()).host_prefix());
    common::serve(app).await;
}
