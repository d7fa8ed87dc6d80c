//! A statement through the extended protocol, its results in PostgreSQL's binary format,
//! with or without bind parameters.
//!
//! One round trip: the transaction with its timeout, the catalog check, the statement
//! (the extended protocol makes PostgreSQL parse it as exactly one statement) and the end
//! of the transaction are sent together and answered in order. Sending `COMMIT` before
//! the statement's outcome is known is safe: PostgreSQL answers `COMMIT` of a failed
//! transaction by rolling it back. A parameter given as a JSON array needs the
//! statement's parameter types (a PostgreSQL array, or JSON text for `json`), so such a
//! call first prepares the statement: one round trip more. So does a statement not yet
//! seen to give only built-in types ([`super::result_types`] says why: a type
//! tokio-postgres looks up would otherwise be looked up behind the statement's own rows).
//!
//! Values the decoders of [`crate::binary`] do not reproduce are printed by the server
//! afterwards ([`super::render`]); the statement runs once.

use futures_util::future::Either;
use futures_util::{StreamExt, pin_mut};
use tokio_postgres::RowStream;
use tokio_postgres::types::{FromSql, Type};

use super::cursor;
use super::output::{ColumnInfo, QueryOutput, Rows};
use super::prepared;
use super::render::{self, Failure, Pending};
use super::result_types::built_in_columns;
use super::{Call, Limits};
use crate::batching::Batches;
use crate::binary::{self, OutputSettings};
use crate::checked::{Checked, RunError};
use crate::convert;
use crate::errors::ClientError;
use crate::params::Param;
use crate::session::Transaction;

/// Most values a read without parameters has printed by the server; past it, the read
/// runs again through the text protocol instead (writes and parameterised reads always
/// print: a write must not run twice, and the text protocol takes no parameters).
const RENDER_AT_MOST: usize = 64;

/// What running it gave.
#[derive(Debug)]
pub(super) enum Ran {
    /// The result.
    Output(QueryOutput),
    /// A read (without parameters) whose result only the text protocol can show (an
    /// array of anonymous records, a type without binary input); it has ended, and
    /// running it again through [`super::simple`] changes nothing.
    NeedsText,
}

/// Rows read from the stream, some values still to print.
struct Collected {
    rows: Rows,
    columns: Vec<ColumnInfo>,
    pending: Vec<Pending>,
    rows_affected: Option<u64>,
    /// False when a column's type had to be looked up ([`super::result_types`]).
    built_in: bool,
}

