// The official MCP TypeScript SDK client against the built everything_server.
//
//   node client.mjs stdio SERVER_BINARY
//   node client.mjs http URL
//
// Lists and calls tools, receives progress and log notifications, answers sampling and
// elicitation requests, reads resources, gets prompts. Prints
// "typescript interop (TRANSPORT): N passed, 0 failed" when all hold.
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

const [transportName, target] = process.argv.slice(2);
const transport =
  transportName === "stdio"
    ? new StdioClientTransport({ command: target, args: [], stderr: "inherit" })
    : new StreamableHTTPClientTransport(new URL(target));

const client = new Client(
  { name: "sluice-ts-interop", version: "1.0.0" },
  { capabilities: { sampling: {}, elicitation: {} } },
);
const logs = [];
client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
  logs.push(n.params.data);
});
const sampled = [];
client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
  sampled.push(request.params.messages[0].content.text);
  return {
    role: "assistant",
    content: { type: "text", text: "typed by a TypeScript model" },
    model: "ts-model",
  };
});
client.setRequestHandler(ElicitRequestSchema, async () => ({
  action: "accept",
  content: { username: "grace", email: "grace@example.com" },
}));

let checks = 0;
await client.connect(transport);
assert.equal(client.getServerVersion().name, "sluice-everything-server");
checks++;

const { tools } = await client.listTools();
assert.ok(tools.length >= 10, `tools: ${tools.map((t) => t.name)}`);
for (const tool of tools) assert.ok(tool.description && tool.inputSchema, tool.name);
checks++;

const text = await client.callTool({ name: "test_simple_text", arguments: {} });
assert.equal(text.content[0].text, "This is a simple text response for testing.");
const failed = await client.callTool({ name: "test_error_handling", arguments: {} });
assert.equal(failed.isError, true);
checks++;

const progress = [];
await client.callTool({ name: "test_tool_with_progress", arguments: {} }, undefined, {
  onprogress: (p) => progress.push([p.progress, p.total]),
});
assert.deepEqual(progress, [[0, 100], [50, 100], [100, 100]]);
checks++;

await client.callTool({ name: "test_tool_with_logging", arguments: {} });
for (let i = 0; i < 50 && logs.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
assert.deepEqual(logs.slice(0, 3), [
  "Tool execution started",
  "Tool processing data",
  "Tool execution completed",
]);
checks++;

const sampling = await client.callTool({ name: "test_sampling", arguments: { prompt: "hello?" } });
assert.deepEqual(sampled, ["hello?"]);
assert.equal(sampling.content[0].text, "LLM response: typed by a TypeScript model");
const elicitation = await client.callTool({
  name: "test_elicitation",
  arguments: { message: "Who?" },
});
assert.match(elicitation.content[0].text, /action=accept.*grace@example\.com/);
checks++;

const { resources } = await client.listResources();
assert.ok(resources.some((r) => r.uri === "test://static-text"));
const templated = await client.readResource({ uri: "test://template/7/data" });
assert.equal(JSON.parse(templated.contents[0].text).id, "7");
checks++;

const prompt = await client.getPrompt({
  name: "test_prompt_with_arguments",
  arguments: { arg1: "one", arg2: "two" },
});
assert.match(prompt.messages[0].content.text, /one.*two/);
const image = await client.getPrompt({ name: "test_prompt_with_image" });
assert.equal(image.messages[0].content.type, "image");
checks++;

await client.close();
console.log(`typescript interop (${transportName}): ${checks} passed, 0 failed`);
