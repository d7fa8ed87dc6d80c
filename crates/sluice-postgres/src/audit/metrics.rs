//! Metrics in Prometheus' text format, counted from the audit events the tools log:
//! [`Metrics`].
//!
//! | metric | labels | what |
//! | --- | --- | --- |
//! | `sluice_tool_calls_total` | `tool`, `outcome` (`ok`, `refused`, `failed`) | tool calls |
//! | `sluice_tool_call_duration_seconds` | `tool` | histogram of their durations |
//! | `sluice_guard_refusals_total` | `reason` (the guard's reason, e.g. `statement_not_allowed`) | statements the guard refused |
//! | `sluice_database_errors_total` | `sqlstate` | calls PostgreSQL failed |
//! | `sluice_pool_connections` | `database`, `pool`, `state` (`open`, `idle`, `max`) | [`render_pools`] |
//! | `sluice_pool_waiting` | `database`, `pool` | calls waiting for a connection |
//! | `sluice_pool_acquires_total` | `database`, `pool` | calls that asked for a connection |
//! | `sluice_pool_acquire_seconds_total` | `database`, `pool` | the seconds they spent getting one (divide by the count for the mean wait) |
//! | `sluice_pool_acquire_timeouts_total` | `database`, `pool` | calls that got none: every connection stayed busy |
//! | `sluice_catalog_checks_total` | `database`, `pool`, `outcome` | catalog checks: `run` (ran and passed), `reused` (a passed one still held), `stale` (one that would have been reused had to run again) |
//!
//! Every label value comes from a bounded set (tool names, reason names, SQLSTATEs);
//! past [`MOST_SERIES`] values of one label, further ones count as `other`, so nothing a
//! client sends can grow the output without bound.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use tracing_subscriber::layer::Context;

use super::AuditEvent;
use super::layer::{AUDIT_TARGET, audit_event};
use crate::Databases;

/// The upper bounds of the duration histogram's buckets, in seconds.
const BOUNDS: [f64; 12] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The most values one label takes; past it, `other`.
pub const MOST_SERIES: usize = 64;

