"""The official MCP Python SDK against the built everything_server.

Usage:
    everything.py stdio SERVER_BINARY      # launches the server as a child process
    everything.py http URL                 # connects to a running server (Streamable HTTP)

Lists and calls tools of every content type, receives progress and log notifications,
answers the server's sampling and elicitation requests, reads static and templated
resources, subscribes, gets prompts and completions. Prints
"python interop (TRANSPORT): N passed, 0 failed" when all hold.
"""

import asyncio
import base64
import json
import sys

from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client


def attr(obj, snake, camel, default=None):
    # The SDK's 2.x models use snake_case; 1.x used the wire names.
    return getattr(obj, snake, getattr(obj, camel, default))


async def exercise(read, write) -> int:
    logs = []
    sampled = []
    elicited = []

    async def on_log(params) -> None:
        logs.append(params.data)

    async def on_sampling(context, params):
        sampled.append(params.messages[0].content.text)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="a reply from the client's model"),
            model="interop-model",
        )

    async def on_elicitation(context, params):
        elicited.append(params.message)
        return types.ElicitResult(action="accept", content={"username": "ada", "email": "ada@example.com"})

    checks = 0
    async with ClientSession(
        read,
        write,
        logging_callback=on_log,
        sampling_callback=on_sampling,
        elicitation_callback=on_elicitation,
    ) as session:
        init = await session.initialize()
        assert attr(init, "server_info", "serverInfo").name == "sluice-everything-server"
        checks += 1

        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        for name in ["test_simple_text", "test_image_content", "test_audio_content",
                     "test_embedded_resource", "test_multiple_content_types",
                     "test_tool_with_logging", "test_tool_with_progress", "test_error_handling",
                     "test_sampling", "test_elicitation"]:
            assert name in tools and tools[name].description, name
        checks += 1

        text = await session.call_tool("test_simple_text", {})
        assert text.content[0].text == "This is a simple text response for testing."
        image = await session.call_tool("test_image_content", {})
        assert attr(image.content[0], "mime_type", "mimeType") == "image/png"
        assert base64.b64decode(image.content[0].data).startswith(b"\x89PNG")
        multi = await session.call_tool("test_multiple_content_types", {})
        assert [block.type for block in multi.content] == ["text", "image", "resource"]
        failed = await session.call_tool("test_error_handling", {})
        assert attr(failed, "is_error", "isError") is True
        checks += 1

        progress = []

        async def on_progress(value, total, message) -> None:
            progress.append((value, total))

        done = await session.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
        assert "progress" in done.content[0].text
        assert progress == [(0, 100), (50, 100), (100, 100)], progress
        checks += 1

        await session.call_tool("test_tool_with_logging", {})
        for _ in range(50):
            if len(logs) >= 3:
                break
            await asyncio.sleep(0.02)
        assert logs[:3] == ["Tool execution started", "Tool processing data", "Tool execution completed"], logs
        await session.set_logging_level("error")
        await session.call_tool("test_tool_with_logging", {})
        await asyncio.sleep(0.1)
        assert len(logs) == 3, f"info entries arrived after setLevel error: {logs}"
        checks += 1

        sampling = await session.call_tool("test_sampling", {"prompt": "What is 6 x 7?"})
        assert sampled == ["What is 6 x 7?"], sampled
        assert sampling.content[0].text == "LLM response: a reply from the client's model", sampling
        checks += 1

        elicitation = await session.call_tool("test_elicitation", {"message": "Who are you?"})
        assert elicited == ["Who are you?"], elicited
        assert "action=accept" in elicitation.content[0].text and "ada@example.com" in elicitation.content[0].text
        checks += 1

        listed = [str(r.uri) for r in (await session.list_resources()).resources]
        assert listed == ["test://static-text", "test://static-binary", "test://watched-resource"], listed
        static = await session.read_resource("test://static-text")
        assert static.contents[0].text == "This is the content of the static text resource."
        binary_res = await session.read_resource("test://static-binary")
        assert base64.b64decode(binary_res.contents[0].blob).startswith(b"\x89PNG")
        templated = await session.read_resource("test://template/42/data")
        assert json.loads(templated.contents[0].text)["id"] == "42"
        await session.subscribe_resource("test://watched-resource")
        await session.unsubscribe_resource("test://watched-resource")
        checks += 1

        prompts = [p.name for p in (await session.list_prompts()).prompts]
        assert prompts == ["test_simple_prompt", "test_prompt_with_arguments",
                           "test_prompt_with_embedded_resource", "test_prompt_with_image",
                           "test_input_required_result_prompt"], prompts
        filled = await session.get_prompt("test_prompt_with_arguments", {"arg1": "alpha", "arg2": "beta"})
        text = filled.messages[0].content.text
        assert "alpha" in text and "beta" in text, text
        embedded = await session.get_prompt("test_prompt_with_embedded_resource", {"resourceUri": "test://x"})
        assert embedded.messages[0].content.type == "resource"
        completion = await session.complete(
            types.PromptReference(type="ref/prompt", name="test_prompt_with_arguments"),
            {"name": "arg1", "value": "par"},
        )
        assert completion.completion.values == ["paris", "park", "party"], completion
        checks += 1

        assert (await session.send_ping()) is not None
        checks += 1
    return checks


async def main(transport: str, target: str) -> None:
    if transport == "stdio":
        async with stdio_client(StdioServerParameters(command=target, args=[])) as (read, write):
            checks = await exercise(read, write)
    elif transport == "http":
        async with streamable_http_client(target) as (read, write):
            checks = await exercise(read, write)
    else:
        raise SystemExit(f"unknown transport {transport}")
    print(f"python interop ({transport}): {checks} passed, 0 failed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
