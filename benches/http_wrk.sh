#!/usr/bin/env bash
# Drives the HTTP hello example with wrk (-t1 -c100 -d10s by default) and
# fails on any socket error or non-2xx answer.
#
#   benches/http_wrk.sh HTTP_HELLO_BINARY [duration]
set -euo pipefail
bin=${1:?usage: http_wrk.sh HTTP_HELLO_BINARY [duration]}
duration=${2:-10s}
port=$((20000 + RANDOM % 20000))
"$bin" "$port" >/dev/null &
srv=$!
trap 'kill "$srv" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
out=$(wrk -t1 -c100 -d"$duration" "http://127.0.0.1:$port/")
echo "$out"
kill -INT "$srv"
wait "$srv"
trap - EXIT
if grep -qE "Socket errors|Non-2xx" <<<"$out"; then
    echo "wrk saw errors" >&2
    exit 1
fi
grep -q "Requests/sec" <<<"$out"
