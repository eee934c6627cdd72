// tests/e2e/budgets.test.mjs - budgets end to end: a cap reached and the exact refusal, the
// soft warning header and webhook, 64 concurrent calls against a nearly spent budget, a
// workflow loop of streams stopped by its run cap, a restart that keeps the spend, a
// spend-rate cap, the Anthropic dialect, and the CLI and admin API.
//
// Prices (tests/data/budget_test_card.csv): budget-model and budget-claude cost $10 per
// million input tokens (10,000 nano-dollars a token) and $2,000 per million output tokens
// (2,000,000 nano-dollars a token). The mock answers chat with 17 input and 9 output
// tokens: 17 x 10,000 + 9 x 2,000,000 = 18,170,000 nano-dollars a call. The estimate that
// admission reserves is request_bytes x 10,000 (one token per byte, an upper bound) +
// max_tokens x 2,000,000.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startMock } from '../mock/mock-provider.mjs';
import { startGateway, ledgerRow, ledgerRows, waitForRows, settleLedger, BIN } from './lib/harness.mjs';

const CARD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../data/budget_test_card.csv');
const CALL = 18170000; // nano-dollars, see above
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Exact decimal USD of a nano-dollar integer, as the gateway prints it.
function usd(n) {
  const whole = Math.trunc(n / 1e9), frac = String(n % 1e9).padStart(9, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : `${whole}`;
}
const estimate = (row, maxTokens) => row.request_bytes * 10000 + maxTokens * 2000000;
function monthEnd() {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)).toISOString();
}

function cli(gw, ...args) {
  settleLedger(gw.ledgerPath);
  return execFileSync(BIN, ['budgets', ...args, '--ledger', gw.ledgerPath], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

async function startReceiver(t) {
  const events = [];
  let fails = 1; // the first delivery gets a 503: the sender must retry
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      if (fails-- > 0) { res.writeHead(503); return res.end(); }
      events.push({ contentType: req.headers['content-type'], body: JSON.parse(raw) });
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => server.close(r)));
  return { url: `http://127.0.0.1:${server.address().port}/hook`, events };
}

