# Sourced by the test steps: starts the built everything_server over Streamable HTTP on a
# free port, sets $url to its endpoint and $server_pid, and stops it when the script exits.
# Needs $bin (the binary) and $server_log (a file for its standard error).
"$bin" --transport http --bind 127.0.0.1:0 2>"$server_log" &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true' EXIT
url=
for _ in $(seq 1 100); do
    url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$server_log" | head -1)
    [ -n "$url" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$url" ]; then
    cat "$server_log" >&2
    echo "everything_server did not start" >&2
    exit 1
fi
