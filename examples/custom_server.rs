//! An inventory server built on the Sluice crates the way another team would build one:
//! a typed tool of its own over a parameterised query (`findItems`), two of the standard
//! database tools (`listTables`, `queryDatabase`), a tool of its own that only writers
//! get (`restock`), a resource (`inventory://summary`) and a prompt (`reorderReport`),
//! over stdio or Streamable HTTP with static bearer tokens. `docs/guide.md` walks
//! through it.
//!
//! ```sh
//! psql -c "CREATE TABLE items (sku text PRIMARY KEY, name text NOT NULL,
//!                              quantity int NOT NULL DEFAULT 0, price numeric(10,2))"
//! DATABASE_URL=postgres://app@localhost/shop \
//!   cargo run --example custom_server -- --user alice --writers alice
//! INVENTORY_TOKENS="alice=$(echo -n s3cret | sha256sum | cut -c1-64 | sed 's/^/sha256:/')" \
//!   cargo run --example custom_server -- --transport http --writers alice
//! ```
#![allow(clippy::print_stderr)]

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use serde_json::json;
use sluice_auth::oauth::{BearerVerifier, StaticTokens};
use sluice_auth::{Identity, Permission, PermissionPolicy, PolicyFilter};
use sluice_mcp::transport::http::HttpConfig;
use sluice_mcp::{
    CallToolResult, GetPromptResult, Prompt, PromptMessage, RequestContext, Resource,
    ResourceContents, ResourceError, Server,
};
use sluice_postgres::tools::{DatabaseTool, DatabaseTools, audit, authorise, render};
use sluice_postgres::{DEFAULT_NAME, Database, DatabaseConfig, Param};

/// The inventory MCP server.
#[derive(Debug, Parser)]
struct Flags {
    /// PostgreSQL connection string; unset: libpq's environment (PGHOST, PGUSER, …).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// `stdio` or `http`.
    #[arg(long, default_value = "stdio")]
    transport: String,
    /// Where HTTP listens (endpoint /mcp).
    #[arg(long, default_value = "127.0.0.1:8100")]
    bind: String,
    /// The caller's login on stdio.
    #[arg(long, env = "USER", default_value = "")]
    user: String,
    /// Logins that may restock (comma-separated).
    #[arg(long, default_value = "")]
    writers: String,
    /// Bearer tokens for HTTP, by hash: `login=sha256:<hex>,…`.
    #[arg(
        long,
        env = "INVENTORY_TOKENS",
        hide_env_values = true,
        default_value = ""
    )]
    tokens: String,
}

/// `findItems`: the caller's words become bind parameters, never SQL.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct FindItems {
    /// Part of the item's name (case-insensitive).
    name_contains: String,
    /// Only items at most this price.
    max_price: Option<f64>,
}

/// `restock`: adds to an item's quantity.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Restock {
    /// The item's SKU.
    sku: String,
    /// How many arrived (1 to 10000).
    quantity: u32,
}

#[tokio::main]
async fn main() -> ExitCode {
    examples::init_logging();
    let flags = Flags::parse();
    let config = DatabaseConfig::from_url_or_env(flags.database_url.as_deref());
    let database = match config {
        Ok(config) => Database::connect(config).await,
        Err(e) => Err(e),
    };
    let database = match database {
        Ok(database) => Arc::new(database),
        Err(e) => {
            eprintln!("custom_server: {e}");
            return ExitCode::from(1);
        }
    };
    let policy = PermissionPolicy::from_lists(&flags.writers, None);
    let server = build(Arc::clone(&database), &policy);
    let served = if flags.transport == "http" {
        serve_http(server, &flags).await
    } else {
        let identity = Identity::new(flags.user.clone()).into_extensions();
        sluice_mcp::transport::stdio::serve(&server, identity)
            .await
            .map_err(|e| e.to_string())
    };
    database.close();
    served.map_or_else(
        |e| {
            eprintln!("custom_server: {e}");
            ExitCode::from(1)
        },
        |()| ExitCode::SUCCESS,
    )
}

