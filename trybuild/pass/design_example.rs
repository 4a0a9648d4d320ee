//! The struct from DESIGN.md's "What a user writes", every attribute at once.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use session_kit::integration::FieldSpec;
use session_kit::{Session, SessionData};

#[derive(Serialize, Deserialize, PartialEq, Debug)]
enum Theme {
    Light,
    Dark,
}

impl Theme {
    fn light() -> Self {
        Theme::Light
    }
}

#[derive(Session, Default)]
#[session(name = "app")]
struct App {
    user_id: Option<u64>,
    #[flash]
    notice: Option<String>,
    #[flash]
    alerts: Vec<String>,
    #[session(ttl = "10m")]
    otp: Option<String>,
    #[session(skip)]
    scratch: u32,
    #[session(rename = "t", default = "Theme::light")]
    theme: Theme,
}

impl Default for Theme {
    fn default() -> Self {
        Theme::Dark
    }
}

fn main() {
    assert_eq!(App::NAME, "app");
    assert_eq!(
        App::FIELDS,
        &[
            FieldSpec::plain("user_id"),
            FieldSpec::flash("notice"),
            FieldSpec::flash("alerts"),
            FieldSpec::plain("otp").with_ttl(Duration::from_secs(600)),
            FieldSpec::plain("t"),
        ]
    );
    // `default = ".."` wins over the type's own `Default` (which is `Dark`).
    let fresh = App::fresh();
    assert_eq!(fresh.theme, Theme::Light);
    assert_eq!(fresh.scratch, 0);
    let _ = (fresh.user_id, fresh.notice, fresh.alerts, fresh.otp);
}
