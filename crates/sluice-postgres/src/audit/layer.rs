//! The `tracing-subscriber` layer that turns `sluice::audit` events into
//! [`AuditEvent`]s: [`AuditLayer`].

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

use super::{AuditEvent, AuditSink};

/// The target the tools (and sluice-auth's OAuth server) log audit events on.
pub const AUDIT_TARGET: &str = "sluice::audit";

/// Records every event of the [`AUDIT_TARGET`] target in an [`AuditSink`], without
/// waiting ([`AuditSink::layer`]).
///
/// It passes over every other event, but cannot stop other layers' events from being
/// made: give it a per-layer filter for the audit target (`.with_filter(Targets::new()
/// .with_target(AUDIT_TARGET, Level::TRACE))`) when the subscriber's other layers filter
/// too, so that they keep their own levels.
#[derive(Debug, Clone)]
pub struct AuditLayer {
    sink: AuditSink,
}

impl AuditLayer {
    pub(super) fn new(sink: AuditSink) -> Self {
        AuditLayer { sink }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for AuditLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != AUDIT_TARGET {
            return;
        }
        self.sink.record(audit_event(event));
    }
}

/// An event of the [`AUDIT_TARGET`] target as an [`AuditEvent`], with its verdict.
pub(crate) fn audit_event(event: &tracing::Event<'_>) -> AuditEvent {
    let mut fields = Fields(AuditEvent::new(String::new()), None);
    event.record(&mut fields);
    let Fields(mut audit, reason) = fields;
    if audit.verdict.is_none() {
        // A reason is a refusal's or a failure's, as the event's words say; other
        // warnings carry their level.
        audit.verdict = match reason {
            Some(reason) if audit.message.contains("refused") => Some(format!("refused: {reason}")),
            Some(reason) => Some(format!("failed: {reason}")),
            None if *event.metadata().level() <= tracing::Level::WARN => {
                Some(event.metadata().level().as_str().to_lowercase())
            }
            None => None,
        };
    }
    audit
}

/// Sorts an event's fields into the table's columns (the rest goes to `detail`), and
/// keeps a `reason` apart.
struct Fields(AuditEvent, Option<String>);

impl Fields {
    fn text(&mut self, field: &Field, value: String) {
        let event = &mut self.0;
        match field.name() {
            "message" => event.message = value,
            "login" => event.login = Some(value),
            "tool" => event.tool = Some(value),
            "database" => event.database = Some(value),
            "sql" => event.sql = Some(value),
            "params" => event.params = Some(value),
            "verdict" => event.verdict = Some(value),
            "sqlstate" => event.sqlstate = Some(value),
            // A refusal's reason is its verdict.
            "reason" => self.1 = Some(value),
            name => {
                event.detail.insert(name.to_owned(), value.into());
            }
        }
    }

    fn number(&mut self, field: &Field, value: f64, exact: Option<i64>) {
        match (field.name(), exact) {
            ("rows", Some(n)) => self.0.rows = Some(n),
            ("duration_ms", _) => self.0.duration_ms = Some(value),
            (name, Some(n)) => {
                self.0.detail.insert(name.to_owned(), n.into());
            }
            (name, None) => {
                self.0.detail.insert(name.to_owned(), value.into());
            }
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // `%value` fields arrive here printed with Display.
        self.text(field, format!("{value:?}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        #[allow(clippy::cast_precision_loss)]
        self.number(field, value as f64, Some(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        #[allow(clippy::cast_precision_loss)]
        self.number(field, value as f64, i64::try_from(value).ok());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.number(field, value, None);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.detail.insert(field.name().to_owned(), value.into());
    }
}
