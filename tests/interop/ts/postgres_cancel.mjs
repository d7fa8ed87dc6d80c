// The official MCP TypeScript SDK (v2 client) against the built postgres_server, in
// "auto" (2026-07-28) or "legacy" mode, over stdio or Streamable HTTP: lists tools, reads
// rows, then aborts a long queryDatabase after a second (over HTTP the SDK closes the
// response stream, over stdio it sends notifications/cancelled). It prints "cancelled"
// and waits for a line on standard input — the Rust test that launched it checks
// meanwhile, from its own connection, that PostgreSQL stopped the statement — then checks
// that the server still answers.
//
//   node postgres_cancel.mjs stdio SERVER_BINARY DATABASE_URL auto|legacy
//   node postgres_cancel.mjs http URL - auto|legacy
import assert from "node:assert/strict";
import { createInterface } from "node:readline";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

const [transportName, target, databaseUrl, mode] = process.argv.slice(2);
const LONG_SQL =
  "SELECT count(*) AS sluice_cancel_probe FROM generate_series(1, 100000000000) AS g";
const transport =
  transportName === "stdio"
    ? new StdioClientTransport({
        command: target,
        args: [],
        env: {
          ...process.env,
          DATABASE_URL: databaseUrl,
          SLUICE_USER: "tester",
          SLUICE_STATEMENT_TIMEOUT: "300",
          RUST_LOG: "warn",
        },
        stderr: "inherit",
      })
    : new StreamableHTTPClientTransport(new URL(target));
const client = new Client(
  { name: "sluice-ts-cancel", version: "1.0.0" },
  { versionNegotiation: { mode } },
);
await client.connect(transport);
assert.equal(client.getNegotiatedProtocolVersion(), mode === "auto" ? "2026-07-28" : "2025-11-25");
const { tools } = await client.listTools();
assert.ok(tools.some((t) => t.name === "queryDatabase"), tools.map((t) => t.name).join());
const rows = await client.callTool({
  name: "queryDatabase",
  arguments: { sql: "SELECT id, body FROM notes ORDER BY id" },
});
assert.equal(rows.structuredContent.rowCount, 2);

const abort = new AbortController();
setTimeout(() => abort.abort(), 1500);
await assert.rejects(
  client.callTool({ name: "queryDatabase", arguments: { sql: LONG_SQL } }, { signal: abort.signal }),
);
console.log("cancelled");
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once("line", resolve));
lines.close();

const again = await client.callTool({ name: "queryDatabase", arguments: { sql: "SELECT 6 * 7 AS answer" } });
assert.deepEqual(again.structuredContent.rows, [[42]]);
await client.close();
console.log(`typescript postgres cancel (${transportName}, ${mode}): 4 passed, 0 failed`);
