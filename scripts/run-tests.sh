#!/usr/bin/env bash
# Runs every suite against one build directory and prints one closing line
# "tests: N passed, N failed"; exits non-zero when anything failed.
set -uo pipefail
build=${1:?usage: run-tests.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}
passed=0 failed=0 status=0
log=$(mktemp -d)

echo "== unit tests (ctest, $build)"
(cd "$build" && ctest --output-on-failure -j "$(nproc)" --timeout 300) | tee "$log/ctest.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log/ctest.txt" | tail -1)
if [ -n "$line" ]; then
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
  nf=$(sed -E 's/.*passed, ([0-9]+) tests failed.*/\1/' <<<"$line")
  passed=$((passed + total - nf)); failed=$((failed + nf))
else
  status=1
fi

export TOLLGATE_BIN="$build/tollgate"
# e2e NAME PATTERNS...: one node --test run over tests/e2e/PATTERNS, counted. Flags that Debian 12's Node 18 knows;
# coreutils bounds the whole run instead.
e2e() {
  local name=$1; shift
  # shellcheck disable=SC2048,SC2086 # the file patterns expand inside tests/e2e
  (cd "$root/tests/e2e" && timeout 1200 node --test --test-reporter=spec $*) 2>&1 | tee "$log/$name.txt"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  local ep ef
  ep=$(grep -E '^. pass [0-9]+' "$log/$name.txt" | tail -1 | grep -oE '[0-9]+$')
  ef=$(grep -E '^. fail [0-9]+' "$log/$name.txt" | tail -1 | grep -oE '[0-9]+$')
  [ -n "$ep" ] || status=1
  passed=$((passed + ${ep:-0})); failed=$((failed + ${ef:-0}))
}
echo "== end-to-end tests (node --test)"
e2e all ./*.test.mjs
# plain-HTTP upstreams (the mock) use the own HTTP/1.1 client; the suites that exercise
# the upstream path run again through libcurl, which carries TLS and proxied providers
echo "== end-to-end tests again, upstream client libcurl"
TOLLGATE_UPSTREAM_CLIENT=libcurl e2e libcurl ./core_openai.test.mjs ./core_anthropic.test.mjs ./errors.test.mjs

[ "$failed" -eq 0 ] || status=1
if [ "$status" -eq 0 ]; then
  rm -rf "$log"
else # kept: the output of every suite, for the failure a scrolled-away terminal lost
  echo "logs of this run: $log"
fi
echo "tests: $passed passed, $failed failed"
exit $status
