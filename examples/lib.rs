//! Helpers shared by the example servers in this folder.
//!
//! The servers themselves are the `[[example]]` targets (`cargo run --example NAME`);
//! this library holds only what every one of them needs the same way, and what the
//! benches share ([`http_client`]).

pub mod http_client;

/// Sends `tracing` output to standard error, filtered by `RUST_LOG` (default `info`).
///
/// Standard output belongs to the protocol when a server speaks MCP over stdio, so
/// nothing else may ever be written there. Calling this twice is harmless: the second
/// call leaves the first subscriber in place.
pub fn init_logging() {
    init_logging_with(None);
}

/// [`init_logging`], and every audit event (target `sluice::audit`) also to `audit`,
/// whatever `RUST_LOG` lets through to standard error.
pub fn init_logging_with(audit: Option<sluice_postgres::audit::AuditLayer>) {
    init_logging_counted(audit, None);
}

/// [`init_logging_with`], and every tool call also counted by `metrics`.
pub fn init_logging_counted(
    audit: Option<sluice_postgres::audit::AuditLayer>,
    metrics: Option<sluice_postgres::audit::metrics::MetricsLayer>,
) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // `RUST_LOG` as a list of `level` and `target=level` directives (`Targets`: no
    // regular expressions to compile at start-up); `info` when unset or unreadable.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| {
            directives
                .parse::<tracing_subscriber::filter::Targets>()
                .ok()
        })
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO)
        });
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(filter);
    // The audit and metrics layers see their own target only, at every level.
    let audit_only = || {
        tracing_subscriber::filter::Targets::new()
            .with_target(sluice_postgres::audit::AUDIT_TARGET, tracing::Level::TRACE)
    };
    let audit = audit.map(|layer| layer.with_filter(audit_only()));
    let metrics = metrics.map(|layer| layer.with_filter(audit_only()));
    // An error here means a subscriber is already installed, which is what we want.
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(audit)
        .with(metrics)
        .try_init();
}

/// CPU seconds (user + system) process `pid` has used so far, from `/proc` (Linux; 0
/// elsewhere): the benches read it before and after a measurement to report server CPU
/// per call, which is steadier than throughput on a small machine.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat(5); here 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds used so far by every process on this machine named `postgres` (the
/// local PostgreSQL's backends and its own processes), from `/proc`: read before and
/// after a measurement, the database's share of a call's cost. Only meaningful when the
/// database runs here; a backend that exits meanwhile takes its seconds with it (the
/// benches' pools keep theirs open).
pub fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "postgres")
        })
        .map(cpu_seconds)
        .sum()
}

/// A tokio runtime with `threads` workers: a current-thread runtime for 1 (or 0), which
/// hands nothing between threads, else a multi-threaded one (the servers'
/// `--worker-threads`, the load generator's `--client-threads`).
///
/// # Errors
///
/// When the runtime cannot be built (the system refuses a thread or an I/O driver).
pub fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
}

/// A TCP port on 127.0.0.1 free at the time of asking (for the benches' servers).
///
/// # Panics
///
/// When no port can be bound on the loopback address (a bench cannot run then).
#[allow(clippy::unwrap_used)]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
