//! Several named databases in one server: [`Databases`].
//!
//! Each database has its own pool, TLS and optional read connection (its own
//! [`DatabaseConfig`]). One that does not answer at start-up does not stop the others:
//! it is kept as down, retried in the background (every second at first, then less
//! often, at most every 30 s) and at most once a second by a call that asks for it, and
//! serves as soon as it answers. A configuration that cannot work (an invalid
//! connection string, a TLS root file that cannot be read, roles wider than
//! [`PrivilegeCheck::Require`](crate::PrivilegeCheck::Require) allows) stops the start.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};

use crate::config::{ConnectError, DatabaseConfig};
use crate::database::Database;

/// The name a lone database gets ([`Databases::single`], `From<Database>`).
pub const DEFAULT_NAME: &str = "main";

/// Longest wait between two background attempts to reach a database that is down.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How often a call may make an attempt of its own on a database that is down.
const CALL_RETRY: Duration = Duration::from_secs(1);

/// Named databases, the first of them the default. Cheap to clone (shared).
///
/// ```no_run
/// use sluice_postgres::{DatabaseConfig, Databases};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let databases = Databases::connect([
///     ("shop".to_owned(), DatabaseConfig::from_url("postgres://app@db1/shop")?),
///     ("billing".to_owned(), DatabaseConfig::from_url("postgres://app@db2/billing")?),
/// ])
/// .await?;
/// // billing may be down: shop serves all the same.
/// let shop = databases.get(Some("shop")).await?;
/// let rows = shop.read("SELECT count(*) FROM orders").await?;
/// # let _ = rows;
/// # Ok(()) }
/// # let _ = demo;
/// ```
#[derive(Clone)]
pub struct Databases {
    entries: Arc<[Arc<Entry>]>,
}

impl std::fmt::Debug for Databases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| &e.name))
            .finish()
    }
}

struct Entry {
    name: String,
    /// For attempts while down; `None` for a database handed over connected.
    config: Option<DatabaseConfig>,
    state: Mutex<State>,
    /// One attempt at a time.
    attempt: tokio::sync::Mutex<()>,
}

enum State {
    Up(Arc<Database>),
    Down {
        reason: String,
        since: SystemTime,
        tried: Instant,
    },
    Closed,
}

/// A database could not be used for a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unavailable {
    /// No database has that name.
    #[error("there is no database named {name:?}; this server has: {}", known.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names there are.
        known: Vec<String>,
    },
    /// The database does not answer now; it is retried.
    #[error("database {name} is not reachable now ({reason}); the server keeps retrying")]
    Down {
        /// Its name.
        name: String,
        /// The last attempt's error (sanitised: no password).
        reason: String,
    },
    /// The set was closed: the server is shutting down.
    #[error("database {name} is closed: the server is shutting down")]
    Closed {
        /// Its name.
        name: String,
    },
}

