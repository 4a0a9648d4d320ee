//! The suite's routes on axum: a router driven in-process through `tower::ServiceExt`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::middleware::{from_fn, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use http::Request;
use session_kit::{Session, SessionFailure, SessionLayer, SessionRejection};

use crate::support::Server;
use crate::{configure, server_store, Account, App, Cart, Framework, Params, Settings, Wide};

/// The axum harness.
pub(crate) struct Axum;

impl Framework for Axum {
    fn serve(settings: Settings) -> Arc<dyn Server> {
        Arc::new(router(settings))
    }

    fn validate(settings: &Settings) -> Result<(), session_kit::ConfigError> {
        app_layer(settings).validate()
    }

    fn builds(settings: Settings) -> bool {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| router(settings))).is_ok()
    }
}

fn app_layer(settings: &Settings) -> SessionLayer<App> {
    let layer = configure!(SessionLayer::<App>::new(settings.storage.clone()), settings);
    if !settings.html_failures {
        return layer;
    }
    layer.on_failure(|failure: &SessionFailure<'_>| {
        let page = match failure {
            SessionFailure::Open(_) => "<h1>Cannot load your session</h1>",
            SessionFailure::Save(_) => "<h1>Cannot save your session</h1>",
            _ => "<h1>Session error</h1>",
        };
        (failure.status(), Html(page)).into_response()
    })
}

async fn read(session: Session<App>) -> String {
    format!("name={:?} count={}", session.name, session.count)
}

async fn set(mut session: Session<App>, Query(p): Query<Params>) -> &'static str {
    session.name = p.name;
    if let Some(remember) = p.remember {
        session.remember_me(remember);
    }
    "set"
}

/// The auth guard of the `guard` example: lets logged-in requests through to the handler.
async fn require_login(session: Session<App>, request: Request<axum::body::Body>, next: Next) -> Response {
    if session.name.is_none() {
        return Redirect::to("/login-page").into_response();
    }
    next.run(request).await
}

/// Changes the session after its handler has run.
async fn stamp_after(mut session: Session<App>, request: Request<axum::body::Body>, next: Next) -> Response {
    let response = next.run(request).await;
    session.notice = Some("stamped".into());
    response
}

/// Changes the session, then calls the handler while still holding it.
async fn rename_and_keep(mut session: Session<App>, request: Request<axum::body::Body>, next: Next) -> Response {
    session.name = Some("from the middleware".into());
    next.run(request).await
}

/// Changes the session and gives it back before calling the handler.
async fn rename_and_release(mut session: Session<App>, request: Request<axum::body::Body>, next: Next) -> Response {
    session.name = Some("from the middleware".into());
    drop(session);
    next.run(request).await
}

async fn save_now(State(settings): State<Arc<Settings>>, mut s: Session<App>) -> String {
    s.name = Some("saved early".into());
    if let Err(error) = s.save().await {
        return format!("not saved: {error}");
    }
    let id = s.id().expect("a saved session has an id").clone();
    let now = session_kit::clock::Clock::now(&session_kit::clock::SystemClock);
    match server_store(&settings.storage).load(&id.store_key("app"), now).await {
        Ok(Some(_)) => "stored before the response".to_owned(),
        other => format!("not in the store: {other:?}"),
    }
}

async fn later(State(settings): State<Arc<Settings>>, mut s: Session<App>) -> &'static str {
    tokio::spawn(async move {
        // Changed only after the response has gone out.
        settings.probe.gate.notified().await;
        s.count = 99;
    });
    "spawned"
}

async fn read_later(State(settings): State<Arc<Settings>>, s: Session<App>) -> &'static str {
    tokio::spawn(async move {
        settings.probe.gate.notified().await;
        settings.probe.show(format!("{:?}", s.notice));
    });
    "spawned"
}

