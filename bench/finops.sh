#!/usr/bin/env bash
# bench/finops.sh - times `tollgate report` and `tollgate export focus` over a month of a
# one-million-row ledger. Not part of `make test` (timings are never asserted in tests).
#
# The ledger is created by the binary itself (`tollgate budgets list` applies every
# migration), then filled by one INSERT ... SELECT over a recursive CTE in a single
# transaction: November 2026, rows spread evenly over the month, 2 providers and 6 models,
# 400 workflows whose owner (tenant, team, cost center, feature, actor, service) follows
# the workflow, 10% unattributed, 2% unpriced (NULL cost). Usage:
#   bench/finops.sh path/to/tollgate [ROWS] [RUNS]
set -euo pipefail
bin=$(readlink -f "${1:?usage: bench/finops.sh TOLLGATE_BIN [ROWS] [RUNS]}")
rows=${2:-1000000}
runs=${3:-3}
command -v sqlite3 >/dev/null || { echo "bench/finops.sh: needs the sqlite3 shell" >&2; exit 1; }
work=$(mktemp -d /tmp/tgfinops.XXXXXX)
trap 'rm -rf "$work"' EXIT
db=$work/ledger.db

"$bin" budgets list --ledger "$db" >/dev/null 2>&1
# the rate card the rows' price_ref names (bench.csv:2 .. :7 for model-0 .. model-5), the
# same prices the costs below are computed with, so the export finds every unit price
{
  echo "provider,model,effective_from,currency,input_per_mtok,cached_input_per_mtok,cache_write_5m_per_mtok,output_per_mtok"
  for m in 0 1 2 3 4 5; do
    p=$([ $m -lt 4 ] && echo openai || echo anthropic)
    awk -v p="$p" -v m="$m" 'BEGIN { k = m + 1; printf "%s,model-%d-2026,2026-01-01,USD,%.3f,%.3f,%.3f,%.3f\n", p, m, 2.5 * k, 0.25 * k, 3.125 * k, 10 * k }'
  done
} >"$work/bench.csv"
t0=$(date +%s.%N)
sqlite3 "$db" >/dev/null <<SQL
PRAGMA journal_mode=WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $rows - 1),
g AS (SELECT i,
        1793491200000 + i * (2592000000 / $rows) AS ms,   -- 2026-11-01 + i/rows of 30 days
        (i * 7) % 6 AS m, (i * 13) % 400 AS w,
        i % 10 = 0 AS anon, i % 50 = 7 AS unpriced,
        500 + i % 3000 AS inp, CASE WHEN i % 4 = 0 THEN (500 + i % 3000) / 2 ELSE 0 END AS cached,
        CASE WHEN i % 9 = 0 THEN 1024 ELSE 0 END AS w5m,
        50 + i % 700 AS outp FROM n)
INSERT INTO calls (call_id, request_id, started_at, ended_at, day, duration_ms, provider,
  operation, endpoint, request_model, response_model, status_code, outcome, attempt,
  input_tokens, cached_input_tokens, cache_write_5m_tokens, output_tokens,
  cost_nanos, input_cost_nanos, cached_input_cost_nanos, cache_write_cost_nanos,
  output_cost_nanos, other_cost_nanos, list_cost_nanos, cache_savings_nanos, price_ref,
  tenant_id, team, cost_center, feature_id, workflow_id, actor_id, actor_type, environment,
  service, tags)
