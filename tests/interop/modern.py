"""The official MCP Python SDK's high-level `Client` against the built everything_server,
in its default mode (probe `server/discover`, then stateless 2026-07-28 requests) and in
its legacy mode (the initialize handshake), over stdio or Streamable HTTP.

Usage:
    modern.py stdio SERVER_BINARY [auto|legacy]
    modern.py http URL [auto|legacy]

Under 2026-07-28 the server asks for input with input_required results: the SDK answers
them through the same callbacks that answer server-to-client requests under 2025-11-25,
and retries. Prints "python modern interop (TRANSPORT, MODE): N passed, 0 failed".
"""

import asyncio
import sys

import mcp_types as types
from mcp import Client, StdioServerParameters


async def exercise(client: Client, mode: str) -> int:
    checks = 0
    expected = "2026-07-28" if mode == "auto" else "2025-11-25"
    assert client.protocol_version == expected, client.protocol_version
    checks += 1

    names = [tool.name for tool in (await client.list_tools()).tools]
    for name in ["test_simple_text", "test_input_required_result_elicitation",
                 "test_input_required_result_multi_round", "test_logging_tool"]:
        assert name in names, (name, names)
    text = await client.call_tool("test_simple_text", {})
    assert text.content[0].text == "This is a simple text response for testing."
    checks += 1

    # One handler, both eras: a question answered through the elicitation callback.
    hello = await client.call_tool("test_input_required_result_elicitation", {})
    assert hello.content[0].text == "Hello, Ada!", hello
    rounds = await client.call_tool("test_input_required_result_multi_round", {})
    assert rounds.content[0].text == "Ada likes teal", rounds
    three = await client.call_tool("test_input_required_result_multiple_inputs", {})
    assert three.content[0].text == "a greeting Ada (1 roots)", three
    checks += 1

    sampled = await client.call_tool("test_sampling", {"prompt": "What is 6 x 7?"})
    assert sampled.content[0].text == "LLM response: a greeting", sampled
    checks += 1

    prompt = await client.get_prompt("test_input_required_result_prompt", {})
    assert "Use this context: " in prompt.messages[0].content.text, prompt
    checks += 1

    progress = []

    async def on_progress(value, total, message) -> None:
        progress.append(value)

    done = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
    assert "progress" in done.content[0].text
    assert progress == [0, 50, 100], progress
    checks += 1

    static = await client.read_resource("test://static-text")
    assert static.contents[0].text == "This is the content of the static text resource."
    checks += 1

    if mode == "auto":
        # Change notifications come on a subscriptions/listen stream.
        async with client.listen(tools_list_changed=True) as subscription:
            await client.call_tool("test_trigger_tool_change", {})
            event = await asyncio.wait_for(subscription.__anext__(), 5)
            assert type(event).__name__ == "ToolsListChanged", event
        checks += 1
    return checks


async def main(transport: str, target: str, mode: str) -> None:
    logs = []

    async def on_sampling(context, params):
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="a greeting"),
            model="interop-model",
        )

    async def on_elicitation(context, params):
        if "color" in params.message:
            return types.ElicitResult(action="accept", content={"color": "teal"})
        if "context" in params.message:
            return types.ElicitResult(action="accept", content={"context": "tests"})
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def on_roots(context):
        return types.ListRootsResult(roots=[types.Root(uri="file:///work", name="work")])

    async def on_log(params) -> None:
        logs.append(params.data)

    server = StdioServerParameters(command=target, args=[]) if transport == "stdio" else target
    async with Client(
        server,
        mode=mode,
        sampling_callback=on_sampling,
        elicitation_callback=on_elicitation,
        list_roots_callback=on_roots,
        logging_callback=on_log,
    ) as client:
        checks = await exercise(client, mode)
    print(f"python modern interop ({transport}, {mode}): {checks} passed, 0 failed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "auto"))
