//! W3C trace context carried in a request's `_meta` (`traceparent`, `tracestate`,
//! `baggage`), as MCP 2026-07-28 documents for OpenTelemetry propagation.

use serde_json::Value;

/// The longest `tracestate` or `baggage` kept (W3C allows 512 and 8192 bytes; longer
/// values are dropped, not cut, so a downstream system never sees half an entry).
const MAX_TRACESTATE: usize = 512;
const MAX_BAGGAGE: usize = 8192;

/// The trace context a client sent with a request.
///
/// ```
/// use sluice_mcp::TraceContext;
/// use serde_json::json;
///
/// let meta = json!({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"});
/// let trace = TraceContext::from_meta(&meta).unwrap();
/// assert_eq!(trace.trace_id(), "0af7651916cd43dd8448eb211c80319c");
/// assert!(TraceContext::from_meta(&json!({"traceparent": "not a trace"})).is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    traceparent: String,
    tracestate: Option<String>,
    baggage: Option<String>,
}

impl TraceContext {
    /// Reads the trace context of a request's `_meta`; `None` without a well-formed
    /// `traceparent` (version `00`: `00-<32 hex>-<16 hex>-<2 hex>`, ids not all zero).
    pub fn from_meta(meta: &Value) -> Option<TraceContext> {
        let traceparent = meta.get("traceparent")?.as_str()?;
        if !well_formed(traceparent) {
            return None;
        }
        let text = |key: &str, max: usize| {
            meta.get(key)
                .and_then(Value::as_str)
                .filter(|v| v.len() <= max && v.bytes().all(|b| (0x20..0x7f).contains(&b)))
                .map(str::to_owned)
        };
        Some(TraceContext {
            traceparent: traceparent.to_ascii_lowercase(),
            tracestate: text("tracestate", MAX_TRACESTATE),
            baggage: text("baggage", MAX_BAGGAGE),
        })
    }

    /// The `traceparent` header value.
    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// The trace id (32 hex digits).
    pub fn trace_id(&self) -> &str {
        &self.traceparent[3..35]
    }

    /// The caller's span id (16 hex digits): the parent of the server's work.
    pub fn parent_span_id(&self) -> &str {
        &self.traceparent[36..52]
    }

    /// The vendor-specific `tracestate`, when sent.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The `baggage`, when sent.
    pub fn baggage(&self) -> Option<&str> {
        self.baggage.as_deref()
    }
}

fn well_formed(traceparent: &str) -> bool {
    let parts: Vec<&str> = traceparent.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let [version, trace, span, flags] = parts.as_slice() else {
        return false;
    };
    *version == "00"
        && hex(trace, 32)
        && hex(span, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && span.bytes().any(|b| b != b'0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_well_formed_trace_context_is_kept() {
        let good = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01";
        let trace = TraceContext::from_meta(
            &json!({"traceparent": good, "tracestate": "a=1", "baggage": "k=v"}),
        )
        .unwrap();
        assert_eq!(trace.parent_span_id(), "00f067aa0ba902b7");
        assert_eq!(
            (trace.tracestate(), trace.baggage()),
            (Some("a=1"), Some("k=v"))
        );
        for bad in [
            json!({"traceparent": "01-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"}),
            json!({"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}),
            json!({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"}),
            json!({"traceparent": "00-0af7651916cd43dd8448eb211c8031-00f067aa0ba902b7-01"}),
            json!({"traceparent": 7}),
            json!({}),
        ] {
            assert!(TraceContext::from_meta(&bad).is_none(), "{bad}");
        }
        let long = "x".repeat(MAX_TRACESTATE + 1);
        let trace = TraceContext::from_meta(
            &json!({"traceparent": good, "tracestate": long, "baggage": "a\nb"}),
        )
        .unwrap();
        assert_eq!((trace.tracestate(), trace.baggage()), (None, None));
    }
}
