//! Audit that lasts (feature `audit`): every audit event — each tool call (who, tool,
//! database, SQL, the parameters' shape never their values, verdict, SQLSTATE, rows,
//! duration), each refusal, each OAuth event logged on the `sluice::audit` target —
//! written to a PostgreSQL table of its own, `sluice_audit.calls`.
//!
//! The sink never blocks or fails a call: events go into a bounded queue
//! ([`AuditOptions::capacity`]) that a task of its own drains in batches (one `INSERT`
//! per batch). When the table's database is slow or down, the task retries and the
//! queue fills; past its bound, events are counted instead of queued, and once writing
//! resumes a row with verdict `dropped` says how many were lost. The `tracing` line
//! stays, whatever happens to the sink.
//!
//! Events reach the sink through [`AuditSink::layer`], a `tracing-subscriber` layer
//! that takes what the tools already log, or through [`AuditSink::record`].
//!
//! ```no_run
//! use sluice_postgres::audit::{AuditOptions, AuditSink};
//! use tracing_subscriber::prelude::*;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let sink = AuditSink::start(AuditOptions::from_url("postgres://audit@db/ops")?)?;
//! tracing_subscriber::registry()
//!     .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
//!     .with(sink.layer())
//!     .init();
//! // … serve; then, before exiting, give the queue a moment to reach the table:
//! sink.flush(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! # let _ = demo;
//! ```
//!
//! The table (created when missing, with its schema):
//!
//! | column | what |
//! | --- | --- |
//! | `at` | when the event happened (`timestamptz`) |
//! | `login`, `tool`, `database` | who, which tool, on which database |
//! | `sql`, `params` | the statement; the parameters' shapes (`text,int,…`) |
//! | `verdict`, `sqlstate` | `ok`, `refused: …`, `failed: …`, `dropped`; the failure's SQLSTATE |
//! | `rows`, `duration_ms` | rows returned or changed; time taken |
//! | `message`, `detail` | the event's words; any other fields, as `jsonb` |

mod layer;
pub mod metrics;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};

use crate::config::{ConnectError, parse_connection_string};
use crate::tls::TlsConfig;

pub use layer::{AUDIT_TARGET, AuditLayer};

/// Where the sink writes, and how much it holds while the table is slow.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuditOptions {
    /// The database of the audit table (the role needs `CREATE` on it the first time,
    /// then `INSERT` on the table).
    pub postgres: tokio_postgres::Config,
    /// TLS to it.
    pub tls: TlsConfig,
    /// Most events queued before new ones are counted as dropped (default 10,000).
    pub capacity: usize,
    /// Most events in one `INSERT` (default 500).
    pub batch: usize,
}

impl AuditOptions {
    /// Defaults for a connection string.
    ///
    /// # Errors
    ///
    /// When the string is not a valid connection string.
    pub fn from_url(url: &str) -> Result<Self, ConnectError> {
        let (postgres, tls) = parse_connection_string(url)?;
        Ok(AuditOptions::new(postgres, tls))
    }

    /// Defaults for a tokio-postgres configuration and its TLS.
    pub fn new(postgres: tokio_postgres::Config, tls: TlsConfig) -> Self {
        AuditOptions {
            postgres,
            tls,
            capacity: 10_000,
            batch: 500,
        }
    }
}

/// One audit event, as the table stores it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AuditEvent {
    /// When it happened.
    pub at: SystemTime,
    /// Who.
    pub login: Option<String>,
    /// Which tool.
    pub tool: Option<String>,
    /// On which database.
    pub database: Option<String>,
    /// The statement.
    pub sql: Option<String>,
    /// The parameters' shapes, never their values.
    pub params: Option<String>,
    /// `ok`, `refused: …`, `failed: …`.
    pub verdict: Option<String>,
    /// A failure's SQLSTATE.
    pub sqlstate: Option<String>,
    /// Rows returned or changed.
    pub rows: Option<i64>,
    /// Time taken, in milliseconds.
    pub duration_ms: Option<f64>,
    /// The event's words.
    pub message: String,
    /// Other fields, as a JSON object.
    pub detail: serde_json::Map<String, serde_json::Value>,
}

impl AuditEvent {
    /// An event saying `message`, now, with nothing else set.
    pub fn new(message: impl Into<String>) -> Self {
        AuditEvent {
            at: SystemTime::now(),
            login: None,
            tool: None,
            database: None,
            sql: None,
            params: None,
            verdict: None,
            sqlstate: None,
            rows: None,
            duration_ms: None,
            message: message.into(),
            detail: serde_json::Map::new(),
        }
    }
}

enum Message {
    Event(Box<AuditEvent>),
    Flush(oneshot::Sender<()>),
}

/// The handle on the audit writer. Cheap to clone; the writer ends when the last
/// handle (and layer) is dropped, after writing what is queued if it can.
#[derive(Clone, Debug)]
pub struct AuditSink {
    queue: mpsc::Sender<Message>,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    /// Dropped since the last `dropped` row.
    dropped: AtomicU64,
    /// Written, in all.
    written: AtomicU64,
}

impl AuditSink {
    /// Starts the writer task on the current Tokio runtime. It connects on its own,
    /// creating the table when missing, and retries while the database does not answer:
    /// starting never waits for the database.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Tls`] or [`ConnectError::Pool`] when the connection cannot even
    /// be set up; [`ConnectError::Invalid`] for a capacity or batch of 0.
    pub fn start(options: AuditOptions) -> Result<Self, ConnectError> {
        if options.capacity == 0 || options.batch == 0 {
            return Err(ConnectError::Invalid(
                "the audit queue and batch need room for at least one event".to_owned(),
            ));
        }
        let (queue, receiver) = mpsc::channel(options.capacity);
        let counts = Arc::new(Counts::default());
        let writer = writer::Writer::new(&options, Arc::clone(&counts))?;
        tokio::spawn(writer.run(receiver, options.batch));
        Ok(AuditSink { queue, counts })
    }

    /// Queues `event`, never waiting: when the queue is full the event is counted as
    /// dropped (and a `dropped` row says so later).
    pub fn record(&self, event: AuditEvent) {
        if self
            .queue
            .try_send(Message::Event(Box::new(event)))
            .is_err()
        {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A `tracing-subscriber` layer that records every event of the `sluice::audit`
    /// target (whatever level the other layers let through).
    pub fn layer(&self) -> AuditLayer {
        AuditLayer::new(self.clone())
    }

    /// Waits until what was queued before this call is written, at most `timeout`.
    /// True when it was.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let (done, wait) = oneshot::channel();
        let queued = tokio::time::timeout(timeout, self.queue.send(Message::Flush(done)));
        if !matches!(queued.await, Ok(Ok(()))) {
            return false;
        }
        matches!(tokio::time::timeout(timeout, wait).await, Ok(Ok(())))
    }

    /// Events dropped so far and not yet reported in a `dropped` row.
    pub fn dropped(&self) -> u64 {
        self.counts.dropped.load(Ordering::Relaxed)
    }

    /// Events written so far.
    pub fn written(&self) -> u64 {
        self.counts.written.load(Ordering::Relaxed)
    }
}
