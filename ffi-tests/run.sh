#!/usr/bin/env bash
# Runs the C test binaries (built by `make ffi-tests`; this script builds
# nothing), streams their PASS/FAIL lines and ends with `N passed, N failed`.
#
#   ffi-tests/run.sh                 every build/ffi-tests/test_* binary
#   ffi-tests/run.sh BINARY...       just those
#   VALGRIND=1 ffi-tests/run.sh      each binary (and its forked test children)
#                                    under valgrind memcheck
#   ASAN=1 ffi-tests/run.sh BINARY...
#                                    binaries built with -fsanitize=address,
#                                    undefined (`make test-asan`): sets the
#                                    sanitizers' options; a report fails the
#                                    test it happened in
#
# Exits non-zero when a test failed or a binary died outside any test.
set -uo pipefail

cd "$(dirname "$0")/.."
bin_dir=${EDDY_TEST_BIN_DIR:-build/ffi-tests}

if [ $# -gt 0 ]; then
    bins=("$@")
else
    bins=()
    for b in "$bin_dir"/test_*; do
        [ -f "$b" ] && [ -x "$b" ] && bins+=("$b")
    done
fi
if [ ${#bins[@]} -eq 0 ]; then
    echo "run.sh: no test binaries in $bin_dir (build them with 'make ffi-tests')" >&2
    exit 1
fi

runner=()
if [ "${VALGRIND:-0}" = 1 ]; then
    # valgrind follows fork(), so every test child is checked too; an error in
    # one makes that child exit 1 and its test FAIL.
    runner=(valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite
            --show-leak-kinds=definite
            --quiet --trace-children=no)
    if [ -f ffi-tests/valgrind.supp ]; then
        runner+=(--suppressions=ffi-tests/valgrind.supp)
    fi
    export EDDY_TEST_TIMEOUT=${EDDY_TEST_TIMEOUT:-120}
fi

if [ "${ASAN:-0}" = 1 ]; then
    . ffi-tests/asan.env
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT

passed=0
failed=0
for b in "${bins[@]}"; do
    name=$(basename "$b")
    # Only the binary's stdout carries result lines; stderr (check failures,
    # valgrind reports) streams through untouched.
    if [ "${VALGRIND:-0}" = 1 ]; then
        # --quiet does not silence valgrind's "unhandled syscall" notices
        # (5 lines each time eddy probes pidfd_open, which valgrind 3.19
        # lacks; eddy then falls back to SIGCHLD). They share the "--PID--"
        # prefix of its other notices; its error reports say "==PID==" and
        # pass.
        "${runner[@]}" "$b" 2> >(grep -v -E '^--[0-9]+-- ' >&2) | tee "$out"
    else
        "${runner[@]}" "$b" | tee "$out"
    fi
    status=${PIPESTATUS[0]}
    p=$(grep -c '^PASS ' "$out")
    f=$(grep -c '^FAIL ' "$out")
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$status" -ne 0 ] && { [ "$f" -eq 0 ] || [ "$status" -ge 128 ]; }; then
        if [ "$status" -ge 128 ]; then
            why="killed by signal $((status - 128))"
        else
            why="exit status $status"
        fi
        echo "FAIL $name (binary died outside any test: $why)"
        failed=$((failed + 1))
    elif [ "$status" -eq 0 ] && [ "$f" -ne 0 ]; then
        echo "FAIL $name (reported failures but exited 0)"
    elif [ "$status" -eq 0 ] && [ "$p" -eq 0 ]; then
        echo "note: $name ran no tests" >&2
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
