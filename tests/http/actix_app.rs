//! The suite's routes on actix-web: a real `HttpServer` on loopback, in a thread of its own
//! with its own actix system, spoken to over sockets.

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{ContentType, LOCATION};
use actix_web::middleware::{from_fn, Condition, Next};
use actix_web::{web, App as ActixApp, HttpResponse, HttpServer};
use session_kit::actix::{Session, SessionFailure, SessionMiddleware, SessionRejection};

use crate::support::{Loopback, Reply, Req, Server};
use crate::{configure, server_store, Account, App, Cart, Framework, Params, Settings, Wide};

/// The actix-web harness.
pub(crate) struct Actix;

impl Framework for Actix {
    fn serve(settings: Settings) -> Arc<dyn Server> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || app(settings.clone()))
                    .workers(2)
                    .disable_signals()
                    .listen(listener)
                    .unwrap()
                    .run();
                handle_tx.send(server.handle()).unwrap();
                server.await
            })
        });
        Arc::new(Running { loopback: Loopback(addr), handle: handle_rx.recv().unwrap() })
    }

    fn validate(settings: &Settings) -> Result<(), session_kit::ConfigError> {
        app_middleware(settings).validate()
    }

    fn builds(settings: Settings) -> bool {
        // Built as a worker builds it, on an actix system of its own (not inside the test's
        // runtime); `init_service` panics when the app fails to build.
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                actix_web::test::init_service(app(settings)).await;
            })
        })
        .join()
        .is_ok()
    }
}

/// A server running in its thread, stopped when dropped.
struct Running {
    loopback: Loopback,
    handle: ServerHandle,
}

impl Server for Running {
    fn send(&self, request: Req) -> std::pin::Pin<Box<dyn std::future::Future<Output = Reply> + Send + '_>> {
        self.loopback.send(request)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // The stop command is sent at once; its completion is not waited for.
        drop(self.handle.stop(false));
    }
}

fn app_middleware(settings: &Settings) -> SessionMiddleware<App> {
    let middleware = configure!(SessionMiddleware::<App>::new(settings.storage.clone()), settings);
    if !settings.html_failures {
        return middleware;
    }
    middleware.on_failure(|failure: &SessionFailure<'_>| {
        let page = match failure {
            SessionFailure::Open(_) => "<h1>Cannot load your session</h1>",
            SessionFailure::Save(_) => "<h1>Cannot save your session</h1>",
            _ => "<h1>Session error</h1>",
        };
        HttpResponse::build(failure.status()).content_type(ContentType::html()).body(page)
    })
}

async fn read(session: Session<App>) -> String {
    format!("name={:?} count={}", session.name, session.count)
}

async fn set(mut session: Session<App>, p: web::Query<Params>) -> &'static str {
    let p = p.into_inner();
    session.name = p.name;
    if let Some(remember) = p.remember {
        session.remember_me(remember);
    }
    "set"
}

async fn name(s: Session<App>) -> String {
    format!("{:?}", s.name)
}

/// The auth guard of the `guard` example: lets logged-in requests through to the handler.
async fn require_login(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let session = request.extract::<Session<App>>().await?;
    if session.name.is_none() {
        let redirect = HttpResponse::SeeOther().insert_header((LOCATION, "/login-page")).finish();
        return Ok(request.into_response(redirect).map_into_right_body());
    }
    Ok(next.call(request).await?.map_into_left_body())
}

/// Changes the session after its handler has run.
async fn stamp_after(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut session = request.extract::<Session<App>>().await?;
    let response = next.call(request).await?;
    session.notice = Some("stamped".into());
    Ok(response)
}

/// Changes the session, then calls the handler while still holding it.
async fn rename_and_keep(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut session = request.extract::<Session<App>>().await?;
    session.name = Some("from the middleware".into());
    let response = next.call(request).await;
    drop(session);
    response
}

/// Changes the session and gives it back before calling the handler.
async fn rename_and_release(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut session = request.extract::<Session<App>>().await?;
    session.name = Some("from the middleware".into());
    drop(session);
    next.call(request).await
}

async fn save_now(settings: web::Data<Settings>, mut s: Session<App>) -> String {
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

async fn later(settings: web::Data<Settings>, mut s: Session<App>) -> &'static str {
    // A task on the worker's own thread: actix's spawn needs no `Send`, though a `Session` is.
    actix_web::rt::spawn(async move {
        // Changed only after the response has gone out.
        settings.probe.gate.notified().await;
        s.count = 99;
    });
    "spawned"
}

async fn read_later(settings: web::Data<Settings>, s: Session<App>) -> &'static str {
    // `tokio::spawn` works too: the worker runs on a tokio runtime, and a `Session` is `Send`.
    tokio::spawn(async move {
        settings.probe.gate.notified().await;
        settings.probe.show(format!("{:?}", s.notice));
    });
    "spawned"
}

