//! The point query of `load_bench`, served by the official Rust MCP SDK (rmcp) as its
//! documentation shows a tool server: one `queryDatabase { sql }` tool that runs the SQL
//! as it comes (no guard, no transaction, no timeout, no cap) on a deadpool-postgres pool
//! and answers the rows as JSON text. This is what Sluice's guarded `queryDatabase` is
//! measured against.
//!
//! Environment: `DATABASE_URL`, `POOL_SIZE` (load_bench sets both), `RMCP_STDIO=pipes`
//! for rmcp's non-blocking pipe transport (`stdio_pipes`) instead of its default
//! `stdio()`, and `RMCP_CURRENT_THREAD=1` for a current-thread runtime instead of the
//! multi-threaded one `#[tokio::main]` gives. `RMCP_HTTP=127.0.0.1:PORT` serves the same
//! tool over rmcp's Streamable HTTP transport at `/mcp` instead, stateless with JSON
//! answers (`legacy_session_mode = false`, `json_response = true`), as the SDK's
//! documentation recommends for a horizontally scaled server.
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rmcp::{
    ServerHandler, ServiceExt,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    tool, tool_handler, tool_router,
};
use serde::Deserialize;
use tokio_postgres::SimpleQueryMessage;

#[derive(Deserialize, schemars::JsonSchema)]
struct SqlArgs {
    sql: String,
}

#[derive(Clone)]
struct Baseline {
    pool: Pool,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Baseline {
    #[tool(name = "queryDatabase", description = "Run SQL (no guard)")]
    async fn query_database(
        &self,
        Parameters(args): Parameters<SqlArgs>,
    ) -> Result<String, String> {
        let client = self.pool.get().await.map_err(|e| e.to_string())?;
        let messages = client
            .simple_query(&args.sql)
            .await
            .map_err(|e| e.to_string())?;
        let mut rows = Vec::new();
        for message in messages {
            if let SimpleQueryMessage::Row(row) = message {
                let mut object = serde_json::Map::new();
                for (i, column) in row.columns().iter().enumerate() {
                    object.insert(column.name().to_owned(), row.get(i).map(String::from).into());
                }
                rows.push(serde_json::Value::Object(object));
            }
        }
        Ok(serde_json::Value::Array(rows).to_string())
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Baseline {}

fn main() {
    let flag = |name: &str, value: &str| std::env::var(name).is_ok_and(|v| v == value);
    let runtime = if flag("RMCP_CURRENT_THREAD", "1") {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()
    }
    .expect("a tokio runtime");
    runtime.block_on(async {
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=postgres".into());
        let config: tokio_postgres::Config = url.parse().expect("DATABASE_URL");
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let size = std::env::var("POOL_SIZE")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(16);
        let pool = Pool::builder(manager).max_size(size).build().expect("pool");
        let server = Baseline {
            pool,
            tool_router: Baseline::tool_router(),
        };
        if let Ok(address) = std::env::var("RMCP_HTTP") {
            use rmcp::transport::streamable_http_server::{
                StreamableHttpServerConfig, StreamableHttpService,
                session::local::LocalSessionManager,
            };
            let config = StreamableHttpServerConfig::default()
                .with_legacy_session_mode(false)
                .with_json_response(true)
                .with_sse_keep_alive(None);
            let service = StreamableHttpService::new(
                move || Ok(server.clone()),
                std::sync::Arc::new(LocalSessionManager::default()),
                config,
            );
            let router = axum::Router::new().nest_service("/mcp", service);
            let listener = tokio::net::TcpListener::bind(&address)
                .await
                .expect("RMCP_HTTP: an address to listen on");
            axum::serve(listener, router).await.expect("HTTP server");
            return;
        }
        let service = if flag("RMCP_STDIO", "pipes") {
            server.serve(rmcp::transport::stdio_pipes()).await
        } else {
            server.serve(rmcp::transport::stdio()).await
        }
        .expect("MCP initialisation");
        let _ = service.waiting().await;
    });
}
