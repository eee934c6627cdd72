// tests/e2e/cli_keys.test.mjs - the CLI (pricing check/show, keys) and virtual keys on the request path
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startMock } from '../mock/mock-provider.mjs';
import { startGateway, ledgerRow, pick, BIN } from './lib/harness.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const run = (...args) => spawnSync(BIN, args, { encoding: 'utf8', env: { ...process.env } });

test('pricing check: valid cards pass, an error names file, line and column, exit 1', (t) => {
  let r = run('pricing', 'check', path.join(repo, 'pricing/default.csv'), path.join(repo, 'tests/data/pricing_test_card.csv'));
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^ok: .*default\.csv: \d+ rows\nok: .*pricing_test_card\.csv: \d+ rows\n$/);
  const dir = mkdtempSync(path.join(tmpdir(), 'tg-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'bad.csv'), 'provider,model,effective_from,currency,input_per_mtok,output_per_mtok,colour\nopenai,x,2026-01-01,USD,1,2,red\n');
  r = run('pricing', 'check', path.join(dir, 'bad.csv'));
  assert.equal(r.status, 1);
  assert.equal(r.stderr, "bad.csv:1: unknown column 'colour'\n");
});

test('pricing show: the row, how it matched, and every price', () => {
  const r = run('pricing', 'show', 'gpt-4o', '--date', '2026-03-01', '--card', path.join(repo, 'tests/data/pricing_test_card.csv'));
  assert.equal(r.status, 0);
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'gpt-4o on 2026-03-01 -> openai gpt-4o-2024-08-06  (pricing_test_card.csv:3)');
  assert.equal(lines[1], '  matched by alias: gpt-4o -> gpt-4o-2024-08-06');
  assert.match(r.stdout, /\n  input {30}2\n  cached input {23}1\n/);
  const u = run('pricing', 'show', 'nothing-9', '--date', '2026-03-01');
  assert.equal(u.status, 1);
  assert.match(u.stdout, /^nothing-9 on 2026-03-01: unpriced/);
});