/// Runs `call` on the checked connection.
pub(super) async fn run(
    checked: &Checked<'_>,
    settings: OutputSettings,
    call: &Call<'_>,
    limits: Limits,
) -> Result<Ran, RunError> {
    let client = checked.client;
    let begin = call.transaction.begin();
    let end = call.transaction.end();
    let needs_types = call.params.iter().any(Param::needs_type);
    let collected = if let Some((form, batches)) = preparable(client, call) {
        prepared_read(checked, call, form, batches, settings, limits).await?
    } else if needs_types || !checked.result_types.built_in(call.sql) {
        // Prepared after the check, so the statement is parsed under the pins; a type
        // tokio-postgres has to look up is looked up here, while nothing else is queued
        // on the connection ([`super::result_types`]).
        let (begun, resolved, prepared) = tokio::join!(
            client.batch_execute(begin),
            checked.run(),
            client.prepare(call.sql)
        );
        begun?;
        resolved?;
        let statement = prepared?;
        checked
            .result_types
            .learn(call.sql, built_in_columns(statement.columns()));
        let forget = checked.after_prepare(&statement);
        // The parameters take the prepared types only when a value needs them (a JSON
        // array); the others bind as PostgreSQL infers them, as in one round trip.
        let types = if needs_types {
            statement.params().to_vec()
        } else {
            Vec::new()
        };
        let columns: Vec<ColumnInfo> = statement.columns().iter().map(ColumnInfo::of).collect();
        // Closed now, so the close goes out ahead of the end of the transaction: no
        // named statement outlives it (behind a transaction pooler, the next
        // transaction may have another server connection).
        drop(statement);
        let (forgotten, ran, ended) = tokio::join!(
            async {
                match forget {
                    Some(sql) => client.batch_execute(sql).await,
                    None => Ok(()),
                }
            },
            execute(client, call, &types, settings, limits),
            client.batch_execute(end)
        );
        forgotten?;
        ended?;
        let mut collected = ran?;
        if collected.columns.is_empty() {
            collected.columns = columns;
        }
        collected
    } else {
        // As one batch under one `Sync` ([`crate::batching`]) when the connection
        // batches, else as four requests in one round trip. After a failure in a batch
        // the requests behind it fail too: the first failure is the one to report.
        let (open, close) = match client.batches() {
            Some(batches) if call.transaction == Transaction::Read => (
                Either::Left(drain(client.query_raw(&batches.begin, none()))),
                Either::Left(drain(client.query_raw(&batches.end, none()))),
            ),
            _ => (
                Either::Right(client.batch_execute(begin)),
                Either::Right(client.batch_execute(end)),
            ),
        };
        let (begun, resolved, ran, ended) = tokio::join!(
            open,
            checked.run(),
            execute(client, call, &[], settings, limits),
            close
        );
        begun?;
        resolved?;
        let mut collected = ran?;
        ended?;
        if collected.columns.is_empty() && collected.rows.rows.is_empty() {
            // No row to learn the columns from: describe the statement (parsing and
            // describing run nothing, so this needs no transaction, except behind a
            // transaction pooler, where the statement must be closed on the server
            // connection it was prepared on).
            collected.columns = describe(checked, call.sql).await?;
        } else if !collected.built_in {
            // The types changed since the statement was learned (they were looked up
            // without harm this time: the result was small, or they were known).
            checked.result_types.learn(call.sql, false);
        }
        collected
    };
    let Collected {
        mut rows,
        columns,
        pending,
        rows_affected,
        ..
    } = collected;
    let rerun_allowed = call.params.is_empty() && call.transaction != Transaction::Write;
    if pending.len() > RENDER_AT_MOST && rerun_allowed {
        // Many values to print one by one: a read (which changes nothing) is cheaper
        // run once more through the text protocol.
        return Ok(Ran::NeedsText);
    }
    if !pending.is_empty() {
        match render::texts(client, &pending, limits.statement_timeout_ms).await {
            Ok(texts) => {
                for (value, text) in pending.iter().zip(texts) {
                    rows.rows.fill(
                        value.row,
                        value.column,
                        convert::to_json(&value.ty, Some(&text)),
                    );
                }
                rows.recount();
            }
            Err(Failure::Unrenderable(_))
                if call.params.is_empty() && call.transaction != Transaction::Write =>
            {
                return Ok(Ran::NeedsText);
            }
            Err(Failure::Unrenderable(type_name)) => {
                let done = if call.transaction == Transaction::Write {
                    "The statement ran and committed, but its result"
                } else {
                    "The result"
                };
                return Err(RunError::Client(ClientError::new(format!(
                    "{done} holds a value of type {type_name} that cannot be shown as it is; \
                     cast it to text (expression::text) to see it"
                ))));
            }
            Err(Failure::Database(e)) => return Err(RunError::Database(e)),
        }
    }
    Ok(Ran::Output(rows.into_output(columns, rows_affected)))
}

/// The parameterised form of `call` when it runs through a statement kept on the
/// connection ([`super::prepared`]): a plain read (no parameters of its own, no cursor)
/// on a connection that batches, with the statements that bound its batch.
fn preparable<'a, 'c>(
    client: &'c super::connections::Object,
    call: &Call<'a>,
) -> Option<(&'a sluice_sqlguard::Parameterised, &'c Batches)> {
    let plain = call.transaction == Transaction::Read && call.params.is_empty() && !call.cursor;
    let form = call.parameterised.filter(|_| plain)?;
    Some((form, client.batches()?))
}

