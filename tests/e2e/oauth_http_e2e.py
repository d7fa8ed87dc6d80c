"""Drives `postgres_server --transport http` with the official MCP Python SDK's OAuth
client (`OAuthClientProvider`), headless: discovery from the 401, registration (dynamic,
then a client ID metadata document), authorization with the consent form submitted the
way a browser submits it, GitHub (the Rust test's fake), the token, tools as a reader and
as a writer, a refresh when the access token expires, and revocation.

Usage: oauth_http_e2e.py MCP_URL CIMD_PORT CERT_PEM KEY_PEM

The Rust test that launches it queues the sign-ins at its fake GitHub (a reader, github
id 7, then the writer, github id 42, twice) and checks the database afterwards.
"""

import asyncio
import html
import json
import re
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp import ClientSession
from mcp.shared.exceptions import MCPError
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

REDIRECT = "http://127.0.0.1:33418/callback"
passed = 0
failed = 0


class Memory:
    """Token storage in memory (what a real client keeps on disk)."""

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


class Browser:
    """What a person's browser does: show the consent page, press Approve, follow
    GitHub's redirects, and stop at the client's redirect URI."""

    def __init__(self):
        self.result = None
        self.consent_pages = []

    async def open(self, url: str) -> None:
        async with httpx2.AsyncClient(follow_redirects=False, timeout=20) as browser:
            page = await browser.get(url)
            assert page.status_code == 200, (page.status_code, page.text)
            self.consent_pages.append(page.text)
            fields = dict(
                (name, html.unescape(value))
                for name, value in re.findall(r'name="(request|csrf)" value="([^"]*)"', page.text)
            )
            assert set(fields) == {"request", "csrf"}, page.text
            origin = "{0.scheme}://{0.netloc}".format(urlparse(url))
            step = await browser.post(f"{origin}/authorize", data={**fields, "decision": "approve"})
            for _ in range(5):
                assert step.status_code == 302, (step.status_code, step.text)
                location = step.headers["location"]
                if location.startswith(REDIRECT):
                    query = parse_qs(urlparse(location).query)
                    assert "error" not in query, query
                    self.result = AuthorizationCodeResult(
                        code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
                    )
                    return
                step = await browser.get(location)
            raise AssertionError("the sign-in never came back to the client")

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        result, self.result = self.result, None
        return result


def provider(mcp_url: str, storage: Memory, browser: Browser, metadata_url=None) -> OAuthClientProvider:
    metadata = OAuthClientMetadata(
        client_name="Python SDK e2e",
        redirect_uris=[REDIRECT],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    return OAuthClientProvider(
        server_url=mcp_url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=browser.open,
        callback_handler=browser.callback,
        client_metadata_url=metadata_url,
    )


def text_of(result) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


def is_error(result) -> bool:
    return bool(getattr(result, "is_error", getattr(result, "isError", False)))


async def session_with(auth, work):
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        async with streamable_http_client(auth.context.server_url, http_client=http) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)


async def reader(mcp_url: str) -> None:
    storage, browser = Memory(), Browser()

    async def work(session):
        names = sorted(t.name for t in (await session.list_tools()).tools)
        assert names == ["describeTable", "explainQuery", "listTables", "queryDatabase"], names
        rows = await session.call_tool("queryDatabase", {"sql": "SELECT body FROM notes ORDER BY id"})
        assert not is_error(rows), text_of(rows)
        assert "first" in text_of(rows), text_of(rows)
        # The tool is not offered to a reader: calling it anyway is a protocol error (or
        # an error result), never a write.
        try:
            refused = await session.call_tool("executeDatabase", {"sql": "INSERT INTO notes (body) VALUES ('reader')"})
        except MCPError as error:
            assert "executeDatabase" in str(error) or "tool" in str(error).lower(), error
        else:
            assert is_error(refused), text_of(refused)

    await session_with(provider(mcp_url, storage, browser), work)
    assert storage.client.client_id.startswith("slc_client_"), "dynamic registration was not used"
    assert "Python SDK e2e" in browser.consent_pages[0]


async def writer_with_refresh_and_revoke(mcp_url: str) -> None:
    storage, browser = Memory(), Browser()
    auth = provider(mcp_url, storage, browser)

    async def work(session):
        names = sorted(t.name for t in (await session.list_tools()).tools)
        assert names == ["describeTable", "executeDatabase", "explainQuery", "listTables", "queryDatabase"], names
        wrote = await session.call_tool("executeDatabase", {"sql": "INSERT INTO notes (body) VALUES ('from python')"})
        assert not is_error(wrote), text_of(wrote)
        dropped = await session.call_tool("executeDatabase", {"sql": "DROP TABLE notes"})
        assert is_error(dropped), text_of(dropped)
        first = storage.tokens.access_token
        # The access token lives 3 s: the provider refreshes it before the next call.
        await asyncio.sleep(4)
        rows = await session.call_tool("queryDatabase", {"sql": "SELECT count(*) FROM notes"})
        assert not is_error(rows), text_of(rows)
        assert storage.tokens.access_token != first, "the token was not refreshed"
        return storage.tokens

    tokens = await session_with(auth, work)
    origin = "{0.scheme}://{0.netloc}".format(urlparse(mcp_url))
    async with httpx2.AsyncClient(timeout=10) as http:
        revoked = await http.post(
            f"{origin}/revoke", data={"token": tokens.access_token, "client_id": storage.client.client_id}
        )
        assert revoked.status_code == 200, revoked.text
        probe = await http.post(
            mcp_url,
            headers={
                "authorization": f"Bearer {tokens.access_token}",
                "accept": "application/json, text/event-stream",
                "content-type": "application/json",
            },
            content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        )
        assert probe.status_code == 401, probe.status_code


def serve_metadata_document(port: int, cert: str, key: str) -> str:
    url = f"https://127.0.0.1:{port}/oauth/client.json"
    document = json.dumps(
        {
            "client_id": url,
            "client_name": "Python SDK e2e (metadata document)",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/oauth/client.json":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return url


async def writer_by_metadata_document(mcp_url: str, metadata_url: str) -> None:
    storage, browser = Memory(), Browser()

    async def work(session):
        names = sorted(t.name for t in (await session.list_tools()).tools)
        assert "executeDatabase" in names, names
        rows = await session.call_tool("queryDatabase", {"sql": "SELECT body FROM notes WHERE body = 'from python'"})
        assert "from python" in text_of(rows), text_of(rows)

    await session_with(provider(mcp_url, storage, browser, metadata_url), work)
    assert storage.client.client_id == metadata_url, storage.client.client_id
    assert "Python SDK e2e (metadata document)" in browser.consent_pages[0]


async def main() -> None:
    global passed, failed
    mcp_url, cimd_port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    metadata_url = serve_metadata_document(cimd_port, cert, key)
    for name, case in [
        ("reader (dynamic registration)", reader(mcp_url)),
        ("writer: refresh, revoke", writer_with_refresh_and_revoke(mcp_url)),
        ("writer (client ID metadata document)", writer_by_metadata_document(mcp_url, metadata_url)),
    ]:
        started = time.monotonic()
        try:
            await case
            passed += 1
            print(f"ok   {name} ({time.monotonic() - started:.1f}s)")
        except Exception as error:  # noqa: BLE001 - report every failure
            failed += 1
            causes = getattr(error, "exceptions", None) or [error]
            print(f"FAIL {name}: " + "; ".join(f"{type(c).__name__}: {c!r}" for c in causes))
    print(f"python oauth e2e: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    asyncio.run(main())
