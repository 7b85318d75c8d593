//! Prometheus metrics (prometheus-client): polls by outcome, poll
//! durations, bytes fetched, entries stored, each source's last success.
//! Recorded by the scheduler and the publisher, read by `GET /metrics`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceOutcome {
    source: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

pub struct Metrics {
    registry: Registry,
    polls: Family<SourceOutcome, Counter>,
    durations: Family<SourceLabel, Histogram>,
    bytes: Family<SourceLabel, Counter>,
    last_success: Family<SourceLabel, Gauge>,
    source_entries: Family<SourceLabel, Gauge>,
    entries: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("thau");
        let polls = Family::<SourceOutcome, Counter>::default();
        let durations = Family::<SourceLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        let bytes = Family::<SourceLabel, Counter>::default();
        let last_success = Family::<SourceLabel, Gauge>::default();
        let source_entries = Family::<SourceLabel, Gauge>::default();
        let entries = Gauge::default();
        registry.register("polls", "Polls by source and outcome", polls.clone());
        registry.register(
            "poll_duration_seconds",
            "Time a poll took (fetch, parse, store)",
            durations.clone(),
        );
        registry.register(
            "fetched_bytes",
            "Bytes of documents fetched (decompressed)",
            bytes.clone(),
        );
        registry.register(
            "source_last_success_timestamp_seconds",
            "When each source last polled without error (Unix time)",
            last_success.clone(),
        );
        registry.register(
            "source_entries",
            "Entries stored that each source carried",
            source_entries.clone(),
        );
        registry.register("entries", "Entries stored", entries.clone());
        Metrics {
            registry,
            polls,
            durations,
            bytes,
            last_success,
            source_entries,
            entries,
        }
    }
}

impl Metrics {
    pub fn record_poll(&self, source: &str, outcome: &str, took: Duration, bytes: u64, success: Option<DateTime<Utc>>) {
        self.polls
            .get_or_create(&SourceOutcome {
                source: source.into(),
                outcome: outcome.into(),
            })
            .inc();
        let label = SourceLabel { source: source.into() };
        self.durations.get_or_create(&label).observe(took.as_secs_f64());
        self.bytes.get_or_create(&label).inc_by(bytes);
        if let Some(t) = success {
            self.last_success.get_or_create(&label).set(t.timestamp());
        }
    }

    /// Entries stored, in all and per source.
    pub fn record_entries<'a>(&self, per_source: impl Iterator<Item = (&'a String, &'a usize)>, total: usize) {
        self.source_entries.clear();
        for (source, n) in per_source {
            self.source_entries
                .get_or_create(&SourceLabel { source: source.clone() })
                .set(*n as i64);
        }
        self.entries.set(total as i64);
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String does not fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_and_labels() {
        let m = Metrics::default();
        m.record_poll(
            "courrier",
            "new",
            Duration::from_millis(30),
            2048,
            Some(DateTime::UNIX_EPOCH),
        );
        m.record_entries([("courrier".to_string(), 5usize)].iter().map(|(a, b)| (a, b)), 5);
        let text = m.encode();
        assert!(
            text.contains(r#"thau_polls_total{source="courrier",outcome="new"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"thau_fetched_bytes_total{source="courrier"} 2048"#),
            "{text}"
        );
        assert!(text.contains(r#"thau_source_entries{source="courrier"} 5"#), "{text}");
        assert!(text.contains("thau_entries 5"), "{text}");
        assert!(text.contains("thau_poll_duration_seconds_bucket"), "{text}");
    }
}