/// The server: our tools, two standard ones, a resource, a prompt, and who sees what.
fn build(database: Arc<Database>, policy: &PermissionPolicy) -> Server {
    let policy = Arc::new(policy.clone());
    let (db, pol) = (Arc::clone(&database), Arc::clone(&policy));
    let builder = Server::builder("inventory", "1.0.0")
        .instructions("Inventory of the shop. findItems searches by name; restock is for staff.")
        .typed_tool("findItems", "Finds items by part of their name, optionally under a price.", move |args: FindItems, ctx: RequestContext| {
            let (db, pol) = (Arc::clone(&db), Arc::clone(&pol));
            async move {
                let who = authorise(&pol, &ctx, Permission::Read, "findItems")?;
                let sql = "SELECT sku, name, quantity, price FROM items \
                           WHERE name ILIKE '%' || $1 || '%' AND ($2::numeric IS NULL OR price <= $2) ORDER BY sku";
                let params = [Param::from(args.name_contains), Param::from(args.max_price)];
                let start = Instant::now();
                let found = db.read_with(sql, &params).await;
                audit(&who.login, "findItems", DEFAULT_NAME, sql, &params, found.as_ref(), start);
                render(found)
            }
        });
    let (db, pol) = (Arc::clone(&database), Arc::clone(&policy));
    let builder = builder.typed_tool("restock", "Adds arrived stock to an item (staff only).", move |args: Restock, ctx: RequestContext| {
        let (db, pol) = (Arc::clone(&db), Arc::clone(&pol));
        async move {
            let who = authorise(&pol, &ctx, Permission::Write, "restock")?;
            if !(1..=10_000).contains(&args.quantity) {
                return Err(sluice_mcp::ToolError::invalid_arguments("quantity must be from 1 to 10000"));
            }
            let sql = "UPDATE items SET quantity = quantity + $2 WHERE sku = $1 RETURNING sku, quantity";
            let params = [Param::from(args.sku), Param::from(args.quantity)];
            let start = Instant::now();
            let updated = db.write_with(sql, &params).await;
            audit(&who.login, "restock", DEFAULT_NAME, sql, &params, updated.as_ref(), start);
            let updated = updated?;
            if updated.row_count == 0 {
                return Ok(CallToolResult::error("no item has that SKU"));
            }
            let row = updated.rows.to_values().into_iter().next().unwrap_or_default();
            let (sku, quantity) = (row.first().cloned(), row.get(1).cloned());
            Ok(CallToolResult::text(format!(
                "{} now has {}",
                sku.unwrap_or_default(),
                quantity.unwrap_or_default()
            )))
        }
    });
    let (db, pol) = (Arc::clone(&database), Arc::clone(&policy));
    let summary =
        Resource::new("inventory://summary", "summary").with_mime_type("application/json");
    let builder = builder.resource(summary, move |uri: String, _vars, ctx: RequestContext| {
        let (db, pol) = (Arc::clone(&db), Arc::clone(&pol));
        async move {
            pol.require(ctx.extensions(), Permission::Read)?;
            let totals = db
                .read("SELECT count(*) AS items, coalesce(sum(quantity), 0) AS units FROM items")
                .await?;
            let row = totals
                .rows
                .first()
                .map(|row| row.to_values())
                .ok_or_else(|| ResourceError::new("no totals"))?;
            let text = json!({"items": row[0], "units": row[1]}).to_string();
            Ok(vec![ResourceContents::text(uri, "application/json", text)])
        }
    });
    let builder = builder.prompt(
        Prompt::new("reorderReport", "Asks for the items to reorder.").with_argument("threshold", "Reorder at or below this quantity", true),
        |args: std::collections::HashMap<String, String>, _ctx| async move {
            let threshold: u32 = args.get("threshold").map_or(Ok(0), |t| t.trim().parse())?;
            Ok(GetPromptResult::new(vec![PromptMessage::user(format!(
                "Use queryDatabase to list the items with quantity <= $1 (params: [{threshold}]), then suggest what to reorder."
            ))]))
        },
    );
    let standard = DatabaseTools::new((*database).clone(), (*policy).clone())
        .only([DatabaseTool::ListTables, DatabaseTool::QueryDatabase]);
    let ours = PolicyFilter::new((*policy).clone())
        .tool("findItems", Permission::Read)
        .tool("restock", Permission::Write)
        .resource("inventory://summary", Permission::Read)
        .prompt("reorderReport", Permission::Read)
        .judge_only_named();
    standard.register(builder.filter(ours)).build()
}

/// Streamable HTTP on loopback, each caller known by a static bearer token.
async fn serve_http(server: Server, flags: &Flags) -> Result<(), String> {
    let tokens =
        StaticTokens::parse(&flags.tokens).map_err(|e| format!("INVENTORY_TOKENS: {e}"))?;
    let config = HttpConfig::default().with_verifier(BearerVerifier::static_only(tokens));
    let listener = tokio::net::TcpListener::bind(&flags.bind)
        .await
        .map_err(|e| format!("--bind {}: {e}", flags.bind))?;
    tracing::info!(bind = %flags.bind, "inventory server on http://{}/mcp", flags.bind);
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    sluice_mcp::transport::http::serve(listener, server, config, stop)
        .await
        .map_err(|e| e.to_string())
}
