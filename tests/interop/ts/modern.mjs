// The official MCP TypeScript SDK (v2 client, @modelcontextprotocol/client) against the
// built everything_server, negotiating the protocol era ("auto": probe server/discover,
// then stateless 2026-07-28 requests) or forced to the 2025 handshake ("legacy").
//
//   node modern.mjs stdio SERVER_BINARY auto|legacy
//   node modern.mjs http URL auto|legacy
//
// Under 2026-07-28 the server asks for input with input_required results; the SDK answers
// them through the same request handlers that answer server-to-client requests under
// 2025-11-25, and retries. Prints "typescript modern interop (TRANSPORT, MODE): N passed,
// 0 failed" when all hold.
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

const [transportName, target, mode = "auto"] = process.argv.slice(2);
const transport =
  transportName === "stdio"
    ? new StdioClientTransport({ command: target, args: [], stderr: "inherit" })
    : new StreamableHTTPClientTransport(new URL(target));

const client = new Client(
  { name: "sluice-ts-modern-interop", version: "1.0.0" },
  {
    capabilities: { sampling: {}, elicitation: {}, roots: {} },
    versionNegotiation: { mode },
  },
);
client.setRequestHandler("sampling/createMessage", async () => ({
  role: "assistant",
  content: { type: "text", text: "a greeting" },
  model: "ts-model",
}));
client.setRequestHandler("elicitation/create", async (request) => {
  const message = request.params.message;
  if (message.includes("color")) return { action: "accept", content: { color: "teal" } };
  if (message.includes("context")) return { action: "accept", content: { context: "tests" } };
  return { action: "accept", content: { name: "Grace" } };
});
client.setRequestHandler("roots/list", async () => ({
  roots: [{ uri: "file:///work", name: "work" }],
}));
const toolChanges = [];
client.setNotificationHandler("notifications/tools/list_changed", () => {
  toolChanges.push(Date.now());
});

let checks = 0;
await client.connect(transport);
const expected = mode === "auto" ? "2026-07-28" : "2025-11-25";
assert.equal(client.getNegotiatedProtocolVersion(), expected);
checks++;

const { tools } = await client.listTools();
const names = tools.map((t) => t.name);
for (const name of ["test_simple_text", "test_input_required_result_multi_round"]) {
  assert.ok(names.includes(name), `${name} in ${names}`);
}
const text = await client.callTool({ name: "test_simple_text", arguments: {} });
assert.equal(text.content[0].text, "This is a simple text response for testing.");
checks++;

const hello = await client.callTool({ name: "test_input_required_result_elicitation", arguments: {} });
assert.equal(hello.content[0].text, "Hello, Grace!");
const rounds = await client.callTool({ name: "test_input_required_result_multi_round", arguments: {} });
assert.equal(rounds.content[0].text, "Grace likes teal");
const three = await client.callTool({ name: "test_input_required_result_multiple_inputs", arguments: {} });
assert.equal(three.content[0].text, "a greeting Grace (1 roots)");
checks++;

const sampled = await client.callTool({ name: "test_sampling", arguments: { prompt: "6 x 7?" } });
assert.equal(sampled.content[0].text, "LLM response: a greeting");
const prompt = await client.getPrompt({ name: "test_input_required_result_prompt" });
assert.match(prompt.messages[0].content.text, /Use this context: tests/);
checks++;

const progress = [];
await client.callTool({ name: "test_tool_with_progress", arguments: {} }, { onprogress: (p) => progress.push(p.progress) });
assert.deepEqual(progress, [0, 50, 100]);
const stat = await client.readResource({ uri: "test://static-text" });
assert.equal(stat.contents[0].text, "This is the content of the static text resource.");
checks++;

if (mode === "auto") {
  const subscription = await client.listen({ toolsListChanged: true });
  assert.equal(subscription.honoredFilter.toolsListChanged, true);
  await client.callTool({ name: "test_trigger_tool_change", arguments: {} });
  for (let i = 0; i < 100 && toolChanges.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(toolChanges.length, 1, "one tools/list_changed on the listen stream");
  await subscription.close();
  checks++;
}

await client.close();
console.log(`typescript modern interop (${transportName}, ${mode}): ${checks} passed, 0 failed`);
