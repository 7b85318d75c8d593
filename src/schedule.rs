//! Pure scheduling policy: when a source may be polled next, given its
//! timing, what its last polls did, and the politeness rules (exponential
//! backoff on failures, `Retry-After`, origin freshness, 410 Gone). No clock:
//! `now` is always passed in. Depends on `config` and `model`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Timing;
use crate::model::FetchState;

/// First wait after a failure; it doubles with each further failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(60);

/// Whether a scheduled poll may run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Not before then (backoff, `Retry-After`, freshness).
    Wait(DateTime<Utc>),
    /// The origin said 410 Gone: polled again only when the admin asks or
    /// changes the source's location.
    Gone,
}

/// The wait after `failures` consecutive failures: 1 min, 2, 4, … up to `cap`.
pub fn backoff(failures: u32, cap: Duration) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let factor = 2u32.saturating_pow(failures - 1);
    BACKOFF_BASE.saturating_mul(factor).min(cap)
}

/// May a scheduled poll of a source in `state` run at `now`?
pub fn gate(state: &FetchState, now: DateTime<Utc>, backoff_cap: Duration, respect_cache: bool) -> Gate {
    if state.gone {
        return Gate::Gone;
    }
    let mut not_before: Option<DateTime<Utc>> = state.retry_after;
    if state.consecutive_failures > 0
        && let Some(last) = state.last_poll
    {
        let wait = chrono::Duration::from_std(backoff(state.consecutive_failures, backoff_cap)).unwrap_or_default();
        not_before = not_before.max(Some(last + wait));
    }
    if respect_cache {
        not_before = not_before.max(state.fresh_until);
    }
    match not_before {
        Some(t) if t > now => Gate::Wait(t),
        _ => Gate::Open,
    }
}

/// The next time the source's timing fires after `now` (for the status page).
pub fn next_tick(timing: &Timing, last_poll: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match timing {
        Timing::Cron(schedule) => schedule.next_after(now),
        Timing::Every(every) => {
            let every = chrono::Duration::from_std(*every).ok()?;
            Some(last_poll.map_or(now, |last| (last + every).max(now)))
        }
    }
}

/// When the next scheduled poll will really happen: the next tick that the
/// gate lets through (None for a gone source).
pub fn next_poll(
    timing: &Timing,
    state: &FetchState,
    now: DateTime<Utc>,
    backoff_cap: Duration,
    respect_cache: bool,
) -> Option<DateTime<Utc>> {
    let from = match gate(state, now, backoff_cap, respect_cache) {
        Gate::Gone => return None,
        Gate::Open => now,
        Gate::Wait(t) => t,
    };
    next_tick(timing, state.last_poll, from)
}

/// A stable spread of polls: each source gets its own offset in
/// `[0, window)`, the same on every start and every tick, so 10,000 sources
/// on one schedule do not fire in the same millisecond, and tests know what
/// to expect.
pub fn spread_offset(name: &str, window: Duration) -> Duration {
    if window.is_zero() {
        return Duration::ZERO;
    }
    let hash = crate::model::stable_hash(name.as_bytes());
    Duration::from_millis(hash % window.as_millis().max(1) as u64)
}

/// The window a startup poll of `sources` sources is spread over: 50 ms
/// per source, at most `jitter`.
pub fn startup_window(jitter: Duration, sources: usize) -> Duration {
    jitter.min(Duration::from_millis(50).saturating_mul(sources as u32))
}

/// The first tick of `timing` strictly after `after`: a cron schedule's
/// next occurrence, or the next multiple of an `every` interval since the
/// epoch, so that every instance sharing a schedule computes the same ticks.
pub fn shared_tick(timing: &Timing, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match timing {
        Timing::Cron(schedule) => schedule.next_after(after),
        Timing::Every(every) => {
            let period = (every.as_millis() as i64).max(1);
            let next = (after.timestamp_millis().div_euclid(period) + 1) * period;
            DateTime::from_timestamp_millis(next)
        }
    }
}

