//! Wide sessions: 5 and 50 fields of ~150-byte strings (about 0.8 and 8 KB), for the rows that
//! show how per-request cost grows with the size of a session when a request reads it all
//! (`/read`) or changes one field (`/write-one`).
//!
//! Both sides do the same work: session-kit keeps one stored entry per field and writes only the
//! changed one; the peer (tower-sessions) keeps the struct as one serde value under
//! [`PEER_KEY`](crate::PEER_KEY) and rewrites it whole, as its users do.
//!
//! | route | work |
//! |---|---|
//! | `/seed` | writes every field (run once, before measuring) |
//! | `/read` | reads every field, renders their total length and a checksum of their first bytes |
//! | `/write-one` | changes one field (the middle one: its first character moves to the end), renders its length |

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use session_kit::{Session, SessionData, SessionLayer};

/// Length of every field's value in the fixtures.
pub const FIELD_LEN: usize = 150;

/// The fixture value of field `index`: [`FIELD_LEN`] printable ASCII bytes, different per field
/// and never one repeated character, so moving a character always changes the value.
pub fn field_value(index: usize) -> String {
    let mut value = format!("field {index:02}: ");
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut i = index;
    while value.len() < FIELD_LEN {
        value.push(char::from(alphabet[i % alphabet.len()]));
        i += 7;
    }
    value
}

/// What the wide routes do with a session, the same on both sides.
pub trait Wide: Sized + Send + Sync + 'static {
    /// Number of fields.
    const FIELD_COUNT: usize;
    /// The name (and session-kit storage key) of the field `/write-one` changes.
    const TOUCHED: &'static str;
    /// Every field set to its fixture value.
    fn sample() -> Self;
    /// Reads every field: total length and a checksum of first bytes, as `/read` renders it.
    fn digest(&self) -> String;
    /// Changes one field (the middle one) and returns its new length, as `/write-one` renders it.
    fn touch(&mut self) -> String;
}

/// Moves the first character of `s` to its end: a different value of the same length, made
/// without allocating.
fn rotate(s: &mut String) {
    if !s.is_empty() {
        let first = s.remove(0);
        s.push(first);
    }
}

