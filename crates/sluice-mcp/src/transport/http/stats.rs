//! What the endpoint counts for an operator: bearer-token verifications by outcome and
//! the event streams open now ([`Stats`]), printed in Prometheus' text format by
//! [`Endpoint::render_metrics`](super::Endpoint::render_metrics).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The outcomes a verification is counted under: a token the verifier accepted, no
/// bearer token at all, the verifier's refusal codes (RFC 6750), and any other code.
const OUTCOMES: [&str; 6] = [
    "valid",
    "missing",
    "invalid_token",
    "invalid_request",
    "insufficient_scope",
    "other",
];

/// Counters shared by every request of one endpoint.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    verifications: [AtomicU64; OUTCOMES.len()],
    streams: AtomicU64,
}

/// Holds one event stream's place in [`Stats`] while the stream is open.
pub(crate) struct OpenStream(Arc<Stats>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Stats {
    /// Counts one verification: `Ok` for a valid token, else the refusal's error code
    /// (`None`: no bearer token was sent).
    pub(crate) fn verified(&self, outcome: Result<(), Option<&str>>) {
        let name = match outcome {
            Ok(()) => "valid",
            Err(None) => "missing",
            Err(Some(code)) => code,
        };
        let index = OUTCOMES
            .iter()
            .position(|known| *known == name)
            .unwrap_or(OUTCOMES.len() - 1);
        if let Some(counter) = self.verifications.get(index) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts an event stream as open until the returned guard drops.
    pub(crate) fn stream_opened(self: &Arc<Self>) -> OpenStream {
        self.streams.fetch_add(1, Ordering::Relaxed);
        OpenStream(Arc::clone(self))
    }

    /// The counters in Prometheus' text format, with `sessions` (the open 2025-11-25
    /// sessions) beside them.
    pub(crate) fn render(&self, sessions: usize) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP sluice_http_sessions Open 2025-11-25 HTTP sessions.\n\
             # TYPE sluice_http_sessions gauge\n",
        );
        let _ = writeln!(out, "sluice_http_sessions {sessions}");
        out.push_str(
            "# HELP sluice_http_event_streams Event streams open now (answers streamed \
             as events, and sessions' GET streams).\n\
             # TYPE sluice_http_event_streams gauge\n",
        );
        let _ = writeln!(
            out,
            "sluice_http_event_streams {}",
            self.streams.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP sluice_token_verifications_total Bearer tokens checked, by outcome.\n\
             # TYPE sluice_token_verifications_total counter\n",
        );
        for (outcome, counter) in OUTCOMES.iter().zip(&self.verifications) {
            let _ = writeln!(
                out,
                "sluice_token_verifications_total{{outcome=\"{outcome}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_counted_and_unknown_codes_are_other() {
        let stats = Arc::new(Stats::default());
        stats.verified(Ok(()));
        stats.verified(Ok(()));
        stats.verified(Err(None));
        stats.verified(Err(Some("invalid_token")));
        stats.verified(Err(Some("something_new")));
        let open = stats.stream_opened();
        let text = stats.render(3);
        assert!(text.contains("sluice_http_sessions 3\n"), "{text}");
        assert!(text.contains("sluice_http_event_streams 1\n"), "{text}");
        assert!(text.contains("{outcome=\"valid\"} 2\n"), "{text}");
        assert!(text.contains("{outcome=\"missing\"} 1\n"), "{text}");
        assert!(text.contains("{outcome=\"invalid_token\"} 1\n"), "{text}");
        assert!(text.contains("{outcome=\"other\"} 1\n"), "{text}");
        drop(open);
        assert!(stats.render(0).contains("sluice_http_event_streams 0\n"));
    }
}
