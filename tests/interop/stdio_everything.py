"""The official MCP Python SDK against the built everything_server over stdio.

Usage: stdio_everything.py SERVER_BINARY

Lists and calls tools, receives progress and log notifications, and reads static and
templated resources. Prints "python interop: N passed, 0 failed" when all hold.
"""

import asyncio
import base64
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def attr(obj, snake, camel, default=None):
    # The SDK's 2.x models use snake_case; 1.x used the wire names.
    return getattr(obj, snake, getattr(obj, camel, default))


async def main(binary: str) -> None:
    logs = []

    async def on_log(params) -> None:
        logs.append(params.data)

    checks = 0
    async with stdio_client(StdioServerParameters(command=binary, args=[])) as (read, write):
        async with ClientSession(read, write, logging_callback=on_log) as session:
            init = await session.initialize()
            assert attr(init, "server_info", "serverInfo").name == "sluice-everything-server"
            checks += 1

            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            for name in ["test_simple_text", "test_image_content", "test_audio_content",
                         "test_embedded_resource", "test_multiple_content_types",
                         "test_tool_with_logging", "test_tool_with_progress", "test_error_handling"]:
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
            checks += 1

            listed = [str(r.uri) for r in (await session.list_resources()).resources]
            assert listed == ["test://static-text", "test://static-binary"], listed
            static = await session.read_resource("test://static-text")
            assert static.contents[0].text == "This is the content of the static text resource."
            binary_res = await session.read_resource("test://static-binary")
            assert base64.b64decode(binary_res.contents[0].blob).startswith(b"\x89PNG")
            templated = await session.read_resource("test://template/42/data")
            assert json.loads(templated.contents[0].text)["id"] == "42"
            checks += 1

            prompts = [p.name for p in (await session.list_prompts()).prompts]
            assert prompts == ["test_simple_prompt", "test_prompt_with_arguments"], prompts
            filled = await session.get_prompt("test_prompt_with_arguments", {"arg1": "alpha", "arg2": "beta"})
            text = filled.messages[0].content.text
            assert "alpha" in text and "beta" in text, text
            checks += 1

    print(f"python interop: {checks} passed, 0 failed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
