//! The task that drains the audit queue into the table, in batches, retrying while the
//! database is slow or down.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::Type;

use super::{AuditEvent, AuditOptions, Counts, Message};
use crate::config::ConnectError;
use crate::errors::with_causes;

const CREATE: &str = "CREATE SCHEMA IF NOT EXISTS sluice_audit;
CREATE TABLE IF NOT EXISTS sluice_audit.calls (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL,
    login text,
    tool text,
    database text,
    sql text,
    params text,
    verdict text,
    sqlstate text,
    rows bigint,
    duration_ms double precision,
    message text NOT NULL,
    detail jsonb
);";

const INSERT: &str = "INSERT INTO sluice_audit.calls \
    (at, login, tool, database, sql, params, verdict, sqlstate, rows, duration_ms, message, detail) \
    SELECT a, l, t, d, s, p, v, st, r, ms, m, x::jsonb \
    FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                $7::text[], $8::text[], $9::int8[], $10::float8[], $11::text[], $12::text[]) \
         AS u(a, l, t, d, s, p, v, st, r, ms, m, x)";

/// Longest wait between two attempts to write.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub(super) struct Writer {
    pool: Pool,
    counts: Arc<Counts>,
    /// Whether the table is known to exist.
    created: bool,
}

impl Writer {
    pub(super) fn new(options: &AuditOptions, counts: Arc<Counts>) -> Result<Self, ConnectError> {
        let pool = crate::database::side_pool(&options.postgres, &options.tls, "sluice-audit", 1)?;
        Ok(Writer {
            pool,
            counts,
            created: false,
        })
    }

    /// Drains the queue until every handle is gone.
    pub(super) async fn run(mut self, mut queue: mpsc::Receiver<Message>, batch: usize) {
        let mut events: Vec<AuditEvent> = Vec::with_capacity(batch);
        let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
        loop {
            // Wait for something, then take what else is queued, up to a batch.
            let Some(first) = queue.recv().await else {
                break;
            };
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match message {
                    Message::Event(event) => events.push(*event),
                    Message::Flush(done) => flushes.push(done),
                }
                if events.len() < batch {
                    next = queue.try_recv().ok();
                }
            }
            self.write_until_done(&mut events).await;
            for done in flushes.drain(..) {
                let _ = done.send(());
            }
        }
        // The last handle went: write what is left, one attempt.
        if !events.is_empty() {
            let _ = self.write(&events).await;
        }
        self.pool.close();
    }

    /// Writes `events` (and a `dropped` row when events were dropped), retrying until it
    /// works; the queue fills meanwhile, and past its bound events are counted instead.
    async fn write_until_done(&mut self, events: &mut Vec<AuditEvent>) {
        let mut wait = Duration::from_millis(100);
        let mut told = false;
        loop {
            let dropped = self.counts.dropped.swap(0, Ordering::Relaxed);
            if dropped > 0 {
                let mut row = AuditEvent::new(format!(
                    "{dropped} audit events were dropped: the audit table was slower than the calls"
                ));
                row.verdict = Some("dropped".to_owned());
                row.rows = i64::try_from(dropped).ok();
                events.push(row);
            }
            match self.write(events).await {
                Ok(()) => {
                    let n = u64::try_from(events.len()).unwrap_or(u64::MAX);
                    self.counts.written.fetch_add(n, Ordering::Relaxed);
                    events.clear();
                    if told {
                        tracing::info!("audit table reachable again; writing");
                    }
                    return;
                }
                Err(reason) => {
                    // The `dropped` row is counted again on the next attempt.
                    if let Some(last) = events.last()
                        && last.verdict.as_deref() == Some("dropped")
                    {
                        let n = last.rows.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
                        self.counts.dropped.fetch_add(n, Ordering::Relaxed);
                        events.pop();
                    }
                    if !told {
                        // Not on the audit target: that would feed the sink itself.
                        tracing::warn!(
                            "cannot write the audit table ({reason}); retrying, calls go on"
                        );
                        told = true;
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn write(&mut self, events: &[AuditEvent]) -> Result<(), String> {
        let client = self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => with_causes(&e),
            other => with_causes(&other),
        })?;
        if !self.created {
            client
                .batch_execute(CREATE)
                .await
                .map_err(|e| with_causes(&e))?;
            self.created = true;
        }
        let column =
            |f: fn(&AuditEvent) -> Option<String>| events.iter().map(f).collect::<Vec<_>>();
        let at: Vec<SystemTime> = events.iter().map(|e| e.at).collect();
        let login = column(|e| e.login.clone());
        let tool = column(|e| e.tool.clone());
        let database = column(|e| e.database.clone());
        let sql = column(|e| e.sql.clone());
        let params = column(|e| e.params.clone());
        let verdict = column(|e| e.verdict.clone());
        let sqlstate = column(|e| e.sqlstate.clone());
        let rows: Vec<Option<i64>> = events.iter().map(|e| e.rows).collect();
        let duration: Vec<Option<f64>> = events.iter().map(|e| e.duration_ms).collect();
        let message: Vec<String> = events.iter().map(|e| e.message.clone()).collect();
        let detail = column(|e| {
            (!e.detail.is_empty()).then(|| serde_json::Value::Object(e.detail.clone()).to_string())
        });
        // Unnamed, with its types: nothing stays prepared (behind a transaction pooler
        // the next statement may meet another server connection).
        let text = Type::TEXT_ARRAY;
        client
            .execute_typed(
                INSERT,
                &[
                    (&at, Type::TIMESTAMPTZ_ARRAY),
                    (&login, text.clone()),
                    (&tool, text.clone()),
                    (&database, text.clone()),
                    (&sql, text.clone()),
                    (&params, text.clone()),
                    (&verdict, text.clone()),
                    (&sqlstate, text.clone()),
                    (&rows, Type::INT8_ARRAY),
                    (&duration, Type::FLOAT8_ARRAY),
                    (&message, text.clone()),
                    (&detail, text),
                ],
            )
            .await
            .map_err(|e| {
                // The table may have gone (dropped by hand): create it again next time.
                self.created = false;
                with_causes(&e)
            })?;
        Ok(())
    }
}