fn app(
    settings: Settings,
) -> ActixApp<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let app_middleware = app_middleware(&settings);
    let (cart, wide, account) = (settings.storage.clone(), settings.storage.clone(), settings.storage.clone());
    let app_layer = settings.app_layer;
    let account_clock = settings.clock.clone();
    ActixApp::new()
        .app_data(web::Data::new(settings))
        .route("/untouched", web::get().to(|| async { "untouched" }))
        .route("/read", web::get().to(read))
        .route("/set", web::get().to(set))
        .route(
            "/incr",
            web::get().to(|mut s: Session<App>| async move {
                s.count += 1;
                s.count.to_string()
            }),
        )
        .route(
            "/remove",
            web::get().to(|mut s: Session<App>| async move {
                s.name = None;
                "removed"
            }),
        )
        .route(
            "/destroy",
            web::get().to(|mut s: Session<App>| async move {
                s.destroy();
                "destroyed"
            }),
        )
        .route(
            "/cycle",
            web::get().to(|mut s: Session<App>| async move {
                s.cycle_id();
                "cycled"
            }),
        )
        .route(
            "/login",
            web::get().to(|mut s: Session<App>, p: web::Query<Params>| async move {
                s.cycle_id();
                s.name = p.into_inner().name;
                "logged in"
            }),
        )
        .route(
            "/flash",
            web::get().to(|mut s: Session<App>, p: web::Query<Params>| async move {
                s.notice = p.into_inner().msg;
                "flashed"
            }),
        )
        .route("/show", web::get().to(|s: Session<App>| async move { format!("{:?}", s.notice) }))
        .route(
            "/keep",
            web::get().to(|mut s: Session<App>| async move {
                s.keep_flash();
                format!("{:?}", s.notice)
            }),
        )
        .route(
            "/cart",
            web::get().to(|mut cart: Session<Cart>| async move {
                let seen = format!("new={} items={:?}", cart.is_new(), cart.items);
                cart.items.push("intruder".into());
                seen
            }),
        )
        .service(
            web::resource("/guarded")
                .route(web::get().to(|mut s: Session<App>| async move {
                    s.count += 1;
                    format!("{} {}", s.name.clone().unwrap_or_default(), s.count)
                }))
                .wrap(from_fn(require_login)),
        )
        .service(
            web::resource("/stamped")
                .route(web::get().to(|mut s: Session<App>| async move {
                    s.count += 1;
                    "counted"
                }))
                .wrap(from_fn(stamp_after)),
        )
        .service(web::resource("/kept").route(web::get().to(name)).wrap(from_fn(rename_and_keep)))
        .service(web::resource("/released").route(web::get().to(name)).wrap(from_fn(rename_and_release)))
        .route("/save-now", web::get().to(save_now))
        .route("/later", web::get().to(later))
        .route("/read-later", web::get().to(read_later))
        .route(
            "/lifetime/{secs}",
            web::get().to(|mut s: Session<App>, secs: web::Path<u64>| async move {
                let secs = secs.into_inner();
                s.set_lifetime((secs > 0).then(|| Duration::from_secs(secs)));
                format!("{:?}", s.lifetime())
            }),
        )
        .route(
            "/both",
            web::get().to(|mut app: Session<App>, mut cart: Session<Cart>| async move {
                app.count += 1;
                cart.items.push(format!("item{}", app.count));
                format!("{} {:?}", app.count, cart.items)
            }),
        )
        .route(
            "/wide/{i}",
            web::get().to(|mut s: Session<Wide>, i: web::Path<usize>| async move {
                let i = i.into_inner();
                s.set(i, i as u32 + 1);
                "ok"
            }),
        )
        .route("/wide", web::get().to(|s: Session<Wide>| async move { format!("{:?}", s.all()) }))
        .route(
            "/init",
            web::get().to(|mut s: Session<Wide>| async move {
                s.set(0, 999);
                "ok"
            }),
        )
        .route(
            "/maybe",
            web::get().to(|s: Option<Session<App>>| async move {
                s.map_or_else(|| "no layer".to_owned(), |s| format!("{:?}", s.name))
            }),
        )
        .route(
            "/account/device",
            web::get().to(|mut s: Session<Account>, p: web::Query<Params>| async move {
                s.device = p.into_inner().msg;
                "device set"
            }),
        )
        .route(
            "/account/login",
            web::get().to(|mut s: Session<Account>, p: web::Query<Params>| async move {
                s.cycle_id();
                s.user = p.into_inner().name;
                "logged in"
            }),
        )
        .route(
            "/account/whoami",
            web::get().to(|s: Session<Account>| async move { format!("{:?} {:?}", s.user, s.device) }),
        )
        .route(
            "/account/count",
            web::get().to(|s: Session<Account>| async move {
                let Some(user) = s.user.clone() else { return "not logged in".to_owned() };
                s.sessions().count(&user).await.map_or_else(|e| e.to_string(), |n| n.to_string())
            }),
        )
        .route(
            "/account/end-others",
            web::get().to(|s: Session<Account>| async move {
                let Some(user) = s.user.clone() else { return "not logged in".to_owned() };
                s.sessions().end_others(&user).await.map_or_else(|e| e.to_string(), |n| format!("ended {n}"))
            }),
        )
        .route(
            "/explain",
            web::get().to(|s: Result<Session<App>, SessionRejection>| async move {
                s.err().map(|rejection| rejection.to_string()).unwrap_or_default()
            }),
        )
        // Wrapped last, so outside the guards of the resources above.
        .wrap(Condition::new(app_layer, app_middleware))
        .wrap(SessionMiddleware::<Cart>::new(cart).secure(false))
        .wrap(SessionMiddleware::<Wide>::new(wide).secure(false))
        .wrap(match account_clock {
            // The owner tests move time between a login and a "log out everywhere".
            Some(clock) => SessionMiddleware::<Account>::new(account).secure(false).clock(clock),
            None => SessionMiddleware::<Account>::new(account).secure(false),
        })
}
