//! [`PgTokenStore`]: the OAuth token store in PostgreSQL (feature `oauth`), so several
//! server processes share grants and a restart loses nothing.
//!
//! It lives in a schema of its own (`sluice_oauth` unless told otherwise), created on
//! start-up. Tokens, codes, upstream states and client secrets are keyed and kept only
//! by their SHA-256 hashes; records are JSON text. Every check-and-change is one
//! statement or one transaction holding the row's lock, so two processes cannot both
//! redeem a code or rotate a refresh token.

use deadpool_postgres::Pool;
use sluice_auth::oauth::{
    AccessGrant, ClientRecord, CodeRecord, GrantRecord, PendingSignIn, Redemption, Rotation,
    StoreError, TokenStore,
};
use tokio_postgres::types::Type;

use crate::config::ConnectError;
use crate::errors::sanitise;
use crate::setup::quote_identifier;
use crate::tls::TlsConfig;

/// The OAuth token store in PostgreSQL.
#[derive(Clone)]
pub struct PgTokenStore {
    pool: Pool,
    schema: String,
}

impl std::fmt::Debug for PgTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTokenStore")
            .field("schema", &self.schema)
            .finish()
    }
}

fn db(e: &tokio_postgres::Error) -> StoreError {
    StoreError::new(sanitise(e).message)
}