async function until(cond, what, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('a team spends up to its cap: warning header and webhook on the way, then the exact 429', async (t) => {
  const mock = await startMock();
  t.after(() => mock.close());
  const hook = await startReceiver(t);
  const gw = await startGateway(t, { mockUrl: mock.url, args: ['--pricing', CARD], config: `budgets:\n  webhooks: [${hook.url}]\n` });
  // set from the CLI while the gateway runs: in force within a second
  const id = cli(gw, 'set', '--scope', 'team:payments', '--period', 'month', '--limit', '0.05', '--soft', '50').trim();
  assert.match(id, /^bg_[0-9a-f]{16}$/);
  await sleep(1500);
  const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0, defaultHeaders: { 'x-team': 'payments' } });
  const ask = () => openai.chat.completions.create({ model: 'budget-model', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).withResponse();

  // call 1: reserves its estimate, settles at 18,170,000; 50,000,000 - 18,170,000 left
  const r1 = await ask();
  assert.equal(r1.response.headers.get('x-tollgate-budget-remaining-usd'), '0.03183');
  assert.equal(r1.response.headers.get('x-tollgate-budget-warning'), null);
  const row1 = ledgerRow(gw.ledgerPath, r1.response.headers.get('x-tollgate-call-id'));
  assert.equal(row1.cost_nanos, CALL);
  assert.equal(row1.budget_charge_nanos, CALL);
  assert.equal(row1.budget_scope, 'team:payments/month');
  assert.equal(row1.budget_decision, 'allowed');
  // call 2: 36,340,000 spent = 72% of the limit, past the 50% soft threshold
  const r2 = await ask();
  assert.equal(r2.response.headers.get('x-tollgate-budget-remaining-usd'), '0.01366');
  assert.equal(r2.response.headers.get('x-tollgate-budget-warning'), 'team:payments/month 72% of 0.05 USD');
  const row2 = ledgerRow(gw.ledgerPath, r2.response.headers.get('x-tollgate-call-id'));
  assert.equal(row2.budget_decision, 'warning');
  // call 3 would reserve ~21,000,000 on top of 36,340,000 spent: refused before the provider
  const before = mock.requests.filter((r) => r.path === '/v1/chat/completions').length;
  const err = await ask().catch((e) => e);
  assert.equal(err.status, 429);
  assert.equal(mock.requests.filter((r) => r.path === '/v1/chat/completions').length, before);
  const callId = err.headers.get('x-tollgate-call-id');
  const row3 = ledgerRow(gw.ledgerPath, callId);
  const est = estimate(row3, 10);
  // retry-after: the seconds until the month resets
  const expectRa = Math.ceil((Date.parse(monthEnd()) - Date.parse(row3.started_at)) / 1000);
  assert.ok(Math.abs(Number(err.headers.get('retry-after')) - expectRa) <= 1, `retry-after ${err.headers.get('retry-after')} vs ${expectRa}`);
  assert.deepEqual(err.error, {
    message: `budget team:payments/month exceeded: limit $0.05, spent $0.03634, reserved $0 by calls in flight; this call may cost up to $${usd(est)}; resets ${monthEnd()}`,
    type: 'rate_limit_error', code: 'budget_exceeded', param: null,
  });
  assert.deepEqual({ outcome: row3.outcome, status_code: row3.status_code, error_type: row3.error_type, budget_scope: row3.budget_scope, budget_decision: row3.budget_decision, attempt: row3.attempt, cost_nanos: row3.cost_nanos, budget_charge_nanos: row3.budget_charge_nanos },
    { outcome: 'refused', status_code: 429, error_type: 'budget_exceeded', budget_scope: 'team:payments/month', budget_decision: 'blocked', attempt: 0, cost_nanos: 0, budget_charge_nanos: null });

  // the raw body carries the tollgate details
  const rawBody = '{"model":"budget-model","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}';
  const raw = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk', 'x-team': 'payments' }, body: rawBody });
  assert.equal(raw.status, 429);
  const j = await raw.json();
  const e2 = Buffer.byteLength(rawBody) * 10000 + 10 * 2000000;
  assert.deepEqual(j.tollgate, {
    call_id: raw.headers.get('x-tollgate-call-id'), error: 'budget_exceeded', estimate_usd: usd(e2), retry_after_s: Number(raw.headers.get('retry-after')),
    budget: { id, scope: 'team:payments', value: 'payments', period: 'month', limit_usd: '0.05', spent_usd: '0.03634', reserved_usd: '0', remaining_usd: '0.01366', soft_pct: 50, action: 'block', source: 'cli', reset_at: monthEnd() },
  });

  // the webhook: the warning (after one 503 and a retry), then the first refusal
  await until(() => hook.events.length >= 2, 'two webhook events');
  assert.equal(hook.events[0].contentType, 'application/json');
  assert.deepEqual(hook.events.map((e) => [e.body.type, e.body.budget.spent_usd]), [['budget.warning', '0.03634'], ['budget.exceeded', '0.03634']]);
  assert.equal(hook.events[0].body.call_id, row2.call_id);
  assert.equal(hook.events[1].body.call_id, callId);
  assert.match(gw.stderr(), /event=webhook_failed url=\S+ attempt=1 status=503/);

  // budgets list: the running gateway's live counters (written once a second)
  await sleep(1200);
  const list = JSON.parse(cli(gw, 'list', '--format', 'json'));
  assert.deepEqual(list.map((b) => [b.id, b.scope, b.spent_usd, b.reserved_usd, b.remaining_usd]), [[id, 'team:payments', '0.03634', '0', '0.01366']]);
  // raising the limit from the CLI lets the next call through within a second
  cli(gw, 'set', '--scope', 'team:payments', '--period', 'month', '--limit', '1', '--soft', '50');
  await sleep(1500);
  const r4 = await ask();
  assert.equal(r4.response.headers.get('x-tollgate-budget-remaining-usd'), usd(1e9 - 3 * CALL));
});

test('64 concurrent calls against a nearly spent budget never overshoot it', async (t) => {
  const mock = await startMock();
  t.after(() => mock.close());
  for (let i = 0; i < 64; i++) mock.enqueue({ delayMs: 150 });
  // 100,000,000 nano-dollars: each call reserves ~21,000,000 (an upper bound of its
  // 18,170,000 cost), so at most four are in flight at once and the spend can never pass
  const gw = await startGateway(t, { mockUrl: mock.url, workers: 2, args: ['--pricing', CARD], config: 'budgets:\n  limits:\n    - {scope: "team:conc", period: day, limit_usd: "0.1"}\n' });
  const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0, defaultHeaders: { 'x-team': 'conc' } });
  const results = await Promise.allSettled(Array.from({ length: 64 }, () =>
    openai.chat.completions.create({ model: 'budget-model', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })));
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  const refused = results.filter((r) => r.status === 'rejected' && r.reason.status === 429).length;
  assert.equal(ok + refused, 64);
  const rows = await waitForRows(gw.ledgerPath, 64, "team = 'conc'");
  const spent = rows.filter((r) => r.outcome === 'ok').reduce((s, r) => s + r.cost_nanos, 0);
  assert.equal(rows.filter((r) => r.outcome === 'ok').length, ok);
  assert.equal(spent, ok * CALL);
  assert.ok(spent <= 100000000, `spent ${spent} > the limit`); // zero overshoot: the estimate is an upper bound
  assert.ok(ok >= 4, `only ${ok} calls got through`); // 5 x 18,170,000 fits; the 6th never can
  assert.ok(ok <= 5);
  assert.equal(rows.filter((r) => r.outcome === 'refused' && r.budget_decision === 'blocked' && r.budget_scope === 'team:conc/day').length, refused);
});

