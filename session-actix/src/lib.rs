//! [actix-web](https://docs.rs/actix-web) integration of session-kit: [`SessionMiddleware<T>`]
//! and the [`Session<T>`] extractor. Most users reach these through the `session-kit` facade's
//! `actix` feature, as `session_kit::actix`.
//!
//! It is actix-web's plumbing only: the HTTP that belongs to no framework (cookies, the token's
//! transport, the per-request slot, failure responses) is `session_core::web`'s, shared with
//! the axum integration, so both behave alike and take the same configuration.
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer};
//! use session_kit::actix::{Session, SessionMiddleware};
//! use session_kit::MemoryStore;
//!
//! #[derive(session_kit::Session)]
//! #[session(name = "app")]
//! struct AppSession {
//!     user_id: Option<u64>,
//!     #[flash]
//!     notice: Option<String>,
//! }
//!
//! async fn index(mut session: Session<AppSession>) -> String {
//!     let notice = session.notice.take();
//!     session.user_id = Some(7);
//!     format!("{notice:?}")
//! }
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     // One store for every worker: the middleware is built once and cloned into each `App`.
//!     let sessions = SessionMiddleware::<AppSession>::new(MemoryStore::new());
//!     HttpServer::new(move || App::new().route("/", web::get().to(index)).wrap(sessions.clone()))
//!         .bind("127.0.0.1:3000")?
//!         .run()
//!         .await
//! }
//! ```
//!
//! actix-web runs each request on one thread, but a [`Session`] is `Send`: it may be moved into
//! a task on any runtime, and the middleware's per-request slot is shared through an `Arc` and
//! a mutex that is never contended in practice.

mod extract;
mod failure;
mod middleware;

pub use extract::{RejectionKind, Session, SessionRejection};
pub use failure::SessionFailure;
pub use middleware::{SessionMiddleware, SessionService};
pub use session_core::web::{ConfigError, SameSite, Transport};