fn pool_error(e: &deadpool_postgres::PoolError) -> StoreError {
    StoreError::new(format!("no database connection: {e}"))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::new(format!("cannot encode a record: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::new(format!("a stored record is corrupt: {e}")))
}

/// Seconds as PostgreSQL's `bigint`.
fn secs(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl PgTokenStore {
    /// Connects (a small pool of its own, at most `pool_size` connections) and creates
    /// the schema `schema` and its tables when they are missing.
    ///
    /// # Errors
    ///
    /// When the database cannot be reached or the tables cannot be created (the role
    /// needs `CREATE` on the database the first time).
    pub async fn connect(
        postgres: &tokio_postgres::Config,
        tls: &TlsConfig,
        schema: &str,
        pool_size: usize,
    ) -> Result<Self, ConnectError> {
        let pool = crate::database::side_pool(postgres, tls, "sluice-oauth", pool_size)?;
        let store = PgTokenStore {
            pool,
            schema: quote_identifier(schema),
        };
        store
            .create_tables()
            .await
            .map_err(|e| ConnectError::Unreachable {
                target: crate::database::target(postgres),
                reason: e.to_string(),
            })?;
        Ok(store)
    }

    /// The `CREATE … IF NOT EXISTS` statements, run under an advisory lock so processes
    /// starting together do not race.
    fn schema_sql(&self) -> String {
        let s = &self.schema;
        format!(
            "SELECT pg_advisory_xact_lock(hashtext('sluice_oauth_schema'));\
             CREATE SCHEMA IF NOT EXISTS {s};\
             CREATE TABLE IF NOT EXISTS {s}.clients (client_id text PRIMARY KEY, record text NOT NULL);\
             CREATE TABLE IF NOT EXISTS {s}.pending (state_hash text PRIMARY KEY, record text NOT NULL, expires_at bigint NOT NULL);\
             CREATE TABLE IF NOT EXISTS {s}.codes (code_hash text PRIMARY KEY, grant_id text NOT NULL, record text NOT NULL, spent boolean NOT NULL DEFAULT false, expires_at bigint NOT NULL);\
             CREATE TABLE IF NOT EXISTS {s}.grants (id text PRIMARY KEY, client_id text NOT NULL, record text NOT NULL, current_refresh text NOT NULL, expires_at bigint NOT NULL);\
             CREATE TABLE IF NOT EXISTS {s}.refresh_tokens (token_hash text PRIMARY KEY, grant_id text NOT NULL REFERENCES {s}.grants (id) ON DELETE CASCADE);\
             CREATE TABLE IF NOT EXISTS {s}.access_tokens (token_hash text PRIMARY KEY, grant_id text NOT NULL REFERENCES {s}.grants (id) ON DELETE CASCADE, expires_at bigint NOT NULL);\
             CREATE INDEX IF NOT EXISTS refresh_tokens_grant ON {s}.refresh_tokens (grant_id);\
             CREATE INDEX IF NOT EXISTS access_tokens_grant ON {s}.access_tokens (grant_id);\
             CREATE TABLE IF NOT EXISTS {s}.secrets (name text PRIMARY KEY, value bytea NOT NULL);"
        )
    }

    async fn create_tables(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.map_err(|e| pool_error(&e))?;
        let tx = client.transaction().await.map_err(|e| db(&e))?;
        tx.batch_execute(&self.schema_sql())
            .await
            .map_err(|e| db(&e))?;
        tx.commit().await.map_err(|e| db(&e))
    }

    async fn client_conn(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| pool_error(&e))
    }

    /// Closes the pool.
    pub fn close(&self) {
        self.pool.close();
    }
}

#[async_trait::async_trait]
impl TokenStore for PgTokenStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn add_client(
        &self,
        client: ClientRecord,
        max_clients: usize,
    ) -> Result<bool, StoreError> {
        let s = &self.schema;
        let conn = self.client_conn().await?;
        let sql = format!(
            "INSERT INTO {s}.clients (client_id, record) SELECT $1, $2 \
             WHERE (SELECT count(*) FROM {s}.clients) < $3 ON CONFLICT DO NOTHING"
        );
        let n = conn
            .execute_typed(
                &sql,
                &[
                    (&client.client_id, Type::TEXT),
                    (&to_json(&client)?, Type::TEXT),
                    (&count(max_clients), Type::INT8),
                ],
            )
            .await
            .map_err(|e| db(&e))?;
        Ok(n == 1)
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let conn = self.client_conn().await?;
        let sql = format!(
            "SELECT record FROM {}.clients WHERE client_id = $1",
            self.schema
        );
        let row = conn
            .query_typed_opt(&sql, &[(&client_id, Type::TEXT)])
            .await
            .map_err(|e| db(&e))?;
        row.map(|r| from_json(r.get::<_, &str>(0))).transpose()
    }

    async fn add_pending(
        &self,
        state_hash: &str,
        pending: PendingSignIn,
        max_pending: usize,
    ) -> Result<bool, StoreError> {
        let s = &self.schema;
        let conn = self.client_conn().await?;
        let now = secs(sluice_auth::oauth::now());
        conn.execute_typed(
            &format!("DELETE FROM {s}.pending WHERE expires_at <= $1"),
            &[(&now, Type::INT8)],
        )
        .await
        .map_err(|e| db(&e))?;
        let sql = format!(
            "INSERT INTO {s}.pending (state_hash, record, expires_at) SELECT $1, $2, $3 \
             WHERE (SELECT count(*) FROM {s}.pending) < $4"
        );
        let n = conn
            .execute_typed(
                &sql,
                &[
                    (&state_hash, Type::TEXT),
                    (&to_json(&pending)?, Type::TEXT),
                    (&secs(pending.expires_at), Type::INT8),
                    (&count(max_pending), Type::INT8),
                ],
            )
            .await
            .map_err(|e| db(&e))?;
        Ok(n == 1)
    }

    async fn take_pending(&self, state_hash: &str) -> Result<Option<PendingSignIn>, StoreError> {
        let conn = self.client_conn().await?;
        let sql = format!(
            "DELETE FROM {}.pending WHERE state_hash = $1 RETURNING record",
            self.schema
        );
        let row = conn
            .query_typed_opt(&sql, &[(&state_hash, Type::TEXT)])
            .await
            .map_err(|e| db(&e))?;
        row.map(|r| from_json(r.get::<_, &str>(0))).transpose()
    }

    async fn add_code(&self, code_hash: &str, code: CodeRecord) -> Result<(), StoreError> {
        let conn = self.client_conn().await?;
        let sql = format!(
            "INSERT INTO {}.codes (code_hash, grant_id, record, expires_at) VALUES ($1, $2, $3, $4)",
            self.schema
        );
        conn.execute_typed(
            &sql,
            &[
                (&code_hash, Type::TEXT),
                (&code.grant_id, Type::TEXT),
                (&to_json(&code)?, Type::TEXT),
                (&secs(code.expires_at), Type::INT8),
            ],
        )
        .await
        .map_err(|e| db(&e))?;
        Ok(())
    }

    async fn redeem_code(&self, code_hash: &str, now: u64) -> Result<Redemption, StoreError> {
        let s = &self.schema;
        let conn = self.client_conn().await?;
        // The row lock makes a racing second redemption wait, then see it spent.
        let sql = format!(
            "WITH old AS (SELECT code_hash, spent FROM {s}.codes \
                          WHERE code_hash = $1 AND expires_at > $2 FOR UPDATE) \
             UPDATE {s}.codes c SET spent = true FROM old WHERE c.code_hash = old.code_hash \
             RETURNING c.record, old.spent, c.grant_id"
        );
        let row = conn
            .query_typed_opt(&sql, &[(&code_hash, Type::TEXT), (&secs(now), Type::INT8)])
            .await
            .map_err(|e| db(&e))?;
        let Some(row) = row else {
            return Ok(Redemption::Unknown);
        };
        if row.get::<_, bool>(1) {
            return Ok(Redemption::Reused {
                grant_id: row.get(2),
            });
        }
        Ok(Redemption::Fresh(Box::new(from_json(
            row.get::<_, &str>(0),
        )?)))
    }

    async fn add_grant(
        &self,
        grant: GrantRecord,
        access_hash: &str,
        access_expires_at: u64,
        refresh_hash: &str,
    ) -> Result<(), StoreError> {
        let s = &self.schema;
        let mut conn = self.client_conn().await?;
        let tx = conn.transaction().await.map_err(|e| db(&e))?;
        tx.execute(
            &format!(
                "INSERT INTO {s}.grants (id, client_id, record, current_refresh, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)"
            ),
            &[
                &grant.id,
                &grant.client_id,
                &to_json(&grant)?,
                &refresh_hash,
                &secs(grant.expires_at),
            ],
        )
        .await
        .map_err(|e| db(&e))?;
        tx.execute(
            &format!("INSERT INTO {s}.refresh_tokens (token_hash, grant_id) VALUES ($1, $2)"),
            &[&refresh_hash, &grant.id],
        )
        .await
        .map_err(|e| db(&e))?;
        tx.execute(
            &format!(
                "INSERT INTO {s}.access_tokens (token_hash, grant_id, expires_at) VALUES ($1, $2, $3)"
            ),
            &[&access_hash, &grant.id, &secs(access_expires_at)],
        )
        .await
        .map_err(|e| db(&e))?;
        tx.commit().await.map_err(|e| db(&e))
    }

    async fn access(&self, access_hash: &str, now: u64) -> Result<Option<AccessGrant>, StoreError> {
        let s = &self.schema;
        let conn = self.client_conn().await?;
        let sql = format!(
            "SELECT g.record, a.expires_at FROM {s}.access_tokens a \
             JOIN {s}.grants g ON g.id = a.grant_id \
             WHERE a.token_hash = $1 AND a.expires_at > $2 AND g.expires_at > $2"
        );
        let row = conn
            .query_typed_opt(
                &sql,
                &[(&access_hash, Type::TEXT), (&secs(now), Type::INT8)],
            )
            .await
            .map_err(|e| db(&e))?;
        let Some(row) = row else { return Ok(None) };
        let grant: GrantRecord = from_json(row.get::<_, &str>(0))?;
        let expires_at = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
        Ok(Some(AccessGrant::new(grant, expires_at)))
    }

    async fn rotate_refresh(
        &self,
        refresh_hash: &str,
        new_refresh_hash: &str,
        new_access_hash: &str,
        access_expires_at: u64,
        now: u64,
    ) -> Result<Rotation, StoreError> {
        let s = &self.schema;
        let mut conn = self.client_conn().await?;
        let tx = conn.transaction().await.map_err(|e| db(&e))?;
        let row = tx
            .query_opt(
                &format!(
                    "SELECT g.id, g.current_refresh, g.record, g.expires_at \
                     FROM {s}.refresh_tokens r JOIN {s}.grants g ON g.id = r.grant_id \
                     WHERE r.token_hash = $1 FOR UPDATE OF g"
                ),
                &[&refresh_hash],
            )
            .await
            .map_err(|e| db(&e))?;
        let Some(row) = row else {
            return Ok(Rotation::Unknown);
        };
        let grant_id: String = row.get(0);
        let current: String = row.get(1);
        if row.get::<_, i64>(3) <= secs(now) {
            return Ok(Rotation::Unknown);
        }
        if current != refresh_hash {
            tx.execute(
                &format!("DELETE FROM {s}.grants WHERE id = $1"),
                &[&grant_id],
            )
            .await
            .map_err(|e| db(&e))?;
            tx.commit().await.map_err(|e| db(&e))?;
            return Ok(Rotation::Reused);
        }
        let grant: GrantRecord = from_json(row.get::<_, &str>(2))?;
        tx.execute(
            &format!("UPDATE {s}.grants SET current_refresh = $2 WHERE id = $1"),
            &[&grant_id, &new_refresh_hash],
        )
        .await
        .map_err(|e| db(&e))?;
        tx.execute(
            &format!("INSERT INTO {s}.refresh_tokens (token_hash, grant_id) VALUES ($1, $2)"),
            &[&new_refresh_hash, &grant_id],
        )
        .await
        .map_err(|e| db(&e))?;
        tx.execute(
            &format!(
                "INSERT INTO {s}.access_tokens (token_hash, grant_id, expires_at) VALUES ($1, $2, $3)"
            ),
            &[&new_access_hash, &grant_id, &secs(access_expires_at)],
        )
        .await
        .map_err(|e| db(&e))?;
        tx.commit().await.map_err(|e| db(&e))?;
        Ok(Rotation::Rotated(Box::new(grant)))
    }

    async fn refresh_grant(&self, refresh_hash: &str) -> Result<Option<GrantRecord>, StoreError> {
        let s = &self.schema;
        let conn = self.client_conn().await?;
        let sql = format!(
            "SELECT g.record FROM {s}.refresh_tokens r JOIN {s}.grants g ON g.id = r.grant_id \
             WHERE r.token_hash = $1"
        );
        let row = conn
            .query_typed_opt(&sql, &[(&refresh_hash, Type::TEXT)])
            .await
            .map_err(|e| db(&e))?;
        row.map(|r| from_json(r.get::<_, &str>(0))).transpose()
    }

    async fn revoke_access(&self, access_hash: &str) -> Result<bool, StoreError> {
        let conn = self.client_conn().await?;
        let sql = format!(
            "DELETE FROM {}.access_tokens WHERE token_hash = $1",
            self.schema
        );
        let n = conn
            .execute_typed(&sql, &[(&access_hash, Type::TEXT)])
            .await
            .map_err(|e| db(&e))?;
        Ok(n > 0)
    }

    async fn revoke_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        let conn = self.client_conn().await?;
        let sql = format!("DELETE FROM {}.grants WHERE id = $1", self.schema);
        conn.execute_typed(&sql, &[(&grant_id, Type::TEXT)])
            .await
            .map_err(|e| db(&e))?;
        Ok(())
    }

    async fn purge_expired(&self, now: u64) -> Result<u64, StoreError> {
        let s = &self.schema;
        let conn = self.client_conn().await?;
        let now = secs(now);
        let mut removed = 0;
        for table in ["pending", "codes", "access_tokens", "grants"] {
            removed += conn
                .execute_typed(
                    &format!("DELETE FROM {s}.{table} WHERE expires_at <= $1"),
                    &[(&now, Type::INT8)],
                )
                .await
                .map_err(|e| db(&e))?;
        }
        Ok(removed)
    }

    async fn secret(&self, name: &str, proposed: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let s = &self.schema;
        let conn = self.client_conn().await?;
        conn.execute_typed(
            &format!(
                "INSERT INTO {s}.secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            ),
            &[(&name, Type::TEXT), (&proposed, Type::BYTEA)],
        )
        .await
        .map_err(|e| db(&e))?;
        let row = conn
            .query_typed_one(
                &format!("SELECT value FROM {s}.secrets WHERE name = $1"),
                &[(&name, Type::TEXT)],
            )
            .await
            .map_err(|e| db(&e))?;
        Ok(row.get(0))
    }
}
