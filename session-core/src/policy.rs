//! Expiry settings: idle and absolute timeouts, persistent cookies and remember-me.

use std::time::Duration;

use crate::record::Meta;
use crate::time::Timestamp;

/// When sessions end and how long their cookies live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryPolicy {
    /// A session ends this long after its last request (sliding). Default: 24 hours.
    pub idle_timeout: Duration,
    /// A session ends this long after it was created, however active. Default: none.
    pub absolute_timeout: Option<Duration>,
    /// Whether cookies outlive the browser session (`Max-Age` set) for every session.
    /// Default: no, cookies last until the browser closes unless `remember_me(true)`.
    pub persistent: bool,
    /// The idle timeout, and so the cookie lifetime, of sessions with `remember_me(true)`.
    /// Default: 30 days.
    pub remember_me_lifetime: Duration,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(24 * 3600),
            absolute_timeout: None,
            persistent: false,
            remember_me_lifetime: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

impl ExpiryPolicy {
    /// The sliding timeout of a session: its own lifetime if it has one, else the remember-me
    /// lifetime or the idle timeout.
    pub fn idle_for(&self, meta: &Meta) -> Duration {
        match meta.lifetime {
            Some(lifetime) => lifetime,
            None if meta.remember_me => self.remember_me_lifetime,
            None => self.idle_timeout,
        }
    }

    /// Whether the session's cookie outlives the browser session.
    pub fn is_persistent(&self, meta: &Meta) -> bool {
        self.persistent || meta.remember_me || meta.lifetime.is_some()
    }

    /// Metadata of a session created at `now`.
    pub fn new_meta(&self, now: Timestamp, remember_me: bool, lifetime: Option<Duration>) -> Meta {
        let mut meta = Meta {
            absolute_deadline: self.absolute_timeout.map(|t| now.after(t)),
            remember_me,
            lifetime,
            ..Meta::new(now)
        };
        meta.idle_deadline = Some(now.after(self.idle_for(&meta)));
        meta
    }

    /// `meta` under this policy: each deadline is the earlier of the stored one and the one
    /// this policy gives (`created + absolute timeout`, `last activity + idle timeout`).
    ///
    /// Deadlines are written when a session is created or slides, so without this a shorter
    /// timeout configured later (the usual answer to an incident) would spare every session
    /// stored before it, and a session stored without an absolute deadline would live for as
    /// long as it stays active.
    pub fn effective(&self, meta: Meta) -> Meta {
        let earlier = |stored: Option<Timestamp>, policy: Option<Timestamp>| match (stored, policy) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Meta {
            idle_deadline: earlier(meta.idle_deadline, Some(meta.last_active.after(self.idle_for(&meta)))),
            absolute_deadline: earlier(meta.absolute_deadline, self.absolute_timeout.map(|t| meta.created_at.after(t))),
            ..meta
        }
    }

    /// Moves the idle deadline of `meta` to `now + idle timeout` and records the activity.
    pub fn slide(&self, meta: &mut Meta, now: Timestamp) {
        meta.idle_deadline = Some(now.after(self.idle_for(meta)));
        meta.last_active = now;
    }

    /// Whether the idle deadline in `meta` is worth moving at `now`.
    ///
    /// Sliding rewrites the record (and the cookie, for persistent or client-side sessions), so
    /// it is throttled: only once a tenth of the idle timeout has passed since the last slide.
    pub fn slide_due(&self, meta: &Meta, now: Timestamp) -> bool {
        let idle = self.idle_for(meta);
        let Some(deadline) = meta.idle_deadline else { return true };
        let moved_by = now.after(idle).as_millis().saturating_sub(deadline.as_millis());
        u128::from(moved_by) >= idle.as_millis() / 10
    }

    /// The `Max-Age` of the session cookie: `None` for a browser-session cookie.
    pub fn cookie_max_age(&self, meta: &Meta, now: Timestamp) -> Option<Duration> {
        if !self.is_persistent(meta) {
            return None;
        }
        Some(meta.expires_at().map_or(self.idle_for(meta), |at| at.remaining_since(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slide_is_throttled_to_a_tenth_of_the_idle_timeout() {
        let policy = ExpiryPolicy { idle_timeout: Duration::from_secs(100), ..Default::default() };
        let t0 = Timestamp::from_millis(1_000_000);
        let meta = policy.new_meta(t0, false, None);
        assert!(!policy.slide_due(&meta, t0.after(Duration::from_secs(9))));
        assert!(policy.slide_due(&meta, t0.after(Duration::from_secs(10))));
    }

    #[test]
    fn a_shorter_idle_or_new_absolute_timeout_reaches_stored_sessions() {
        let t0 = Timestamp::from_millis(1_000_000);
        let old = ExpiryPolicy { idle_timeout: Duration::from_secs(24 * 3600), ..Default::default() };
        let stored = old.new_meta(t0, false, None);
        let new = ExpiryPolicy {
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Some(Duration::from_secs(3600)),
            ..old.clone()
        };
        let effective = new.effective(stored);
        assert_eq!(effective.idle_deadline, Some(t0.after(Duration::from_secs(30 * 60))));
        assert_eq!(effective.absolute_deadline, Some(t0.after(Duration::from_secs(3600))));
        assert!(effective.is_expired(t0.after(Duration::from_secs(40 * 60))));
        // A longer timeout never extends what was stored.
        let longer = ExpiryPolicy { idle_timeout: Duration::from_secs(48 * 3600), ..old.clone() };
        assert_eq!(longer.effective(stored), stored);
        assert_eq!(old.effective(stored), stored);
    }

    #[test]
    fn max_age_only_for_persistent_or_remembered_sessions() {
        let policy = ExpiryPolicy::default();
        let t0 = Timestamp::from_millis(0);
        let meta = policy.new_meta(t0, false, None);
        assert_eq!(policy.cookie_max_age(&meta, t0), None);
        let remembered = policy.new_meta(t0, true, None);
        assert_eq!(policy.cookie_max_age(&remembered, t0), Some(policy.remember_me_lifetime));
        let absolute = ExpiryPolicy { absolute_timeout: Some(Duration::from_secs(60)), persistent: true, ..policy };
        assert_eq!(absolute.cookie_max_age(&absolute.new_meta(t0, false, None), t0), Some(Duration::from_secs(60)));
    }
}