macro_rules! wide_session {
    (
        $(#[$kit_doc:meta])* $kit:ident, $name:literal,
        $(#[$peer_doc:meta])* $peer:ident,
        touch = $touched:ident,
        fields = [$($field:ident = $index:literal),+ $(,)?]
    ) => {
        $(#[$kit_doc])*
        #[derive(Session, Debug, Clone, PartialEq)]
        #[session(name = $name)]
        pub struct $kit {
            $(
                #[allow(missing_docs)] // field `fNN` holds fixture value NN
                pub $field: String,
            )+
        }

        $(#[$peer_doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct $peer {
            $(
                #[allow(missing_docs)]
                pub $field: String,
            )+
        }

        wide_session!(@impl $kit, $touched, [$($field = $index),+]);
        wide_session!(@impl $peer, $touched, [$($field = $index),+]);
    };
    (@impl $ty:ident, $touched:ident, [$($field:ident = $index:literal),+]) => {
        impl Wide for $ty {
            const FIELD_COUNT: usize = [$($index),+].len();
            const TOUCHED: &'static str = stringify!($touched);
            fn sample() -> Self {
                Self { $($field: field_value($index)),+ }
            }
            fn digest(&self) -> String {
                let mut len = 0usize;
                let mut sum = 0u64;
                $(
                    len += self.$field.len();
                    sum += u64::from(self.$field.as_bytes().first().copied().unwrap_or(0));
                )+
                format!("{len} {sum}")
            }
            fn touch(&mut self) -> String {
                rotate(&mut self.$touched);
                self.$touched.len().to_string()
            }
        }
    };
}

wide_session! {
    /// session-kit's 5-field wide session.
    Wide5, "wide5",
    /// The peer's 5-field wide session: one serde value.
    PeerWide5,
    touch = f02,
    fields = [f00 = 0, f01 = 1, f02 = 2, f03 = 3, f04 = 4]
}

wide_session! {
    /// session-kit's 50-field wide session (about 8 KB of values).
    Wide50, "wide50",
    /// The peer's 50-field wide session: one serde value.
    PeerWide50,
    touch = f25,
    fields = [
        f00 = 0, f01 = 1, f02 = 2, f03 = 3, f04 = 4, f05 = 5, f06 = 6, f07 = 7, f08 = 8, f09 = 9,
        f10 = 10, f11 = 11, f12 = 12, f13 = 13, f14 = 14, f15 = 15, f16 = 16, f17 = 17, f18 = 18, f19 = 19,
        f20 = 20, f21 = 21, f22 = 22, f23 = 23, f24 = 24, f25 = 25, f26 = 26, f27 = 27, f28 = 28, f29 = 29,
        f30 = 30, f31 = 31, f32 = 32, f33 = 33, f34 = 34, f35 = 35, f36 = 36, f37 = 37, f38 = 38, f39 = 39,
        f40 = 40, f41 = 41, f42 = 42, f43 = 43, f44 = 44, f45 = 45, f46 = 46, f47 = 47, f48 = 48, f49 = 49,
    ]
}

/// The body `/read` returns right after `/seed`, for a session of type `T`.
pub fn expected_read_body<T: Wide>() -> String {
    T::sample().digest()
}

// ---------------------------------------------------------------------------------------------
// session-kit.

async fn kit_seed<T: Wide + SessionData>(mut session: Session<T>) -> &'static str {
    *session = T::sample();
    "seeded"
}

async fn kit_read<T: Wide + SessionData>(session: Session<T>) -> String {
    session.digest()
}

async fn kit_write_one<T: Wide + SessionData>(mut session: Session<T>) -> String {
    session.touch()
}

/// session-kit's wide routes for `T` on `storage` (a store or a cookie store).
pub fn kit_router<T: Wide + SessionData>(storage: impl session_kit::integration::IntoStorage) -> Router {
    Router::new()
        .route("/seed", get(kit_seed::<T>))
        .route("/read", get(kit_read::<T>))
        .route("/write-one", get(kit_write_one::<T>))
        .layer(SessionLayer::<T>::new(storage).secure(false))
}

// ---------------------------------------------------------------------------------------------
// tower-sessions.

async fn ts_seed<P: Wide + Serialize + DeserializeOwned>(
    session: tower_sessions::Session,
) -> Result<&'static str, StatusCode> {
    session.insert(crate::PEER_KEY, P::sample()).await.map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok("seeded")
}

async fn ts_load<P: DeserializeOwned>(session: &tower_sessions::Session) -> Result<P, StatusCode> {
    session
        .get::<P>(crate::PEER_KEY)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .ok_or(StatusCode::UNAUTHORIZED)
}

async fn ts_read<P: Wide + DeserializeOwned>(session: tower_sessions::Session) -> Result<String, StatusCode> {
    Ok(ts_load::<P>(&session).await?.digest())
}

async fn ts_write_one<P: Wide + Serialize + DeserializeOwned>(
    session: tower_sessions::Session,
) -> Result<String, StatusCode> {
    let mut p = ts_load::<P>(&session).await?;
    let body = p.touch();
    session.insert(crate::PEER_KEY, p).await.map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(body)
}

/// tower-sessions' wide routes for `P` on `store`.
pub fn ts_router<P, S>(store: S) -> Router
where
    P: Wide + Serialize + DeserializeOwned,
    S: tower_sessions::SessionStore + Clone,
{
    let layer = tower_sessions::SessionManagerLayer::new(store).with_secure(false).with_name(crate::COOKIE_NAME);
    Router::new()
        .route("/seed", get(ts_seed::<P>))
        .route("/read", get(ts_read::<P>))
        .route("/write-one", get(ts_write_one::<P>))
        .layer(layer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_have_the_stated_shape() {
        assert_eq!(Wide5::FIELD_COUNT, 5);
        assert_eq!(Wide50::FIELD_COUNT, 50);
        assert_eq!(<Wide50 as SessionData>::FIELDS.len(), 50);
        assert!((0..50).all(|i| field_value(i).len() == FIELD_LEN));
        let json = serde_json::to_vec(&PeerWide50::sample()).unwrap_or_default();
        assert!((7_500..8_500).contains(&json.len()), "50 fields serialize to {} bytes", json.len());
    }

    #[test]
    fn touch_changes_the_value_but_not_its_length() {
        let mut kit = Wide50::sample();
        let before = kit.f25.clone();
        assert_eq!(kit.touch(), FIELD_LEN.to_string());
        assert_ne!(kit.f25, before);
        assert_eq!(kit.f24, Wide50::sample().f24);
    }

    #[test]
    fn both_sides_render_the_same() {
        assert_eq!(Wide5::sample().digest(), PeerWide5::sample().digest());
        assert_eq!(Wide50::sample().digest(), PeerWide50::sample().digest());
    }
}