/// How one database of a set is doing ([`Databases::status`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DatabaseStatus {
    /// Its name.
    pub name: String,
    /// Whether it is connected (it may still fail a call if it went away since).
    pub reachable: bool,
    /// Whether calls that name no database use it.
    pub default: bool,
    /// Why it is down, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Databases {
    /// One database, already connected, named `name`.
    pub fn single(name: impl Into<String>, database: Database) -> Self {
        let entry = Entry {
            name: name.into(),
            config: None,
            state: Mutex::new(State::Up(Arc::new(database))),
            attempt: tokio::sync::Mutex::new(()),
        };
        Databases {
            entries: Arc::from([Arc::new(entry)]),
        }
    }

    /// Connects every database at once. One that does not answer is kept as down and
    /// retried (every second at first, then less often, at most every 30 s, and by a
    /// call that asks for it); the others serve.
    ///
    /// Names are as [`is_database_name`] says, each used once.
    ///
    /// # Errors
    ///
    /// No databases, a bad or repeated name, or a database whose configuration cannot
    /// work ([`ConnectError::InDatabase`] says which): anything but "does not answer".
    /// Must be called inside a Tokio runtime (the retries are tasks on it).
    pub async fn connect(
        databases: impl IntoIterator<Item = (String, DatabaseConfig)>,
    ) -> Result<Self, ConnectError> {
        let list: Vec<(String, DatabaseConfig)> = databases.into_iter().collect();
        if list.is_empty() {
            return Err(ConnectError::Invalid(
                "no databases: give at least one".to_owned(),
            ));
        }
        for (i, (name, config)) in list.iter().enumerate() {
            check_name(name)?;
            if list[..i].iter().any(|(other, _)| other == name) {
                return Err(ConnectError::Invalid(format!(
                    "the database name {name} is given twice"
                )));
            }
            config.validate().map_err(|e| in_database(name, e))?;
        }
        let attempts = list
            .iter()
            .map(|(_, config)| Database::connect(config.clone()));
        let outcomes = futures_util::future::join_all(attempts).await;
        let mut entries = Vec::with_capacity(list.len());
        let mut down = Vec::new();
        for ((name, config), outcome) in list.into_iter().zip(outcomes) {
            let state = match outcome {
                Ok(database) => State::Up(Arc::new(database)),
                Err(e @ ConnectError::Unreachable { .. }) => {
                    tracing::warn!(database = %name, "{e}; serving the others and retrying");
                    down.push(entries.len());
                    State::Down {
                        reason: e.to_string(),
                        since: SystemTime::now(),
                        tried: Instant::now(),
                    }
                }
                Err(e) => {
                    // Close what did connect before giving up.
                    for entry in &entries {
                        Entry::close(entry);
                    }
                    return Err(in_database(&name, e));
                }
            };
            entries.push(Arc::new(Entry {
                name,
                config: Some(config),
                state: Mutex::new(state),
                attempt: tokio::sync::Mutex::new(()),
            }));
        }
        for i in down {
            spawn_retries(Arc::downgrade(&entries[i]));
        }
        Ok(Databases {
            entries: Arc::from(entries),
        })
    }

    /// The names, the default first.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    /// How many databases there are (at least one).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Always false: a set has at least one database.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The default database's name: the first.
    pub fn default_name(&self) -> &str {
        self.entries
            .first()
            .map_or(DEFAULT_NAME, |e| e.name.as_str())
    }

    /// The name `name` stands for: itself when it is one of the set, the default for
    /// `None`.
    ///
    /// # Errors
    ///
    /// [`Unavailable::Unknown`] for a name the set does not have.
    pub fn resolve<'a>(&'a self, name: Option<&str>) -> Result<&'a str, Unavailable> {
        self.entry(name).map(|e| e.name.as_str())
    }

    /// The entry `name` stands for ([`resolve`](Self::resolve)).
    fn entry(&self, name: Option<&str>) -> Result<&Arc<Entry>, Unavailable> {
        let found = match name {
            None => self.entries.first(),
            Some(name) => self.entries.iter().find(|e| e.name == name),
        };
        found.ok_or_else(|| Unavailable::Unknown {
            name: name.unwrap_or_default().to_owned(),
            known: self.names().map(str::to_owned).collect(),
        })
    }

    /// The database named `name` (the default for `None`), connected. A database that is
    /// down is tried again first when its last attempt is a second old or more.
    ///
    /// # Errors
    ///
    /// [`Unavailable`]: unknown, down, or closed.
    pub async fn get(&self, name: Option<&str>) -> Result<Arc<Database>, Unavailable> {
        let entry = self.entry(name)?;
        if let Some(database) = entry.up()? {
            return Ok(database);
        }
        let due = entry.due(CALL_RETRY);
        if due && let Ok(_turn) = entry.attempt.try_lock() {
            entry.try_connect().await;
        }
        entry.up()?.ok_or_else(|| entry.down_error())
    }

    /// The database named `name` if it is connected now (no attempt is made).
    pub fn connected(&self, name: &str) -> Option<Arc<Database>> {
        self.entry(Some(name)).ok()?.up().ok().flatten()
    }

    /// Each database's state, the default first.
    pub fn status(&self) -> Vec<DatabaseStatus> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let state = entry.state.lock().unwrap_or_else(PoisonError::into_inner);
                let (reachable, reason) = match &*state {
                    State::Up(_) => (true, None),
                    State::Down { reason, since, .. } => {
                        let ago = since.elapsed().unwrap_or_default().as_secs();
                        (false, Some(format!("{reason} (down for {ago} s)")))
                    }
                    State::Closed => (false, Some("closed".to_owned())),
                };
                DatabaseStatus {
                    name: entry.name.clone(),
                    reachable,
                    default: i == 0,
                    reason,
                }
            })
            .collect()
    }

    /// Waits (at most `timeout`) until the statements of calls that were stopped have
    /// been cancelled in PostgreSQL, then closes every pool. A server calls it before it
    /// exits, after stopping its requests, so that nothing it started runs on. True when
    /// every such statement was seen to end in time (or could not be reached: a server
    /// that does not take the cancel request within 5 s is given up on).
    pub async fn shut_down(&self, timeout: Duration) -> bool {
        let settled = crate::lease::settle(timeout).await;
        self.close();
        settled
    }

    /// Closes every pool and stops the retries.
    pub fn close(&self) {
        for entry in self.entries.iter() {
            Entry::close(entry);
        }
    }
}