/// Runs `call` through the statement kept on the connection for its parameterised
/// `form`, bound with the literals: one batch under one `Sync`. A form not yet kept is
/// prepared inside the read's transaction, after the check (so under the pins), and
/// kept.
async fn prepared_read(
    checked: &Checked<'_>,
    call: &Call<'_>,
    form: &sluice_sqlguard::Parameterised,
    batches: &Batches,
    settings: OutputSettings,
    limits: Limits,
) -> Result<Collected, RunError> {
    let client = checked.client;
    let statements = client.statements();
    let types = prepared::types(form);
    let values = prepared::values(form);
    let rows = || Rows::skipping(limits.skip, call.max_rows, limits.max_bytes);
    let (statement, mut collected) = match statements.get(&form.text, &types) {
        Some(statement) => {
            let (begun, resolved, ran, ended) = tokio::join!(
                drain(client.query_raw(&batches.begin, none())),
                checked.run(),
                bind(client, &statement, &values, settings, rows()),
                drain(client.query_raw(&batches.end, none()))
            );
            begun?;
            resolved?;
            let collected = match ran {
                Err(e) if replanned(&e) => {
                    // The batch has ended: closing the statement is a request of its own.
                    drop(statements.forget(&form.text, &types));
                    return Err(RunError::Replanned);
                }
                other => other?,
            };
            ended?;
            checked
                .prepared_reads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            (statement, collected)
        }
        None => {
            let (begun, resolved, prepared) = tokio::join!(
                client.batch_execute(call.transaction.begin()),
                checked.run(),
                client.prepare_typed(&form.text, &types)
            );
            begun?;
            resolved?;
            let statement = prepared.map_err(|e| RunError::Unprepared {
                remember: prepared::form_failed(&e),
            })?;
            // Kept whatever its run gives: a prepared statement outlives the
            // transaction it was prepared in, rolled back or failed. The one pushed out
            // is closed here, outside any batch.
            drop(statements.keep(&form.text, types, statement.clone()));
            let (ran, ended) = tokio::join!(
                bind(client, &statement, &values, settings, rows()),
                client.batch_execute(call.transaction.end())
            );
            let collected = ran?;
            ended?;
            (statement, collected)
        }
    };
    if collected.columns.is_empty() {
        collected.columns = statement.columns().iter().map(ColumnInfo::of).collect();
    }
    Ok(collected)
}

/// Runs a prepared `statement` with `values` and reads its rows.
async fn bind(
    client: &super::connections::Object,
    statement: &tokio_postgres::Statement,
    values: &[Param],
    settings: OutputSettings,
    rows: Rows,
) -> Result<Collected, tokio_postgres::Error> {
    collect(client.query_raw(statement, values).await?, settings, rows).await
}

/// True for the failures of a kept statement that PostgreSQL no longer runs as prepared:
/// its result's columns changed (`0A000`), or it is gone (`26000`).
fn replanned(e: &tokio_postgres::Error) -> bool {
    matches!(crate::errors::sqlstate_of(e), Some("0A000" | "26000"))
}

/// The columns of `sql`, from a statement prepared and closed again; inside a
/// transaction of its own behind a transaction pooler (with the look-up statements
/// deallocated there when a type was looked up: [`Checked::after_prepare`]). What the
/// types were is learned again.
async fn describe(
    checked: &Checked<'_>,
    sql: &str,
) -> Result<Vec<ColumnInfo>, tokio_postgres::Error> {
    let client = checked.client;
    let columns = |statement: &tokio_postgres::Statement| -> Vec<ColumnInfo> {
        checked
            .result_types
            .learn(sql, built_in_columns(statement.columns()));
        statement.columns().iter().map(ColumnInfo::of).collect()
    };
    if !checked.transaction_pooling() {
        return Ok(columns(&client.prepare(sql).await?));
    }
    let (begun, prepared) =
        tokio::join!(client.batch_execute("BEGIN READ ONLY"), client.prepare(sql));
    let described = begun.and(prepared).map(|statement| {
        let forget = checked.after_prepare(&statement);
        // Dropping the statement closes it, ahead of the rollback.
        (columns(&statement), forget)
    });
    let forgotten = match &described {
        Ok((_, Some(forget))) => client.batch_execute(forget).await,
        _ => Ok(()),
    };
    client.batch_execute("ROLLBACK").await?;
    forgotten?;
    described.map(|(columns, _)| columns)
}

