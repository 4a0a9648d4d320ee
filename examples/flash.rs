//! Flash messages: post a form, get redirected, see the message exactly once.
//!
//! ```text
//! cargo run --example flash
//! # open http://127.0.0.1:3000/ and submit the form; reload: the message is gone
//! ```

mod common;

use axum::response::{Html, Redirect};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use session_kit::{MemoryStore, Session, SessionLayer};

#[derive(Session)]
#[session(name = "flash_demo")]
struct Ui {
    /// Shown on the next page that opens the session, then gone.
    #[flash]
    notice: Option<String>,
    saved: Vec<String>,
}

#[derive(Deserialize)]
struct Note {
    text: String,
}

async fn page(session: Session<Ui>) -> Html<String> {
    let notice = match &session.notice {
        Some(n) => format!(r#"<p id="notice">{}</p>"#, common::escape(n)),
        None => String::new(),
    };
    let notes: String = session.saved.iter().map(|n| format!("<li>{}</li>", common::escape(n))).collect();
    Html(format!(
        r#"<!doctype html><title>flash</title>{notice}
<form method="post" action="/save"><input name="text" id="text"><button id="save">Save</button></form>
<ul id="notes">{notes}</ul>"#
    ))
}

async fn save(mut session: Session<Ui>, Form(note): Form<Note>) -> Redirect {
    session.saved.push(note.text.clone());
    session.notice = Some(format!("Saved “{}”", note.text));
    Redirect::to("/")
}

#[tokio::main]
async fn main() {
    let app = Router::new()
        .route("/", get(page))
        .route("/save", post(save))
        .layer(SessionLayer::<Ui>::new(MemoryStore::new()));
    common::serve(app).await;
}
