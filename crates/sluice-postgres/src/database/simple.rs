//! A statement through the simple protocol, its results in PostgreSQL's text format: two
//! round trips, and every type PostgreSQL can print. It takes no bind parameters.

use futures_util::{StreamExt, pin_mut};
use tokio_postgres::SimpleQueryMessage;

use super::output::{ColumnInfo, QueryOutput, Rows};
use super::{Call, Limits, cursor};
use crate::checked::{Checked, RunError};
use crate::convert;
use crate::errors::ClientError;

/// Runs `call` (which has no parameters) on the checked connection.
pub(super) async fn run(
    checked: &Checked<'_>,
    call: &Call<'_>,
    limits: Limits,
) -> Result<QueryOutput, RunError> {
    if !call.params.is_empty() {
        return Err(RunError::Client(ClientError::new(
            "internal error: the text protocol takes no parameters",
        )));
    }
    let client = checked.client;
    // Two round trips, not four: each pair is sent together (tokio-postgres pipelines
    // requests issued together on one connection) and answered in order. First the
    // transaction with its timeout, and the statement's preparation, which describes the
    // columns and makes PostgreSQL itself refuse more than one statement (a prepared
    // statement is one command).
    let (begun, resolved, prepared) = tokio::join!(
        client.batch_execute(call.transaction.begin()),
        checked.run(),
        client.prepare(call.sql)
    );
    begun?;
    resolved?;
    let statement = prepared?;
    let columns: Vec<ColumnInfo> = statement.columns().iter().map(ColumnInfo::of).collect();
    let types: Vec<_> = statement
        .columns()
        .iter()
        .map(|c| c.type_().clone())
        .collect();
    let forget = checked.after_prepare(&statement);
    // Closed now, ahead of the end of the transaction: no named statement outlives it.
    drop(statement);
    // Then the statement (or, behind a cursor, its declaration through the extended
    // protocol — one statement — and the fetch of the rows kept, in text) and the end of
    // the transaction.
    // The cursor's statements are written only for a read that uses one.
    let declare = call.cursor.then(|| cursor::declare(call.sql));
    let fetch = call.cursor.then(|| cursor::fetch(call.max_rows, call.sql));
    let moving = (call.cursor && limits.skip > 0).then(|| cursor::skip(limits.skip));
    let skip = if moving.is_some() { 0 } else { limits.skip };
    let text = fetch.as_deref().unwrap_or(call.sql);
    // Sent together, in order, before the end of the transaction.
    let run = async {
        let (forgotten, declared, moved, fetched) = tokio::join!(
            async {
                match forget {
                    Some(sql) => client.batch_execute(sql).await,
                    None => Ok(()),
                }
            },
            async {
                let Some(declare) = &declare else {
                    return Ok(());
                };
                client.query_typed(declare, &[]).await.map(|_| ())
            },
            async {
                let Some(moving) = &moving else {
                    return Ok(0);
                };
                let messages = client.simple_query(moving).await?;
                Ok(messages
                    .iter()
                    .find_map(|m| match m {
                        SimpleQueryMessage::CommandComplete(n) => Some(*n),
                        _ => None,
                    })
                    .unwrap_or(0))
            },
            async {
                let stream = client.simple_query_raw(text).await?;
                pin_mut!(stream);
                let mut rows = Rows::skipping(skip, call.max_rows, limits.max_bytes);
                let mut rows_affected = None;
                while let Some(message) = stream.next().await {
                    match message? {
                        SimpleQueryMessage::Row(row) => {
                            if rows.full() || rows.skipping_next() {
                                continue;
                            }
                            rows.push(
                                types
                                    .iter()
                                    .enumerate()
                                    .map(|(i, ty)| convert::to_json(ty, row.get(i))),
                            );
                        }
                        SimpleQueryMessage::CommandComplete(n) => rows_affected = Some(n),
                        _ => {}
                    }
                }
                Ok::<_, tokio_postgres::Error>((rows, rows_affected))
            }
        );
        forgotten?;
        declared?;
        let moved: u64 = moved?;
        let (rows, rows_affected) = fetched?;
        // Behind a cursor: the rows the statement gave, when all were fetched.
        let rows_affected = match (call.cursor, rows.truncated, rows_affected) {
            (false, _, n) => n,
            (true, false, Some(n)) => Some(n + moved),
            (true, _, _) => None,
        };
        Ok::<_, tokio_postgres::Error>((rows, rows_affected))
    };
    let (ran, ended) = tokio::join!(run, client.batch_execute(call.transaction.end()));
    let (rows, rows_affected) = ran?;
    ended?;
    Ok(rows.into_output(columns, rows_affected))
}