let mock, gw, ledger, dir;
before(async () => {
  mock = await startMock();
  dir = mkdtempSync(path.join(tmpdir(), 'tg-keys-'));
  ledger = path.join(dir, 'ledger.db');
  gw = await startGateway(null, { mockUrl: mock.url, ledgerPath: ledger, env: { OPENAI_API_KEY: 'sk-gateway-held', ANTHROPIC_API_KEY: 'sk-ant-gateway-held' } });
});
after(async () => {
  await gw?.close();
  await mock?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('virtual keys: created by the CLI, used within a second, credential swapped, model list enforced, revoked', async () => {
  const created = spawnSync(BIN, ['keys', 'create', '--ledger', ledger, '--team', 'payments', '--cost-center', 'CC-100', '--models', 'gpt-4o*'], { encoding: 'utf8' });
  assert.equal(created.status, 0, created.stderr);
  const key = created.stdout.trim();
  assert.match(key, /^tgk_[0-9a-f]{40}$/);
  const list = JSON.parse(execFileSync(BIN, ['keys', 'list', '--ledger', ledger, '--format', 'json'], { encoding: 'utf8' }));
  assert.equal(list.length, 1);
  assert.deepEqual(pick(list[0], ['prefix', 'team', 'cost_center', 'models', 'revoked_at']), { prefix: key.slice(0, 12), team: 'payments', cost_center: 'CC-100', models: 'gpt-4o*', revoked_at: null });
  assert.ok(!JSON.stringify(list).includes(key), 'the key itself is never shown again');

  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 });
  // the gateway picks up the new key within a second
  let res;
  for (let i = 0; i < 40; i++) {
    res = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).withResponse().catch((e) => e);
    if (!(res instanceof Error)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(!(res instanceof Error), `the key works: ${res}`);
  const seen = mock.requests.at(-1);
  assert.equal(seen.headers.authorization, 'Bearer sk-gateway-held', 'the provider sees the gateway-held credential, never the virtual key');
  const row = ledgerRow(ledger, res.response.headers.get('x-tollgate-call-id'));
  assert.equal(row.key_id, list[0].key_id);
  assert.equal(row.outcome, 'ok');

  const denied = await client.chat.completions.create({ model: 'o3', messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
  assert.equal(denied.status, 403);
  assert.equal(denied.error.code, 'model_not_allowed');
  assert.equal(denied.error.message, "model 'o3' is not allowed for this key (allowed: gpt-4o*)");
  assert.deepEqual(pick(ledgerRow(ledger, denied.headers.get('x-tollgate-call-id')), ['outcome', 'status_code', 'error_type', 'key_id']), { outcome: 'refused', status_code: 403, error_type: 'model_not_allowed', key_id: list[0].key_id });

  // the same refusal in the Anthropic dialect (the key's list allows only gpt-4o*)
  const viaAnthropic = new Anthropic({ baseURL: gw.url, apiKey: key, maxRetries: 0 });
  const aDenied = await viaAnthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
  assert.equal(aDenied.status, 403);
  assert.deepEqual(aDenied.error.error, { type: 'permission_error', message: "model 'claude-sonnet-4-5' is not allowed for this key (allowed: gpt-4o*)" });
  assert.equal(aDenied.error.tollgate.error, 'model_not_allowed');

  const anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'tgk_0000000000000000000000000000000000000000', maxRetries: 0 });
  const unknown = await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
  assert.equal(unknown.status, 401);
  assert.deepEqual(unknown.error.error, { type: 'authentication_error', message: 'unknown tollgate virtual key' });

  execFileSync(BIN, ['keys', 'revoke', '--ledger', ledger, list[0].key_id]);
  let revoked;
  for (let i = 0; i < 40; i++) {
    revoked = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
    if (revoked instanceof Error) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(revoked.status, 401);
  assert.equal(revoked.error.code, 'revoked_key');
});

test('without a virtual key the caller\'s own key passes through (drop-in default)', async () => {
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk-callers-own', maxRetries: 0 });
  await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(mock.requests.at(-1).headers.authorization, 'Bearer sk-callers-own');
});

test('admin API: keys created, listed and revoked over HTTP behind the master key', async (t) => {
  const g = await startGateway(t, { mockUrl: mock.url, env: { TOLLGATE_MASTER_KEY: 'master-1', OPENAI_API_KEY: 'sk-held' } });
  const admin = (method, p, body, auth = 'Bearer master-1') => fetch(`${g.url}${p}`, { method, headers: { authorization: auth, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  let res = await admin('GET', '/admin/keys', undefined, 'Bearer wrong');
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error.type, 'authentication_error');
  res = await admin('POST', '/admin/keys', { team: 'ml' });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error.message, 'team and cost_center are required');
  res = await admin('POST', '/admin/keys', { team: 'ml', cost_center: 'CC-9', models: 'gpt-4o*', expires: '2999-01-01' });
  assert.equal(res.status, 201);
  const created = await res.json();
  assert.match(created.key, /^tgk_[0-9a-f]{40}$/);
  assert.deepEqual(pick(created.metadata, ['team', 'cost_center', 'models', 'expires_at', 'revoked_at']), { team: 'ml', cost_center: 'CC-9', models: 'gpt-4o*', expires_at: '2999-01-01T00:00:00.000Z', revoked_at: null });
  res = await admin('GET', '/admin/keys');
  const listed = (await res.json()).keys;
  assert.equal(listed.length, 1);
  assert.equal(listed[0].key_id, created.metadata.key_id);
  assert.ok(!JSON.stringify(listed).includes(created.key));

  const client = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: created.key, maxRetries: 0 });
  let ok;
  for (let i = 0; i < 40; i++) {
    ok = await client.chat.completions.create({ model: 'gpt-4o', messages: [] }).catch((e) => e);
    if (!(ok instanceof Error)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(ok.choices[0].message.content, 'Hello there!');

  res = await admin('POST', `/admin/keys/${created.metadata.key_id}/revoke`);
  assert.equal(res.status, 200);
  assert.match((await res.json()).revoked_at, /^\d{4}-\d\d-\d\dT/);
  res = await admin('POST', '/admin/keys/vk_nope/revoke');
  assert.equal(res.status, 404);
  let denied;
  for (let i = 0; i < 40; i++) {
    denied = await client.chat.completions.create({ model: 'gpt-4o', messages: [] }).catch((e) => e);
    if (denied instanceof Error) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(denied.status, 401);
  assert.equal(denied.error.code, 'revoked_key');
});

test('admin API is off without a master key', async () => {
  const res = await fetch(`${gw.url}/admin/keys`);
  assert.equal(res.status, 404);
});

test('require_virtual_key turns passthrough off: a provider key gets 401 in the caller dialect', async (t) => {
  const g = await startGateway(t, { mockUrl: mock.url, config: 'require_virtual_key: true\n' });
  const err = await new OpenAI({ baseURL: `${g.url}/v1`, apiKey: 'sk-callers-own', maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o', messages: [] }).catch((e) => e);
  assert.equal(err.status, 401);
  assert.equal(err.error.code, 'virtual_key_required');
  assert.deepEqual(pick(ledgerRow(g.ledgerPath, err.headers.get('x-tollgate-call-id')), ['outcome', 'error_type', 'attempt']), { outcome: 'refused', error_type: 'virtual_key_required', attempt: 0 });
  const aerr = await new Anthropic({ baseURL: g.url, apiKey: 'sk-ant-own', maxRetries: 0 }).messages.create({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [] }).catch((e) => e);
  assert.equal(aerr.status, 401);
  assert.equal(aerr.error.error.type, 'authentication_error');
});