test('a workflow loop of streaming calls is stopped by its run cap, and a restart keeps the spend', async (t) => {
  const mock = await startMock();
  t.after(() => mock.close());
  const config = 'budgets:\n  limits:\n    - {scope: "workflow:*", period: total, limit_usd: "0.05"}\n';
  const gw = await startGateway(null, { mockUrl: mock.url, args: ['--pricing', CARD], config, keepDir: true });
  t.after(() => rmSync(gw.dir, { recursive: true, force: true }));
  const client = (run) => new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0, defaultHeaders: { 'x-workflow-id': run } });
  const loop = async (c) => {
    for (let i = 1; i <= 10; i++) {
      try {
        const stream = await c.chat.completions.create({ model: 'budget-model', stream: true, max_tokens: 10, messages: [{ role: 'user', content: `step ${i}` }] });
        for await (const _ of stream);
      } catch (e) {
        return { stoppedAt: i, err: e };
      }
    }
    return { stoppedAt: null };
  };
  // two streams (36,340,000) fit in 50,000,000; the third's reservation does not
  const run1 = await loop(client('run-1'));
  assert.equal(run1.stoppedAt, 3);
  assert.equal(run1.err.status, 429);
  assert.equal(run1.err.error.code, 'budget_exceeded');
  assert.match(run1.err.error.message, /^budget workflow:run-1\/total exceeded: limit \$0\.05, spent \$0\.03634, reserved \$0 by calls in flight; this call may cost up to \$0\.0\d+; it does not reset$/);
  assert.equal(run1.err.headers.get('retry-after'), null); // a total cap never resets
  const rows = ledgerRows(gw.ledgerPath, "workflow_id = 'run-1'");
  assert.deepEqual(rows.map((r) => [r.outcome, r.is_stream, r.cost_nanos, r.budget_decision]), [['ok', 1, CALL, 'allowed'], ['ok', 1, CALL, 'allowed'], ['refused', 1, 0, 'blocked']]);
  // every run has its own cap
  const run2 = await loop(client('run-2'));
  assert.equal(run2.stoppedAt, 3);

  // restart on the same ledger: the spend is rebuilt, the cap still holds
  await gw.stop();
  const gw2 = await startGateway(t, { mockUrl: mock.url, args: ['--pricing', CARD], config, ledgerPath: gw.ledgerPath });
  const c2 = new OpenAI({ baseURL: `${gw2.url}/v1`, apiKey: 'sk', maxRetries: 0, defaultHeaders: { 'x-workflow-id': 'run-1' } });
  const err = await c2.chat.completions.create({ model: 'budget-model', stream: true, max_tokens: 10, messages: [{ role: 'user', content: 'again' }] }).catch((e) => e);
  assert.equal(err.status, 429);
  assert.match(err.error.message, /spent \$0\.03634,/);
  assert.match(gw2.stderr(), /event=budgets_loaded budgets=1 rebuilt=1/);
  await sleep(1200); // the live snapshot is written once a second
  const list = JSON.parse(execFileSync(BIN, ['budgets', 'list', '--format', 'json', '--ledger', gw.ledgerPath, '--config', path.join(gw.dir, 'tollgate.yaml')], { encoding: 'utf8' }));
  assert.deepEqual(list.map((b) => [b.id, b.value, b.spent_usd, b.source]), [['config:1', 'run-1', '0.03634', 'config'], ['config:1', 'run-2', '0.03634', 'config']]);
});

test('a spend-rate cap per feature: the second call in the same minute is refused with retry-after', async (t) => {
  const mock = await startMock();
  t.after(() => mock.close());
  const gw = await startGateway(t, { mockUrl: mock.url, args: ['--pricing', CARD], config: 'budgets:\n  limits:\n    - {scope: "feature:*", period: minute, limit_usd: "0.03"}\n' });
  const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0, defaultHeaders: { 'x-feature-id': 'summarize' } });
  const ask = () => openai.chat.completions.create({ model: 'budget-model', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
  await ask(); // 18,170,000 in the window
  const err = await ask().catch((e) => e); // 18,170,000 + ~21,000,000 > 30,000,000
  assert.equal(err.status, 429);
  assert.equal(err.error.code, 'spend_rate_exceeded');
  const ra = Number(err.headers.get('retry-after'));
  assert.ok(ra >= 59 && ra <= 60, `retry-after ${ra}`); // the first call leaves the window a minute after it settled
  assert.match(err.error.message, new RegExp(`^spend-rate cap feature:summarize/minute exceeded: limit \\$0\\.03 per minute, spent \\$0\\.01817, reserved \\$0 by calls in flight; this call may cost up to \\$0\\.0\\d+; retry in ${ra} s$`));
  // another feature has its own window
  const other = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0, defaultHeaders: { 'x-feature-id': 'search' } });
  await other.chat.completions.create({ model: 'budget-model', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
});

