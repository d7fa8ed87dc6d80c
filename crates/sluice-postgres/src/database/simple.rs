//! A statement through the simple protocol, its results in PostgreSQL's text format: two
//! round trips, and every type PostgreSQL can print. It takes no bind parameters.

use futures_util::{StreamExt, pin_mut};
use tokio_postgres::SimpleQueryMessage;

use super::output::{ColumnInfo, QueryOutput, Rows};
use super::{Call, Limits};
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
    // Then the statement and the end of the transaction.
    let run = async {
        let stream = client.simple_query_raw(call.sql).await?;
        pin_mut!(stream);
        let mut rows = Rows::skipping(limits.skip, call.max_rows, limits.max_bytes);
        let mut rows_affected = None;
        while let Some(message) = stream.next().await {
            match message? {
                SimpleQueryMessage::Row(row) => {
                    if rows.full() || rows.skipping_next() {
                        continue;
                    }
                    let values = types
                        .iter()
                        .enumerate()
                        .map(|(i, ty)| convert::to_json(ty, row.get(i)))
                        .collect();
                    rows.push(values);
                }
                SimpleQueryMessage::CommandComplete(n) => rows_affected = Some(n),
                _ => {}
            }
        }
        Ok::<_, tokio_postgres::Error>((rows, rows_affected))
    };
    let (ran, ended) = tokio::join!(run, client.batch_execute(call.transaction.end()));
    let (rows, rows_affected) = ran?;
    ended?;
    Ok(rows.into_output(columns, rows_affected))
}