SELECT printf('c%08d', i), printf('r%08d', i / 3),
  strftime('%Y-%m-%dT%H:%M:%fZ', ms / 1000.0, 'unixepoch'),
  strftime('%Y-%m-%dT%H:%M:%fZ', (ms + 850) / 1000.0, 'unixepoch'),
  strftime('%Y-%m-%d', ms / 1000, 'unixepoch'), 850,
  CASE WHEN m < 4 THEN 'openai' ELSE 'anthropic' END, 'chat',
  CASE WHEN m < 4 THEN '/v1/chat/completions' ELSE '/v1/messages' END,
  CASE WHEN unpriced THEN 'mystery-1' ELSE 'model-' || m END,
  CASE WHEN unpriced THEN 'mystery-1' ELSE 'model-' || m || '-2026' END, 200, 'ok', 1,
  inp, cached, w5m, outp,
  CASE WHEN unpriced THEN NULL ELSE (inp - cached - w5m) * (m + 1) * 500 / 200 + cached * (m + 1) * 50 / 200 + w5m * (m + 1) * 625 / 200 + outp * (m + 1) * 2000 / 200 END,
  CASE WHEN unpriced THEN NULL ELSE (inp - cached - w5m) * (m + 1) * 500 / 200 END,
  CASE WHEN unpriced THEN NULL ELSE cached * (m + 1) * 50 / 200 END,
  CASE WHEN unpriced THEN NULL ELSE w5m * (m + 1) * 625 / 200 END,
  CASE WHEN unpriced THEN NULL ELSE outp * (m + 1) * 2000 / 200 END,
  CASE WHEN unpriced THEN NULL ELSE 0 END,
  CASE WHEN unpriced THEN NULL ELSE (inp - cached - w5m) * (m + 1) * 500 / 200 + cached * (m + 1) * 50 / 200 + w5m * (m + 1) * 625 / 200 + outp * (m + 1) * 2000 / 200 END,
  CASE WHEN unpriced THEN NULL ELSE cached * (m + 1) * 450 / 200 END,
  CASE WHEN unpriced THEN NULL ELSE 'bench.csv:' || (m + 2) || ':exact' END,
  CASE WHEN anon THEN NULL ELSE 'tenant-' || (w % 20) END,
  CASE WHEN anon THEN NULL ELSE 'team-' || (w % 8) END,
  CASE WHEN anon THEN NULL ELSE 'cc-' || (w % 8 / 2) END,
  CASE WHEN anon THEN NULL ELSE 'feature-' || (w % 10) END,
  CASE WHEN anon THEN NULL ELSE 'run-' || w END,
  CASE WHEN anon THEN NULL ELSE 'actor-' || (w % 50) END,
  CASE WHEN anon THEN NULL WHEN w % 3 = 0 THEN 'agent' ELSE 'human' END,
  CASE WHEN anon THEN NULL ELSE 'prod' END,
  CASE WHEN anon THEN NULL ELSE 'svc-' || (w % 5) END,
  CASE WHEN anon THEN NULL ELSE '{"squad":"s' || (w % 4) || '"}' END
FROM g;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
t1=$(date +%s.%N)
echo "ledger: $rows rows in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s, $(du -m "$db" | cut -f1) MB"

# best of $runs wall-clock seconds of a command, its output to a file
best() {
  local out=$1; shift
  local b=""
  for _ in $(seq "$runs"); do
    local s e
    s=$(date +%s.%N)
    "$@" >"$out" 2>"$out.err"
    e=$(date +%s.%N)
    b=$(awk -v a="$s" -v c="$e" -v b="$b" 'BEGIN{t=c-a; if (b=="" || t<b) b=t; printf "%.3f", b}')
  done
  echo "$b"
}

range=(--from 2026-11-01 --to 2026-11-30 --ledger "$db")
r=$(best "$work/report.txt" "$bin" report --by team,model "${range[@]}")
echo "report --by team,model: ${r} s ($(($(wc -l <"$work/report.txt") - 2)) groups)"
card=(--pricing "$work/bench.csv")
f=$(best "$work/focus.csv" "$bin" export focus --granularity day "${range[@]}" "${card[@]}")
echo "export focus --granularity day: ${f} s ($(($(wc -l <"$work/focus.csv") - 1)) rows, $(du -m "$work/focus.csv" | cut -f1) MB)"
echo "  $(cat "$work/focus.csv.err")"
echo "  rows with a ListUnitPrice: $(awk -F, 'NR > 1 && $21 != ""' "$work/focus.csv" | wc -l)"
if command -v node >/dev/null; then # the test suite's FOCUS validator, on the day export
  echo "  $(node "$(dirname "$0")/../tests/e2e/lib/focus-validator.mjs" "$work/focus.csv" 2>&1 | head -5)"
fi
h=$(best "$work/focus_h.csv" "$bin" export focus --granularity hour "${range[@]}" "${card[@]}")
echo "export focus --granularity hour: ${h} s ($(($(wc -l <"$work/focus_h.csv") - 1)) rows)"
c=$(best "$work/focus_c.csv" "$bin" export focus --granularity call "${range[@]}" "${card[@]}")
echo "export focus --granularity call: ${c} s ($(($(wc -l <"$work/focus_c.csv") - 1)) rows, $(du -m "$work/focus_c.csv" | cut -f1) MB)"
# the three totals must agree with the ledger to the nano-dollar
sqlite3 "$db" "SELECT 'ledger total: ' || sum(cost_nanos) || ' nanos, ' || sum(cost_nanos IS NULL) || ' unpriced calls' FROM calls WHERE day BETWEEN '2026-11-01' AND '2026-11-30'"
