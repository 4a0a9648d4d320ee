//! `default = "path"` with the path forms users write; the field types need no `Default`.

use session_kit::{Session, SessionData};

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Locale(String);

impl Locale {
    fn english() -> Self {
        Locale("en".into())
    }
}

mod defaults {
    pub(crate) fn page_size() -> u32 {
        25
    }
}

fn generic_zero<T: From<u8>>() -> T {
    T::from(0)
}

#[derive(Session)]
struct Prefs {
    #[session(default = "Locale::english")]
    locale: Locale,
    #[session(default = "defaults::page_size")]
    page_size: u32,
    #[session(default = "generic_zero::<u64>")]
    zero: u64,
    #[session(default = "<Vec<u8> as Default>::default")]
    bytes: Vec<u8>,
    #[session(default = "crate::defaults::page_size", rename = "ps2")]
    page_size_again: u32,
}

fn main() {
    let mut p = Prefs::fresh();
    assert_eq!((p.locale.0.as_str(), p.page_size, p.zero, p.bytes.len(), p.page_size_again), ("en", 25, 0, 0, 25));
    p.page_size = 1;
    p.reset_field(1);
    assert_eq!(p.page_size, 25);
    p.locale = Locale("fr".into());
    p.reset_field(0);
    assert_eq!(p.locale, Locale::english());
}
