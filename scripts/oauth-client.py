"""A small MCP client for postgres_server over HTTP with GitHub sign-in, built on the
official Python SDK's OAuth client. It registers itself, opens the sign-in page in your
browser, receives the answer on http://127.0.0.1:33418/callback, and lists the tools your
login gets (then runs a query if you give one).

    .venv/bin/python scripts/oauth-client.py http://127.0.0.1:8000/mcp ["SELECT 1"]
    .venv/bin/python scripts/oauth-client.py --headless URL   # approve the consent page
                                                              # without a browser (fake GitHub)
"""

import asyncio
import html
import re
import sys
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

CALLBACK_PORT = 33418
REDIRECT = f"http://127.0.0.1:{CALLBACK_PORT}/callback"


class Memory:
    def __init__(self):
        self.tokens = None
        self.client = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, client_info):
        self.client = client_info


class Callback:
    """Receives the authorization answer, from a real browser or the headless one."""

    def __init__(self):
        self.answer = None
        self.arrived = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                query = parse_qs(urlparse(self.path).query)
                outer.answer = {k: v[0] for k, v in query.items()}
                outer.arrived.set()
                self.send_response(200)
                self.send_header("content-type", "text/plain; charset=utf-8")
                self.end_headers()
                self.wfile.write(b"Signed in. You can close this window.\n")

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", CALLBACK_PORT), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    async def wait(self) -> AuthorizationCodeResult:
        await asyncio.to_thread(self.arrived.wait, 300)
        answer, self.answer = self.answer or {}, None
        self.arrived.clear()
        if "error" in answer:
            raise SystemExit(f"sign-in refused: {answer.get('error')}: {answer.get('error_description', '')}")
        return AuthorizationCodeResult(code=answer["code"], state=answer.get("state"), iss=answer.get("iss"))


async def approve_headless(url: str) -> None:
    """What a person does in the browser: Approve, then follow the redirects."""
    async with httpx2.AsyncClient(follow_redirects=False, timeout=30) as browser:
        page = await browser.get(url)
        fields = {n: html.unescape(v) for n, v in re.findall(r'name="(request|csrf)" value="([^"]*)"', page.text)}
        origin = "{0.scheme}://{0.netloc}".format(urlparse(url))
        step = await browser.post(f"{origin}/authorize", data={**fields, "decision": "approve"})
        while step.status_code in (302, 303):
            step = await browser.get(step.headers["location"])


async def main() -> None:
    args = sys.argv[1:]
    headless = "--headless" in args
    args = [a for a in args if a != "--headless"]
    if not args:
        raise SystemExit(__doc__)
    url, sql = args[0], (args[1] if len(args) > 1 else None)
    callback = Callback()

    async def open_browser(auth_url: str) -> None:
        if headless:
            await approve_headless(auth_url)
        else:
            print(f"Sign in: {auth_url}", file=sys.stderr)
            webbrowser.open(auth_url)

    auth = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="Sluice example client",
            redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=Memory(),
        redirect_handler=open_browser,
        callback_handler=callback.wait,
    )
    async with httpx2.AsyncClient(auth=auth, timeout=60) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                tools = sorted(t.name for t in (await session.list_tools()).tools)
                print("tools:", ", ".join(tools))
                if sql:
                    result = await session.call_tool("queryDatabase", {"sql": sql})
                    print("".join(getattr(b, "text", "") for b in result.content))


asyncio.run(main())