/// Sends the statement with its parameters (typed as `types` where known, else left to
/// PostgreSQL to infer) and reads its rows.
async fn execute(
    client: &super::connections::Object,
    call: &Call<'_>,
    types: &[Type],
    settings: OutputSettings,
    limits: Limits,
) -> Result<Collected, tokio_postgres::Error> {
    let params = call
        .params
        .iter()
        .enumerate()
        .map(|(i, param)| (param, types.get(i).cloned().unwrap_or(Type::UNKNOWN)));
    if !call.cursor {
        let stream = client.query_typed_raw(call.sql, params).await?;
        return collect(
            stream,
            settings,
            Rows::skipping(limits.skip, call.max_rows, limits.max_bytes),
        )
        .await;
    }
    // Sent together, in order: the cursor, the move past earlier pages, the fetch.
    let none = || std::iter::empty::<(&Param, Type)>();
    let declare = cursor::declare(call.sql);
    let (declared, moved, fetched) = tokio::join!(
        async { count(client.query_typed_raw(&declare, params).await?).await },
        async {
            if call.skip == 0 {
                return Ok(Some(0));
            }
            count(
                client
                    .query_typed_raw(&cursor::skip(call.skip), none())
                    .await?,
            )
            .await
        },
        async {
            let stream = client
                .query_typed_raw(&cursor::fetch(call.max_rows, call.sql), none())
                .await?;
            collect(
                stream,
                settings,
                Rows::skipping(0, call.max_rows, limits.max_bytes),
            )
            .await
        }
    );
    declared?;
    let moved = moved?;
    let mut collected = fetched?;
    // The rows the statement gave, when all of them were fetched.
    collected.rows_affected = match (collected.rows.truncated, collected.rows_affected) {
        (false, Some(fetched)) => Some(fetched + moved.unwrap_or(0)),
        _ => None,
    };
    Ok(collected)
}

/// No parameters, for a prepared statement that takes none.
fn none() -> std::iter::Empty<&'static (dyn tokio_postgres::types::ToSql + Sync)> {
    std::iter::empty()
}

/// Runs a statement whose rows (if any) nobody reads.
async fn drain(
    sent: impl Future<Output = Result<RowStream, tokio_postgres::Error>>,
) -> Result<(), tokio_postgres::Error> {
    count(sent.await?).await.map(|_| ())
}

/// Reads a stream that has no rows to keep; the count its command tag gives.
async fn count(stream: RowStream) -> Result<Option<u64>, tokio_postgres::Error> {
    pin_mut!(stream);
    while let Some(row) = stream.next().await {
        row?;
    }
    Ok(stream.rows_affected())
}

/// Reads the rows of a binary result, capped; values the decoders do not reproduce are
/// kept as bytes, to be printed by the server.
async fn collect(
    stream: RowStream,
    settings: OutputSettings,
    mut rows: Rows,
) -> Result<Collected, tokio_postgres::Error> {
    pin_mut!(stream);
    let mut columns = Vec::new();
    let mut decodable = Vec::new();
    let mut pending = Vec::new();
    let mut built_in = true;
    while let Some(row) = stream.next().await {
        let row = row?;
        if rows.full() || rows.skipping_next() {
            continue; // drain, so the connection is ready for the next statement
        }
        if columns.is_empty() {
            columns = row.columns().iter().map(ColumnInfo::of).collect();
            built_in = built_in_columns(row.columns());
            decodable = row
                .columns()
                .iter()
                .map(|c| binary::supports(c.type_(), settings))
                .collect();
        }
        let index = rows.rows.len();
        let mut row_pending = Vec::new();
        let open = rows.open_row();
        for (i, column) in row.columns().iter().enumerate() {
            let RawBytes(raw) = row.try_get(i)?;
            let decoded = match raw {
                None => {
                    open.push_null();
                    true
                }
                Some(_) if decodable.get(i).copied().unwrap_or(false) => {
                    binary::push(column.type_(), raw, open)
                }
                Some(_) => false,
            };
            if !decoded {
                // Printed by the server later, counted then.
                row_pending.push(Pending {
                    row: index,
                    column: i,
                    ty: column.type_().clone(),
                    raw: raw.unwrap_or_default().to_vec(),
                });
                open.push_pending();
            }
        }
        if rows.close_row() {
            pending.extend(row_pending);
        }
    }
    Ok(Collected {
        rows,
        columns,
        pending,
        rows_affected: stream.rows_affected(),
        built_in,
    })
}

/// A value's raw bytes, whatever its type (`None` for SQL `NULL`).
struct RawBytes<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for RawBytes<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawBytes(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawBytes(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}
