//! What the tests share: for those that speak MCP to the database tools, a session as a
//! login, a request, a tool call; for those that prove nothing ran, the advisory locks
//! held.
#![allow(dead_code, clippy::unwrap_used)]

use serde_json::{Value, json};
use sluice_auth::Identity;
use sluice_mcp::{Server, Session};

/// An initialised session on `server` as `login`.
pub(crate) async fn session(server: &Server, login: &str) -> Session {
    let (session, _notifications) = Session::new(server, Identity::new(login).into_extensions());
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    session.handle(&init.to_string()).await.unwrap();
    session
}

/// The whole answer to one request.
pub(crate) async fn ask(session: &Session, method: &str, params: Value) -> Value {
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    serde_json::from_str(&session.handle(&request.to_string()).await.unwrap()).unwrap()
}

/// The result of calling `tool` with `arguments` (`Null` when the call was an error).
pub(crate) async fn call(session: &Session, tool: &str, arguments: Value) -> Value {
    ask(
        session,
        "tools/call",
        json!({"name": tool, "arguments": arguments}),
    )
    .await["result"]
        .clone()
}

/// Advisory locks held in the connected database (by backend `pid` when given): what
/// the tests' planted functions take when they run. Other tests' databases in the same
/// cluster do not count.
pub(crate) async fn advisory_locks(admin: &tokio_postgres::Client, pid: Option<i32>) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND ($1::int IS NULL OR pid = $1)",
            &[&pid],
        )
        .await
        .unwrap()
        .get(0)
}