test('Anthropic dialect, the admin API, and an unpriced model under a budget', async (t) => {
  const mock = await startMock();
  t.after(() => mock.close());
  const gw = await startGateway(t, { mockUrl: mock.url, args: ['--pricing', CARD], env: { TOLLGATE_MASTER_KEY: 'master-1' } });
  const admin = (method, p, body) => fetch(`${gw.url}${p}`, { method, headers: { authorization: 'Bearer master-1', 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  const bad = await admin('POST', '/admin/budgets', { scope: 'squad:x', period: 'day', limit_usd: '1' });
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error.message, /^budget scope 'squad:x' is not SCOPE:VALUE/);
  const created = await admin('POST', '/admin/budgets', { scope: 'tenant:acme', period: 'day', limit_usd: '0.03', soft_pct: 80, action: 'block' });
  assert.equal(created.status, 201);
  const { id } = await created.json();
  await sleep(1500);
  const anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'sk-ant', maxRetries: 0, defaultHeaders: { 'x-tenant-id': 'acme' } });
  // 25 x 10,000 + 12 x 2,000,000 = 24,250,000 of 30,000,000: 80.8% (a warning)
  const { response } = await anthropic.messages.create({ model: 'budget-claude', max_tokens: 12, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  assert.equal(response.headers.get('x-tollgate-budget-remaining-usd'), '0.00575');
  assert.equal(response.headers.get('x-tollgate-budget-warning'), 'tenant:acme/day 80% of 0.03 USD');
  const err = await anthropic.messages.create({ model: 'budget-claude', max_tokens: 12, messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
  assert.equal(err.status, 429);
  assert.equal(err.error.type, 'error');
  assert.equal(err.error.error.type, 'rate_limit_error');
  assert.match(err.error.error.message, /^budget tenant:acme\/day exceeded: limit \$0\.03, spent \$0\.02425,/);
  assert.equal(err.error.tollgate.budget.id, id);
  const live = await (await admin('GET', '/admin/budgets')).json();
  assert.deepEqual(live.map((b) => [b.id, b.value, b.spent_usd, b.remaining_usd]), [[id, 'acme', '0.02425', '0.00575']]);
  // a model no rate card prices, no pricing.fallback: the budget cannot be counted, so the call is refused
  const un = await anthropic.messages.create({ model: 'mystery-claude', max_tokens: 12, messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
  assert.equal(un.status, 403);
  assert.equal(un.error.error.message, "model 'mystery-claude' has no price in the rate card and pricing.fallback is not set, so budget tenant:acme/day cannot be enforced; add a rate-card row or pricing.fallback");
  assert.equal((await admin('DELETE', `/admin/budgets/${id}`)).status, 200);
  assert.equal((await admin('DELETE', `/admin/budgets/${id}`)).status, 404);
  await sleep(1500);
  await anthropic.messages.create({ model: 'budget-claude', max_tokens: 12, messages: [{ role: 'user', content: 'hi' }] }); // no budget any more
});

test('an unpriced model with pricing.fallback is charged at the fallback prices and never bypasses the budget', async (t) => {
  const mock = await startMock();
  t.after(() => mock.close());
  // fallback $1,000 / $2,000 per million: 17 x 1,000,000 + 9 x 2,000,000 = 35,000,000 a call
  const gw = await startGateway(t, { mockUrl: mock.url, args: ['--pricing', CARD], config: 'pricing:\n  fallback: {input_per_mtok: "1000", output_per_mtok: "2000"}\nbudgets:\n  limits:\n    - {scope: "team:lab", period: hour, limit_usd: "0.5"}\n' });
  const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0, defaultHeaders: { 'x-team': 'lab' } });
  const { response } = await openai.chat.completions.create({ model: 'mystery-model', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  assert.equal(response.headers.get('x-tollgate-cost-usd'), 'unpriced');
  assert.equal(response.headers.get('x-tollgate-budget-remaining-usd'), '0.465');
  const row = ledgerRow(gw.ledgerPath, response.headers.get('x-tollgate-call-id'));
  assert.deepEqual([row.cost_nanos, row.price_ref, row.budget_charge_nanos], [null, null, 35000000]);
});
