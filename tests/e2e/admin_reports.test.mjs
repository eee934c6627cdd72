// tests/e2e/admin_reports.test.mjs - the spend report and the allocation table over the admin
// API: 401 without the master key, exact JSON with it, proportional allocation by key
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { startMock } from '../mock/mock-provider.mjs';
import { startGateway, waitForRows, pick, BIN } from './lib/harness.mjs';

const CARD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../data/pricing_test_card.csv');

let mock, gw, dir, day, keyId, rows;
const admin = (p, auth = 'Bearer master-7') => fetch(`${gw.url}${p}`, { headers: auth ? { authorization: auth } : {} });

const zero = { cached_input_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0, tool_call_output_tokens: 0, unpriced_calls: 0, cache_savings_usd: '0', tool_call_share: '0.0%' };

before(async () => {
  mock = await startMock();
  dir = mkdtempSync(path.join(tmpdir(), 'tg-admin-reports-'));
  const ledgerPath = path.join(dir, 'ledger.db');
  // the key exists before the gateway starts: no warm-up calls in the ledger
  const created = spawnSync(BIN, ['keys', 'create', '--ledger', ledgerPath, '--team', 'payments', '--cost-center', 'CC-100'], { encoding: 'utf8' });
  assert.equal(created.status, 0, created.stderr);
  gw = await startGateway(null, { mockUrl: mock.url, ledgerPath, args: ['--pricing', CARD], env: { TOLLGATE_MASTER_KEY: 'master-7', OPENAI_API_KEY: 'sk-held' } });
  const client = (feature) => new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: created.stdout.trim(), maxRetries: 0, defaultHeaders: feature ? { 'x-feature-id': feature } : {} });
  // gpt-4o-2024-08-06 at 2.00 / 8.00 per million: checkout 100 x 2000 + 25 x 8000 nanos = $0.0004,
  // search 200 x 2000 + 50 x 8000 = $0.0008, no feature 1 x 2000 = $0.000002
  mock.enqueue({ usage: { prompt_tokens: 100, completion_tokens: 25 } }, { usage: { prompt_tokens: 200, completion_tokens: 50 } }, { usage: { prompt_tokens: 1, completion_tokens: 0 } });
  await client('checkout').chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'a' }] });
  await client('search').chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'b' }] });
  await client(null).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'c' }] });
  rows = await waitForRows(ledgerPath, 3);
  day = rows[0].day;
  keyId = rows[0].key_id;
  assert.deepEqual(rows.map((r) => [r.feature_id, r.cost_nanos, r.key_id]), [['checkout', 400000, keyId], ['search', 800000, keyId], [null, 2000, keyId]]);
});
after(async () => {
  await gw?.close();
  await mock?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('report endpoints need the master key', async () => {
  for (const p of [`/admin/reports/spend?by=team`, `/admin/reports/allocation?day=${day}`, `/admin/reports/audit`]) {
    for (const auth of [null, 'Bearer wrong']) {
      const res = await admin(p, auth);
      assert.equal(res.status, 401);
      assert.equal((await res.json()).error.type, 'authentication_error');
    }
  }
});

test('GET /admin/reports/spend: the JSON of `tollgate report`, exact', async () => {
  const res = await admin(`/admin/reports/spend?by=${encodeURIComponent('feature,model')}&from=${day}&to=${day}`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  const body = await res.json();
  const m = 'gpt-4o-2024-08-06';
  assert.deepEqual(body, {
    from: day, to: day, by: ['feature_id', 'model'],
    rows: [
      { feature_id: 'search', model: m, calls: 1, input_tokens: 200, output_tokens: 50, cost_usd: '0.0008', ...zero },
      { feature_id: 'checkout', model: m, calls: 1, input_tokens: 100, output_tokens: 25, cost_usd: '0.0004', ...zero },
      { feature_id: null, model: m, calls: 1, input_tokens: 1, output_tokens: 0, cost_usd: '0.000002', ...zero },
    ],
    total: { calls: 3, input_tokens: 301, output_tokens: 75, cost_usd: '0.001202', ...zero },
  });
  // the CLI prints the same document
  const cli = spawnSync(BIN, ['report', '--by', 'feature,model', '--from', day, '--to', day, '--format', 'json', '--ledger', gw.ledgerPath], { encoding: 'utf8' });
  assert.deepEqual(JSON.parse(cli.stdout), body);
});

test('GET /admin/reports/spend with proportional allocation: the key\'s unattributed $0.000002 follows its features', async () => {
  const res = await admin(`/admin/reports/spend?by=feature&from=${day}&to=${day}&allocate_unattributed=proportional`);
  assert.equal(res.status, 200);
  // 2000 nanos by 400000 : 800000 -> 666.67 / 1333.33: floors 666 + 1333, the nano left goes to
  // the larger remainder (checkout: 8e8 mod 1.2e6 = 800000 against 400000)
  const none = { calls: 0, input_tokens: 0, output_tokens: 0 };
  assert.deepEqual(await res.json(), {
    from: day, to: day, by: ['feature_id'], allocate_unattributed: 'proportional',
    rows: [
      { feature_id: 'search', allocation_method: 'direct', calls: 1, input_tokens: 200, output_tokens: 50, cost_usd: '0.0008', ...zero },
      { feature_id: 'checkout', allocation_method: 'direct', calls: 1, input_tokens: 100, output_tokens: 25, cost_usd: '0.0004', ...zero },
      { feature_id: 'search', allocation_method: 'proportional', ...none, cost_usd: '0.000001333', ...zero },
      { feature_id: 'checkout', allocation_method: 'proportional', ...none, cost_usd: '0.000000667', ...zero },
      { feature_id: null, allocation_method: 'direct', calls: 1, input_tokens: 1, output_tokens: 0, cost_usd: '0', ...zero },
    ],
    total: { calls: 3, input_tokens: 301, output_tokens: 75, cost_usd: '0.001202', ...zero },
  });
});

test('GET /admin/reports/allocation: per call, direct and proportional', async () => {
  let res = await admin(`/admin/reports/allocation?day=${day}`);
  assert.equal(res.status, 200);
  let body = await res.json();
  assert.equal(body.day, day);
  assert.deepEqual(body.rows.map((r) => pick(r, ['call_id', 'feature_id', 'team', 'cost_center', 'input_tokens', 'cost_usd'])), [
    { call_id: rows[0].call_id, feature_id: 'checkout', team: 'payments', cost_center: 'CC-100', input_tokens: 100, cost_usd: '0.0004' },
    { call_id: rows[1].call_id, feature_id: 'search', team: 'payments', cost_center: 'CC-100', input_tokens: 200, cost_usd: '0.0008' },
    { call_id: rows[2].call_id, feature_id: null, team: 'payments', cost_center: 'CC-100', input_tokens: 1, cost_usd: '0.000002' },
  ]);
  assert.ok(!('allocation_method' in body.rows[0]));

  res = await admin(`/admin/reports/allocation?day=${day}&allocate_unattributed=proportional&by=feature_id`);
  assert.equal(res.status, 200);
  body = await res.json();
  assert.equal(body.by, 'feature_id');
  // the third call is split like its cost (667 / 1333 nanos); its one input token goes to the
  // larger remainder: 1 x 800000 mod 1.2e6 = 800000 (search) against 400000 (checkout)
  assert.deepEqual(body.rows.map((r) => pick(r, ['call_id', 'feature_id', 'input_tokens', 'cost_usd', 'allocation_method'])), [
    { call_id: rows[0].call_id, feature_id: 'checkout', input_tokens: 100, cost_usd: '0.0004', allocation_method: 'direct' },
    { call_id: rows[1].call_id, feature_id: 'search', input_tokens: 200, cost_usd: '0.0008', allocation_method: 'direct' },
    { call_id: rows[2].call_id, feature_id: 'checkout', input_tokens: 0, cost_usd: '0.000000667', allocation_method: 'proportional' },
    { call_id: rows[2].call_id, feature_id: 'search', input_tokens: 1, cost_usd: '0.000001333', allocation_method: 'proportional' },
  ]);
});

test('bad report parameters are 400s that say why', async () => {
  let res = await admin('/admin/reports/spend?by=colour');
  assert.equal(res.status, 400);
  assert.match((await res.json()).error.message, /^--by: unknown dimension 'colour'/);
  res = await admin('/admin/reports/spend?by=team&from=2026-13-01');
  assert.equal(res.status, 400);
  res = await admin('/admin/reports/spend?by=team,cost_center&allocate_unattributed=proportional');
  assert.equal(res.status, 400);
  assert.match((await res.json()).error.message, /exactly one attribution dimension/);
  res = await admin('/admin/reports/allocation');
  assert.equal(res.status, 400);
  res = await admin(`/admin/reports/allocation?day=${day}&allocate_unattributed=proportional&by=model`);
  assert.equal(res.status, 400);
});

test('GET /admin/reports/audit: the JSON of `tollgate audit`, a missed coverage check as a finding', async () => {
  const q = `from=${day}&to=${day}&top=2&min_coverage=${encodeURIComponent('feature=99.9')}`;
  const res = await admin(`/admin/reports/audit?${q}`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  const doc = await res.json();
  const cli = spawnSync(BIN, ['audit', '--ledger', gw.ledgerPath, '--from', day, '--to', day, '--top', '2', '--min-coverage', 'feature=99.9', '--format', 'json'], { encoding: 'utf8' });
  assert.equal(cli.status, 3, cli.stderr); // the CLI's exit code for a check not met
  assert.deepEqual(doc, JSON.parse(cli.stdout));
  // feature_id covers 1,200,000 of 1,202,000 nano-dollars: 9983 basis points, below 9990
  assert.deepEqual(doc.thresholds, [{ field: 'feature_id', min_bp: 9990, usd_bp: 9983, met: false }]);
  for (const bad of ['top=0', 'from=2026-13-01', `from=${day}&to=2020-01-01`, 'min_coverage=101']) {
    const r = await admin(`/admin/reports/audit?${bad}`);
    assert.equal(r.status, 400, bad);
    assert.equal((await r.json()).error.type, 'invalid_request_error');
  }
});