/// The window a source's scheduled polls are spread over: `jitter`, but at
/// most half the time between two ticks, so a spread poll never runs into
/// the next tick.
pub fn tick_window(timing: &Timing, jitter: Duration, now: DateTime<Utc>) -> Duration {
    let period = match timing {
        Timing::Every(every) => Some(*every),
        Timing::Cron(schedule) => schedule
            .next_after(now)
            .and_then(|a| Some((a, schedule.next_after(a)?)))
            .and_then(|(a, b)| (b - a).to_std().ok()),
    };
    period.map_or(Duration::ZERO, |p| jitter.min(p / 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Schedule;

    #[test]
    fn ticks_are_the_same_wherever_they_are_computed_from() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let every = Timing::Every(Duration::from_secs(300));
        assert_eq!(
            shared_tick(&every, t("2026-11-28T10:02:11Z")),
            Some(t("2026-11-28T10:05:00Z"))
        );
        assert_eq!(
            shared_tick(&every, t("2026-11-28T10:04:59.999Z")),
            Some(t("2026-11-28T10:05:00Z"))
        );
        assert_eq!(
            shared_tick(&every, t("2026-11-28T10:05:00Z")),
            Some(t("2026-11-28T10:10:00Z"))
        );
        let cron = Timing::Cron(Box::new(Schedule::parse("0 */2 * * *").unwrap()));
        assert_eq!(
            shared_tick(&cron, t("2026-11-28T10:02:11Z")),
            Some(t("2026-11-28T12:00:00Z"))
        );
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const CAP: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(0, CAP), Duration::ZERO);
        assert_eq!(backoff(1, CAP), Duration::from_secs(60));
        assert_eq!(backoff(4, CAP), Duration::from_secs(8 * 60));
        assert_eq!(backoff(40, CAP), CAP);
        assert_eq!(backoff(u32::MAX, Duration::from_secs(3600)), Duration::from_secs(3600));
    }

    #[test]
    fn a_failing_source_waits_and_a_healthy_one_does_not() {
        let now = t("2026-11-25T10:00:00Z");
        let mut state = FetchState {
            last_poll: Some(t("2026-11-25T09:58:00Z")),
            ..FetchState::default()
        };
        assert_eq!(gate(&state, now, CAP, false), Gate::Open);
        state.consecutive_failures = 3; // waits 4 minutes after the last poll
        assert_eq!(gate(&state, now, CAP, false), Gate::Wait(t("2026-11-25T10:02:00Z")));
        assert_eq!(gate(&state, t("2026-11-25T10:02:01Z"), CAP, false), Gate::Open);
    }

    #[test]
    fn retry_after_freshness_and_gone() {
        let now = t("2026-11-25T10:00:00Z");
        let mut state = FetchState {
            retry_after: Some(t("2026-11-25T11:00:00Z")),
            ..FetchState::default()
        };
        assert_eq!(gate(&state, now, CAP, false), Gate::Wait(t("2026-11-25T11:00:00Z")));
        state.retry_after = None;
        state.fresh_until = Some(t("2026-11-25T10:30:00Z"));
        assert_eq!(
            gate(&state, now, CAP, false),
            Gate::Open,
            "freshness only when the admin allows it"
        );
        assert_eq!(gate(&state, now, CAP, true), Gate::Wait(t("2026-11-25T10:30:00Z")));
        state.gone = true;
        assert_eq!(gate(&state, now, CAP, true), Gate::Gone);
        assert_eq!(
            next_poll(&Timing::Every(Duration::from_secs(900)), &state, now, CAP, true),
            None
        );
    }

    #[test]
    fn next_poll_follows_cron_or_every_past_the_gate() {
        let now = t("2026-11-25T10:07:30Z");
        let cron = Timing::Cron(Box::new(Schedule::parse("*/15 * * * *").unwrap()));
        let healthy = FetchState::default();
        assert_eq!(
            next_poll(&cron, &healthy, now, CAP, false),
            Some(t("2026-11-25T10:15:00Z"))
        );
        let failing = FetchState {
            consecutive_failures: 6, // 32 minutes after 10:07:00
            last_poll: Some(t("2026-11-25T10:07:00Z")),
            ..FetchState::default()
        };
        assert_eq!(
            next_poll(&cron, &failing, now, CAP, false),
            Some(t("2026-11-25T10:45:00Z"))
        );
        let every = Timing::Every(Duration::from_secs(600));
        let polled = FetchState {
            last_poll: Some(t("2026-11-25T10:00:00Z")),
            ..FetchState::default()
        };
        assert_eq!(
            next_poll(&every, &polled, now, CAP, false),
            Some(t("2026-11-25T10:10:00Z"))
        );
    }

    #[test]
    fn startup_offsets_are_spread_and_stable() {
        let window = Duration::from_secs(10);
        let offsets: Vec<Duration> = (0..100)
            .map(|i| spread_offset(&format!("source-{i}"), window))
            .collect();
        assert!(offsets.iter().all(|o| *o < window));
        assert_eq!(offsets[7], spread_offset("source-7", window));
        let first_second = offsets.iter().filter(|o| o.as_secs() == 0).count();
        assert!(first_second < 30, "{first_second} of 100 in the first second");
        assert_eq!(spread_offset("x", Duration::ZERO), Duration::ZERO);
    }
}
