#!/usr/bin/env bash
# Counts the echo server's syscalls per echoed message under a 100-connection
# ping-pong load of 1 KiB messages (strace -c -f), and fails above the
# budget: 2.05 read+write calls per message and no epoll_ctl per message.
#
#   benches/syscall_budget.sh BUILD_DIR   (BUILD_DIR holds echo_server and echo_load)
set -euo pipefail
bin=${1:?usage: syscall_budget.sh BUILD_DIR}
messages=${MESSAGES:-50000}
port=${PORT:-$((20000 + RANDOM % 20000))}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

strace -c -f -o "$out" "$bin/echo_server" "$port" >/dev/null &
tracer=$!
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
"$bin/echo_load" "$port" 100 1024 120 "$messages"
kill -INT "$(pgrep -P "$tracer" echo_server)"
wait "$tracer" || true

count() { awk -v s="$1" '$NF == s { n = $4 } END { print n + 0 }' "$out"; }
reads=$(( $(count read) + $(count recvfrom) + $(count recvmsg) ))
writes=$(( $(count write) + $(count writev) + $(count sendmsg) + $(count sendto) ))
ctl=$(count epoll_ctl)
per=$(awk -v r="$reads" -v w="$writes" -v m="$messages" 'BEGIN { printf "%.3f", (r + w) / m }')
echo "messages=$messages reads=$reads writes=$writes epoll_ctl=$ctl read+write per message=$per"
awk -v p="$per" 'BEGIN { exit !(p <= 2.05) }' || { echo "over budget: $per > 2.05" >&2; exit 1; }
[ "$ctl" -lt $((messages / 100)) ] || { echo "epoll_ctl grows with messages: $ctl" >&2; exit 1; }