impl From<Database> for Databases {
    /// One database named [`DEFAULT_NAME`].
    fn from(database: Database) -> Self {
        Databases::single(DEFAULT_NAME, database)
    }
}

impl From<Arc<Database>> for Databases {
    /// One database named [`DEFAULT_NAME`].
    fn from(database: Arc<Database>) -> Self {
        Databases::single(DEFAULT_NAME, (*database).clone())
    }
}

impl Entry {
    /// The database when up; `None` when down.
    fn up(&self) -> Result<Option<Arc<Database>>, Unavailable> {
        match &*self.state.lock().unwrap_or_else(PoisonError::into_inner) {
            State::Up(database) => Ok(Some(Arc::clone(database))),
            State::Down { .. } => Ok(None),
            State::Closed => Err(Unavailable::Closed {
                name: self.name.clone(),
            }),
        }
    }

    fn down_error(&self) -> Unavailable {
        match &*self.state.lock().unwrap_or_else(PoisonError::into_inner) {
            State::Down { reason, .. } => Unavailable::Down {
                name: self.name.clone(),
                reason: reason.clone(),
            },
            _ => Unavailable::Closed {
                name: self.name.clone(),
            },
        }
    }

    /// Whether the last attempt is at least `after` old (and the database down).
    fn due(&self, after: Duration) -> bool {
        matches!(
            &*self.state.lock().unwrap_or_else(PoisonError::into_inner),
            State::Down { tried, .. } if tried.elapsed() >= after
        )
    }

    /// One attempt to connect; the caller holds `attempt`. True once up (or closed).
    async fn try_connect(&self) -> bool {
        let Some(config) = &self.config else {
            return true;
        };
        if !matches!(
            &*self.state.lock().unwrap_or_else(PoisonError::into_inner),
            State::Down { .. }
        ) {
            return true;
        }
        let outcome = Database::connect(config.clone()).await;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match (outcome, &mut *state) {
            (Ok(database), State::Down { .. }) => {
                tracing::info!(database = %self.name, target = %database.target(), "database reachable again: serving it");
                *state = State::Up(Arc::new(database));
                true
            }
            // Closed while connecting: the new pool goes too.
            (Ok(database), _) => {
                database.close();
                true
            }
            (Err(e), State::Down { reason, tried, .. }) => {
                let now = e.to_string();
                if *reason != now {
                    tracing::warn!(database = %self.name, "{now}; retrying");
                    *reason = now;
                }
                *tried = Instant::now();
                false
            }
            (Err(_), _) => true,
        }
    }

    fn close(entry: &Arc<Entry>) {
        let mut state = entry.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let State::Up(database) = &*state {
            database.close();
        }
        *state = State::Closed;
    }
}

/// Retries a database that is down until it answers, the set is dropped or closed.
fn spawn_retries(entry: Weak<Entry>) {
    tokio::spawn(async move {
        let mut wait = Duration::from_secs(1);
        loop {
            tokio::time::sleep(wait).await;
            let Some(entry) = entry.upgrade() else { return };
            let _turn = entry.attempt.lock().await;
            if entry.try_connect().await {
                return;
            }
            wait = (wait * 2).min(MAX_BACKOFF);
        }
    });
}

/// Whether `name` may name a database of a set: 1 to 63 letters, digits, `_` and `-`
/// (names appear in resource URIs and tool arguments).
pub fn is_database_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn check_name(name: &str) -> Result<(), ConnectError> {
    if is_database_name(name) {
        Ok(())
    } else {
        // Not quoted: a connection string given where a name goes may hold a password.
        Err(ConnectError::Invalid(
            "a database name is 1 to 63 letters, digits, _ or -".to_owned(),
        ))
    }
}

fn in_database(name: &str, e: ConnectError) -> ConnectError {
    ConnectError::InDatabase {
        name: name.to_owned(),
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_plain_words() {
        assert!(check_name("shop").is_ok());
        assert!(check_name("billing_2024-eu").is_ok());
        for bad in ["", "a b", "a/b", "ü", "x{y}", &"a".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_set_refuses_no_databases_and_repeated_names() {
        let none: Vec<(String, DatabaseConfig)> = Vec::new();
        assert!(matches!(
            Databases::connect(none).await,
            Err(ConnectError::Invalid(_))
        ));
        let config = DatabaseConfig::from_url("host=127.0.0.1 port=1 user=x").unwrap();
        let twice = [("a".to_owned(), config.clone()), ("a".to_owned(), config)];
        let err = Databases::connect(twice).await.unwrap_err();
        assert!(err.to_string().contains("given twice"), "{err}");
    }
}
