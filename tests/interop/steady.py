"""A well-behaved client — the official MCP Python SDK — that keeps calling a tool of the
built everything_server over Streamable HTTP while a test attacks the server, and reports
how it was served, phase by phase.

Usage:
    steady.py URL

Two clients call `test_simple_text` in a loop: one in the SDK's legacy mode (an
initialize session) and one in its default mode (stateless 2026-07-28 requests). Each line
read from standard input names a new phase: the client then prints one JSON line for the
phase that ended and, to show that new sessions are still admitted, opens a fresh session
in each mode for one call. At end of input it prints the last phase and exits.

Each printed line: {"phase", "calls", "failures" (texts), "p50_ms", "p99_ms", "max_ms"}.
"""

import asyncio
import json
import sys
import time

from mcp import Client

EXPECTED = "This is a simple text response for testing."
CALL_TIMEOUT_S = 20


class Phase:
    def __init__(self, name: str) -> None:
        self.name = name
        self.samples: list[float] = []
        self.failures: list[str] = []

    def report(self) -> str:
        ordered = sorted(self.samples)

        def at(q: float) -> float:
            if not ordered:
                return 0.0
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

        return json.dumps({
            "phase": self.name,
            "calls": len(ordered),
            "failures": self.failures[:20],
            "p50_ms": at(0.50),
            "p99_ms": at(0.99),
            "max_ms": round(ordered[-1] * 1000, 2) if ordered else 0.0,
        })


async def one_call(client: Client, phase: Phase) -> None:
    start = time.perf_counter()
    try:
        result = await asyncio.wait_for(client.call_tool("test_simple_text", {}), CALL_TIMEOUT_S)
        text = result.content[0].text
        if text != EXPECTED:
            raise AssertionError(text)
        phase.samples.append(time.perf_counter() - start)
    except Exception as error:  # every failure is reported, none ends the run
        phase.failures.append(f"{type(error).__name__}: {str(error)[:200]}")


async def keep_calling(url: str, mode: str, state: dict, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            async with Client(url, mode=mode) as client:
                while not stop.is_set():
                    await one_call(client, state["phase"])
                    await asyncio.sleep(0.02)
        except Exception as error:  # a lost client is a failure; start another
            state["phase"].failures.append(f"{mode} client: {type(error).__name__}: {str(error)[:200]}")
            await asyncio.sleep(0.5)


async def fresh_session(url: str, mode: str, phase: Phase) -> None:
    try:
        async with asyncio.timeout(CALL_TIMEOUT_S):
            async with Client(url, mode=mode) as client:
                await one_call(client, phase)
    except Exception as error:
        phase.failures.append(f"fresh {mode} session: {type(error).__name__}: {str(error)[:200]}")


async def main(url: str) -> None:
    state = {"phase": Phase("start")}
    stop = asyncio.Event()
    loops = [asyncio.create_task(keep_calling(url, mode, state, stop)) for mode in ("legacy", "auto")]
    fresh: list[asyncio.Task] = []
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        # A fresh session of the phase ending counts in that phase.
        await asyncio.gather(*fresh)
        print(state["phase"].report(), flush=True)
        if not line:
            break
        state["phase"] = Phase(line.strip())
        fresh = [asyncio.create_task(fresh_session(url, mode, state["phase"])) for mode in ("legacy", "auto")]
    stop.set()
    await asyncio.gather(*loops, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