#[derive(Default)]
struct Histogram {
    buckets: [u64; BOUNDS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Counts {
    /// The tool names seen (bounded), whatever else their calls carried.
    tools: BTreeMap<String, ()>,
    calls: BTreeMap<(String, &'static str), u64>,
    durations: BTreeMap<String, Histogram>,
    refusals: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
}

/// Counters and histograms of tool calls, fed by [`Metrics::layer`] (or
/// [`Metrics::observe`]) and printed by [`Metrics::render`]. Clones share their counts.
#[derive(Clone, Default)]
pub struct Metrics {
    counts: Arc<Mutex<Counts>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// `value` as a label value of `map`'s keys: itself while the map is small or already
/// has it, else `other`.
fn bounded<V>(map: &BTreeMap<String, V>, value: &str) -> String {
    if map.len() < MOST_SERIES || map.contains_key(value) {
        value.to_owned()
    } else {
        "other".to_owned()
    }
}

impl Metrics {
    /// No calls counted yet.
    pub fn new() -> Self {
        Metrics::default()
    }

    /// A `tracing-subscriber` layer that counts every tool call the tools log on the
    /// audit target.
    pub fn layer(&self) -> MetricsLayer {
        MetricsLayer {
            metrics: self.clone(),
        }
    }

    /// Counts one audit event (those that are not a tool call's are passed over).
    pub fn observe(&self, event: &AuditEvent) {
        let Some(tool) = event.tool.as_deref() else {
            return;
        };
        let verdict = event.verdict.as_deref().unwrap_or("ok");
        let outcome = match verdict.split(':').next().unwrap_or("") {
            "ok" => "ok",
            "refused" => "refused",
            _ => "failed",
        };
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let counts = &mut *counts;
        let tool = bounded(&counts.tools, tool);
        counts.tools.insert(tool.clone(), ());
        *counts.calls.entry((tool.clone(), outcome)).or_insert(0) += 1;
        if let Some(ms) = event.duration_ms {
            let seconds = ms / 1000.0;
            let histogram = counts.durations.entry(tool).or_default();
            for (bucket, bound) in histogram.buckets.iter_mut().zip(BOUNDS) {
                if seconds <= bound {
                    *bucket += 1;
                }
            }
            histogram.sum += seconds;
            histogram.count += 1;
        }
        // The verdict of a call the tools finished: `refused: <reason name>` from the
        // guard, `failed: <SQLSTATE>` from PostgreSQL. Other refusals (permissions,
        // unknown databases) carry sentences, not names, and are counted only above.
        if event.message == "call" {
            if let Some(reason) = verdict.strip_prefix("refused: ") {
                let reason = bounded(&counts.refusals, reason);
                *counts.refusals.entry(reason).or_insert(0) += 1;
            } else if let Some(sqlstate) = verdict.strip_prefix("failed: ") {
                let sqlstate = bounded(&counts.errors, sqlstate);
                *counts.errors.entry(sqlstate).or_insert(0) += 1;
            }
        }
    }

    /// Everything counted, in Prometheus' text format.
    pub fn render(&self) -> String {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        out.push_str("# HELP sluice_tool_calls_total Tool calls, by tool and outcome.\n");
        out.push_str("# TYPE sluice_tool_calls_total counter\n");
        for ((tool, outcome), n) in &counts.calls {
            let _ = writeln!(
                out,
                "sluice_tool_calls_total{{tool=\"{}\",outcome=\"{outcome}\"}} {n}",
                escape(tool)
            );
        }
        out.push_str("# HELP sluice_tool_call_duration_seconds How long tool calls took.\n");
        out.push_str("# TYPE sluice_tool_call_duration_seconds histogram\n");
        for (tool, histogram) in &counts.durations {
            let tool = escape(tool);
            for (bound, n) in BOUNDS.iter().zip(histogram.buckets) {
                let _ = writeln!(
                    out,
                    "sluice_tool_call_duration_seconds_bucket{{tool=\"{tool}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "sluice_tool_call_duration_seconds_bucket{{tool=\"{tool}\",le=\"+Inf\"}} {}\n\
                 sluice_tool_call_duration_seconds_sum{{tool=\"{tool}\"}} {}\n\
                 sluice_tool_call_duration_seconds_count{{tool=\"{tool}\"}} {}",
                histogram.count, histogram.sum, histogram.count
            );
        }
        out.push_str(
            "# HELP sluice_guard_refusals_total Statements the SQL guard refused, by reason.\n",
        );
        out.push_str("# TYPE sluice_guard_refusals_total counter\n");
        for (reason, n) in &counts.refusals {
            let _ = writeln!(
                out,
                "sluice_guard_refusals_total{{reason=\"{}\"}} {n}",
                escape(reason)
            );
        }
        out.push_str("# HELP sluice_database_errors_total Calls PostgreSQL failed, by SQLSTATE.\n");
        out.push_str("# TYPE sluice_database_errors_total counter\n");
        for (sqlstate, n) in &counts.errors {
            let _ = writeln!(
                out,
                "sluice_database_errors_total{{sqlstate=\"{}\"}} {n}",
                escape(sqlstate)
            );
        }
        out
    }
}

/// The pools of every connected database, in Prometheus' text format (databases that
/// are down have none to show).
pub fn render_pools(databases: &Databases) -> String {
    let mut out = String::new();
    out.push_str("# HELP sluice_pool_connections Connections of each pool: open, idle, and the most it opens.\n");
    out.push_str("# TYPE sluice_pool_connections gauge\n");
    let mut waiting = String::new();
    let mut acquires = String::new();
    let mut acquire_seconds = String::new();
    let mut timeouts = String::new();
    let mut checks = String::new();
    let mut batched = String::new();
    let mut prepared = String::new();
    for name in databases.names() {
        let Some(database) = databases.connected(name) else {
            continue;
        };
        let name = escape(name);
        for usage in database.pool_usage() {
            let pool = usage.pool;
            for (state, n) in [
                ("open", usage.open),
                ("idle", usage.idle),
                ("max", usage.max),
            ] {
                let _ = writeln!(
                    out,
                    "sluice_pool_connections{{database=\"{name}\",pool=\"{pool}\",state=\"{state}\"}} {n}"
                );
            }
            let _ = writeln!(
                waiting,
                "sluice_pool_waiting{{database=\"{name}\",pool=\"{pool}\"}} {}",
                usage.waiting
            );
            let labels = format!("database=\"{name}\",pool=\"{pool}\"");
            let _ = writeln!(
                acquires,
                "sluice_pool_acquires_total{{{labels}}} {}",
                usage.acquires
            );
            let _ = writeln!(
                acquire_seconds,
                "sluice_pool_acquire_seconds_total{{{labels}}} {}",
                usage.acquire_micros as f64 / 1e6
            );
            let _ = writeln!(
                timeouts,
                "sluice_pool_acquire_timeouts_total{{{labels}}} {}",
                usage.acquire_timeouts
            );
            for (outcome, n) in [
                ("run", usage.checks_run),
                ("reused", usage.checks_reused),
                ("stale", usage.checks_stale),
            ] {
                let _ = writeln!(
                    checks,
                    "sluice_catalog_checks_total{{{labels},outcome=\"{outcome}\"}} {n}"
                );
            }
            let _ = writeln!(
                batched,
                "sluice_reads_batched_total{{{labels}}} {}",
                usage.reads_batched
            );
            let _ = writeln!(
                prepared,
                "sluice_reads_prepared_total{{{labels}}} {}",
                usage.reads_prepared
            );
        }
    }
    for (name, kind, help, lines) in [
        (
            "sluice_pool_waiting",
            "gauge",
            "Calls waiting for a connection.",
            &waiting,
        ),
        (
            "sluice_pool_acquires_total",
            "counter",
            "Calls that asked for a connection.",
            &acquires,
        ),
        (
            "sluice_pool_acquire_seconds_total",
            "counter",
            "Seconds calls spent getting a connection (opening one included).",
            &acquire_seconds,
        ),
        (
            "sluice_pool_acquire_timeouts_total",
            "counter",
            "Calls that got no connection: every one stayed busy past the wait.",
            &timeouts,
        ),
        (
            "sluice_catalog_checks_total",
            "counter",
            "Catalog checks run and passed, reused while nothing they depend on changed, or found stale.",
            &checks,
        ),
        (
            "sluice_reads_batched_total",
            "counter",
            "Reads sent as one batch under one Sync.",
            &batched,
        ),
        (
            "sluice_reads_prepared_total",
            "counter",
            "Reads that bound a statement prepared earlier on their connection.",
            &prepared,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        out.push_str(lines);
    }
    out
}

/// A label value with `\`, `"` and line breaks escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Counts the audit target's tool calls into [`Metrics`] ([`Metrics::layer`]).
#[derive(Debug, Clone)]
pub struct MetricsLayer {
    metrics: Metrics,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for MetricsLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() == AUDIT_TARGET {
            self.metrics.observe(&audit_event(event));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(tool: &str, verdict: &str, ms: f64) -> AuditEvent {
        let mut event = AuditEvent::new("call");
        event.tool = Some(tool.to_owned());
        event.verdict = Some(verdict.to_owned());
        event.duration_ms = Some(ms);
        event
    }

    #[test]
    fn calls_refusals_and_errors_are_counted() {
        let metrics = Metrics::new();
        metrics.observe(&call("queryDatabase", "ok", 0.7));
        metrics.observe(&call("queryDatabase", "ok", 30.0));
        metrics.observe(&call("queryDatabase", "refused: not_read_only", 0.1));
        metrics.observe(&call("executeDatabase", "failed: 23505", 2.0));
        let mut permission = AuditEvent::new("call refused");
        permission.tool = Some("executeDatabase".into());
        permission.verdict = Some("refused: alice may not write \"x\"".into());
        metrics.observe(&permission);
        metrics.observe(&AuditEvent::new("sign-in")); // not a call
        let text = metrics.render();
        for line in [
            "sluice_tool_calls_total{tool=\"queryDatabase\",outcome=\"ok\"} 2",
            "sluice_tool_calls_total{tool=\"queryDatabase\",outcome=\"refused\"} 1",
            "sluice_tool_calls_total{tool=\"executeDatabase\",outcome=\"failed\"} 1",
            "sluice_tool_calls_total{tool=\"executeDatabase\",outcome=\"refused\"} 1",
            "sluice_guard_refusals_total{reason=\"not_read_only\"} 1",
            "sluice_database_errors_total{sqlstate=\"23505\"} 1",
            "sluice_tool_call_duration_seconds_bucket{tool=\"queryDatabase\",le=\"0.001\"} 2",
            "sluice_tool_call_duration_seconds_bucket{tool=\"queryDatabase\",le=\"0.025\"} 2",
            "sluice_tool_call_duration_seconds_bucket{tool=\"queryDatabase\",le=\"0.05\"} 3",
            "sluice_tool_call_duration_seconds_bucket{tool=\"queryDatabase\",le=\"+Inf\"} 3",
            "sluice_tool_call_duration_seconds_count{tool=\"queryDatabase\"} 3",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        // A permission refusal's sentence is not a label.
        assert!(!text.contains("may not write"), "{text}");
    }

    #[test]
    fn label_values_stay_bounded() {
        let metrics = Metrics::new();
        for i in 0..(3 * MOST_SERIES) {
            let mut event = call(&format!("tool{i}"), &format!("failed: S{i}"), 1.0);
            if i % 2 == 0 {
                event.duration_ms = None; // counted all the same
            }
            metrics.observe(&event);
        }
        let text = metrics.render();
        let calls = text
            .lines()
            .filter(|l| l.starts_with("sluice_tool_calls_total{"))
            .count();
        assert!(calls <= MOST_SERIES + 1, "{calls} series");
        assert!(text.contains("tool=\"other\""));
        let errors = text
            .lines()
            .filter(|l| l.starts_with("sluice_database_errors_total{"))
            .count();
        assert!(errors <= MOST_SERIES + 1, "{errors} series");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
