//! Written notices the operator sent to an actor of the guard (a
//! cease-and-desist letter, an email to a crawler's operator), as the
//! operator records them: `tollgate guard notice`. The guard's evidence
//! report (`tollgate guard report`) counts what an actor did after each.
//!
//! The rules a notice must meet are written once, here, and every backend
//! checks them (`check`) before it stores anything, so that a bad date or an
//! empty actor is the same `StoreError::Invalid` whatever the backend.

use tollgate_domain::Timestamp;

use crate::{Result, StoreError};

/// The longest actor id accepted, in bytes.
pub const MAX_ACTOR_BYTES: usize = 256;
/// The longest notice text accepted, in bytes: a summary or the letter itself.
pub const MAX_TEXT_BYTES: usize = 65_536;
/// The longest reference accepted, in bytes.
pub const MAX_REFERENCE_BYTES: usize = 2_048;

/// A written notice as recorded; the store assigns `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardNotice {
    pub id: u64,
    /// The guard's id of the actor it was sent to.
    pub actor: String,
    /// The day it was sent (UTC), `YYYY-MM-DD`.
    pub date: String,
    /// What it said, or a summary.
    pub text: String,
    /// Where a copy is kept (an absolute URI), if the operator gave one.
    pub reference: Option<String>,
    /// When it was recorded (not when it was sent).
    pub recorded_at: Timestamp,
}

/// A written notice to record (`Store::record_guard_notice`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGuardNotice {
    pub actor: String,
    /// `YYYY-MM-DD`, a real calendar day, not after `recorded_at`'s day.
    pub date: String,
    pub text: String,
    pub reference: Option<String>,
    pub recorded_at: Timestamp,
}

impl GuardNotice {
    /// The first instant the notice is counted from: the start (UTC) of the
    /// day after its date. Its time of day is not recorded, so nothing the
    /// actor did on the day it was sent is counted as done after it.
    pub fn counted_from(&self) -> Timestamp {
        day_start(&self.date).map_or(Timestamp::from_millis(i64::MAX), |t| Timestamp::from_millis(t.millis() + DAY))
    }
}

const DAY: i64 = 86_400_000;

/// The start (00:00 UTC) of a day written `YYYY-MM-DD`; `None` if it is not
/// exactly that shape or not a real day (`2026-02-30`).
pub fn day_start(date: &str) -> Option<Timestamp> {
    let b = date.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    Timestamp::parse(&format!("{date}T00:00:00Z")).ok()
}

/// Checks a notice against the rules every backend enforces; the error names
/// the field.
pub fn check(notice: &NewGuardNotice) -> Result<()> {
    let invalid = |field: &'static str, reason: String| Err(StoreError::Invalid { field, reason });
    let actor = &notice.actor;
    if actor.trim().is_empty() {
        return invalid("actor", "an actor is required: the guard's id of the actor the notice was sent to".into());
    }
    if actor.trim() != actor || actor.chars().any(char::is_control) {
        return invalid("actor", format!("`{}` has surrounding spaces or control characters", actor.escape_debug()));
    }
    if actor.len() > MAX_ACTOR_BYTES {
        return invalid("actor", format!("longer than {MAX_ACTOR_BYTES} bytes"));
    }
    let Some(day) = day_start(&notice.date) else {
        return invalid("date", format!("`{}` is not a day written YYYY-MM-DD", notice.date.escape_debug()));
    };
    if day.millis() > notice.recorded_at.millis().div_euclid(DAY) * DAY {
        return invalid("date", format!("`{}` is after today (UTC): a notice is recorded once sent", notice.date));
    }
    if notice.text.trim().is_empty() {
        return invalid("text", "the notice's text (or a summary of it) is required".into());
    }
    if notice.text.len() > MAX_TEXT_BYTES {
        return invalid("text", format!("longer than {MAX_TEXT_BYTES} bytes"));
    }
    if let Some(r) = &notice.reference {
        if !is_absolute_uri(r) {
            return invalid(
                "reference",
                format!("`{}` is not an absolute URI without spaces (`https://...`)", r.escape_debug()),
            );
        }
        if r.len() > MAX_REFERENCE_BYTES {
            return invalid("reference", format!("longer than {MAX_REFERENCE_BYTES} bytes"));
        }
    }
    Ok(())
}

/// `scheme:rest` (RFC 3986's scheme, a non-empty rest), with no whitespace
/// or control character anywhere.
fn is_absolute_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else { return false };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_read_only_in_their_one_shape() {
        assert_eq!(day_start("2026-12-01").unwrap().to_string(), "2026-12-01T00:00:00.000Z");
        for bad in ["2026-02-30", "2026-1-05", "2026-01-05T00:00:00Z", "tomorrow", "", "２０２６-01-05", "2026/01/05"]
        {
            assert!(day_start(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_notice_counts_from_the_day_after_it_was_sent() {
        let n = GuardNotice {
            id: 1,
            actor: "a".into(),
            date: "2026-12-31".into(),
            text: "t".into(),
            reference: None,
            recorded_at: Timestamp::from_millis(0),
        };
        assert_eq!(n.counted_from().to_string(), "2027-01-01T00:00:00.000Z");
    }

    #[test]
    fn references_must_be_absolute_uris() {
        for good in ["https://example.com/letters/1.pdf", "mailto:legal@example.com", "urn:uuid:1"] {
            assert!(is_absolute_uri(good), "{good}");
        }
        for bad in ["example.com/x", "https://exa mple.com", ":x", "1http://x", "https:", "file:/a\nb"] {
            assert!(!is_absolute_uri(bad), "{bad}");
        }
    }
}
