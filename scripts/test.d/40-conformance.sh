#!/usr/bin/env bash
# The official MCP conformance suite against everything_server over Streamable HTTP.
exec "$(dirname "$0")/../conformance.sh"