fn router(settings: Settings) -> Router {
    let settings = Arc::new(settings);
    let name = |s: Session<App>| async move { format!("{:?}", s.name) };
    let routes = Router::new()
        .route("/untouched", get(|| async { "untouched" }))
        .route("/read", get(read))
        .route("/set", get(set))
        .route(
            "/incr",
            get(|mut s: Session<App>| async move {
                s.count += 1;
                s.count.to_string()
            }),
        )
        .route(
            "/remove",
            get(|mut s: Session<App>| async move {
                s.name = None;
                "removed"
            }),
        )
        .route(
            "/destroy",
            get(|mut s: Session<App>| async move {
                s.destroy();
                "destroyed"
            }),
        )
        .route(
            "/cycle",
            get(|mut s: Session<App>| async move {
                s.cycle_id();
                "cycled"
            }),
        )
        .route(
            "/login",
            get(|mut s: Session<App>, Query(p): Query<Params>| async move {
                s.cycle_id();
                s.name = p.name;
                "logged in"
            }),
        )
        .route(
            "/flash",
            get(|mut s: Session<App>, Query(p): Query<Params>| async move {
                s.notice = p.msg;
                "flashed"
            }),
        )
        .route("/show", get(|s: Session<App>| async move { format!("{:?}", s.notice) }))
        .route(
            "/keep",
            get(|mut s: Session<App>| async move {
                s.keep_flash();
                format!("{:?}", s.notice)
            }),
        )
        .route(
            "/cart",
            get(|mut cart: Session<Cart>| async move {
                let seen = format!("new={} items={:?}", cart.is_new(), cart.items);
                cart.items.push("intruder".into());
                seen
            }),
        )
        .route(
            "/guarded",
            get(|mut s: Session<App>| async move {
                s.count += 1;
                format!("{} {}", s.name.clone().unwrap_or_default(), s.count)
            })
            .route_layer(from_fn(require_login)),
        )
        .route(
            "/stamped",
            get(|mut s: Session<App>| async move {
                s.count += 1;
                "counted"
            })
            .route_layer(from_fn(stamp_after)),
        )
        .route("/kept", get(name).route_layer(from_fn(rename_and_keep)))
        .route("/released", get(name).route_layer(from_fn(rename_and_release)))
        .route("/save-now", get(save_now))
        .route("/later", get(later))
        .route("/read-later", get(read_later))
        .route(
            "/lifetime/{secs}",
            get(|mut s: Session<App>, Path(secs): Path<u64>| async move {
                s.set_lifetime((secs > 0).then(|| Duration::from_secs(secs)));
                format!("{:?}", s.lifetime())
            }),
        )
        .route(
            "/both",
            get(|mut app: Session<App>, mut cart: Session<Cart>| async move {
                app.count += 1;
                cart.items.push(format!("item{}", app.count));
                format!("{} {:?}", app.count, cart.items)
            }),
        )
        .route(
            "/wide/{i}",
            get(|mut s: Session<Wide>, Path(i): Path<usize>| async move {
                s.set(i, i as u32 + 1);
                "ok"
            }),
        )
        .route("/wide", get(|s: Session<Wide>| async move { format!("{:?}", s.all()) }))
        .route(
            "/init",
            get(|mut s: Session<Wide>| async move {
                s.set(0, 999);
                "ok"
            }),
        )
        .route(
            "/account/device",
            get(|mut s: Session<Account>, Query(p): Query<Params>| async move {
                s.device = p.msg;
                "device set"
            }),
        )
        .route(
            "/account/login",
            get(|mut s: Session<Account>, Query(p): Query<Params>| async move {
                s.cycle_id();
                s.user = p.name;
                "logged in"
            }),
        )
        .route("/account/whoami", get(|s: Session<Account>| async move { format!("{:?} {:?}", s.user, s.device) }))
        .route(
            "/account/count",
            get(|s: Session<Account>| async move {
                let Some(user) = s.user.clone() else { return "not logged in".to_owned() };
                s.sessions().count(&user).await.map_or_else(|e| e.to_string(), |n| n.to_string())
            }),
        )
        .route(
            "/account/end-others",
            get(|s: Session<Account>| async move {
                let Some(user) = s.user.clone() else { return "not logged in".to_owned() };
                s.sessions().end_others(&user).await.map_or_else(|e| e.to_string(), |n| format!("ended {n}"))
            }),
        )
        .route(
            "/maybe",
            get(|s: Option<Session<App>>| async move {
                s.map_or_else(|| "no layer".to_owned(), |s| format!("{:?}", s.name))
            }),
        )
        .route(
            "/explain",
            get(|s: Result<Session<App>, SessionRejection>| async move {
                s.err().map(|rejection| rejection.to_string()).unwrap_or_default()
            }),
        )
        .with_state(settings.clone());
    let routes = match settings.app_layer {
        true => routes.layer(app_layer(&settings)),
        false => routes,
    };
    routes
        .layer(SessionLayer::<Cart>::new(settings.storage.clone()).secure(false))
        .layer(SessionLayer::<Wide>::new(settings.storage.clone()).secure(false))
        .layer(match &settings.clock {
            // The owner tests move time between a login and a "log out everywhere".
            Some(clock) => SessionLayer::<Account>::new(settings.storage.clone()).secure(false).clock(clock.clone()),
            None => SessionLayer::<Account>::new(settings.storage.clone()).secure(false),
        })
}
