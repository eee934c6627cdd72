// tests/e2e/attribution.test.mjs - identity from headers, aliases, baggage and keys; trace context; policy; privacy
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startMock } from '../mock/mock-provider.mjs';
import { startGateway, ledgerRow, pick, BIN } from './lib/harness.mjs';

const ID = ['request_id', 'tenant_id', 'team', 'cost_center', 'feature_id', 'workflow_id', 'actor_id', 'actor_type', 'environment', 'service', 'tags'];
const sources = (row) => JSON.parse(row.attribution_sources);

let mock, gw;
before(async () => {
  mock = await startMock();
  gw = await startGateway(null, { mockUrl: mock.url });
});
after(async () => {
  await gw?.close();
  await mock?.close();
});

test('every source of identity lands in the ledger with its source; nothing internal reaches the provider', async () => {
  mock.reset();
  const client = new OpenAI({
    baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0,
    defaultHeaders: { 'x-team': 'payments', tenantId: 'acme', 'x-tollgate-tags': 'region=eu' },
  });
  const { response } = await client.chat.completions
    .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }, {
      headers: { 'x-request-id': 'checkout-7f3a', baggage: 'feature_id=checkout,workflow_id=run-9,actor_id=u%40acme.com,actor_type=human,tag.squad=blue', 'x-environment': 'prod' },
    })
    .withResponse();
  const row = ledgerRow(gw.ledgerPath, response.headers.get('x-tollgate-call-id'));
  assert.deepEqual(pick(row, ID), {
    request_id: 'checkout-7f3a', tenant_id: 'acme', team: 'payments', cost_center: null, feature_id: 'checkout', workflow_id: 'run-9',
    actor_id: 'u@acme.com', actor_type: 'human', environment: 'prod', service: null, tags: '{"region":"eu","squad":"blue"}',
  });
  assert.deepEqual(sources(row), {
    request_id: 'header', tenant_id: 'alias:tenantId', team: 'header', feature_id: 'baggage', workflow_id: 'baggage',
    actor_id: 'baggage', actor_type: 'baggage', environment: 'header',
  });
  const seen = mock.requests[0].headers;
  for (const h of ['x-team', 'tenantid', 'x-tollgate-tags', 'x-request-id', 'baggage', 'x-environment']) assert.equal(seen[h], undefined, `${h} must not leak`);
  assert.equal(seen.authorization, 'Bearer sk');
});

test('trace context: a valid traceparent is continued, an invalid one restarts; the response carries the gateway span, the provider its child', async () => {
  mock.reset();
  const caller = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  let res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk', 'content-type': 'application/json', traceparent: caller, tracestate: 'vendor=x' }, body: JSON.stringify({ model: 'gpt-4o', messages: [] }) });
  const mine = res.headers.get('traceparent');
  assert.match(mine, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
  assert.notEqual(mine.split('-')[2], '00f067aa0ba902b7');
  // the provider sees the gateway's CLIENT span (a child of the span returned to the
  // caller, which the ledger records): same trace, same flags, its own span id
  const upstream = mock.requests[0].headers.traceparent;
  assert.match(upstream, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
  assert.notEqual(upstream.split('-')[2], mine.split('-')[2]);
  assert.notEqual(upstream.split('-')[2], '00f067aa0ba902b7');
  assert.equal(mock.requests[0].headers.tracestate, 'vendor=x');
  let row = ledgerRow(gw.ledgerPath, res.headers.get('x-tollgate-call-id'));
  assert.deepEqual(pick(row, ['trace_id', 'span_id', 'parent_span_id']), { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: mine.split('-')[2], parent_span_id: '00f067aa0ba902b7' });

  res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk', traceparent: caller.toUpperCase(), tracestate: 'vendor=x' }, body: JSON.stringify({ model: 'gpt-4o', messages: [] }) });
  const fresh = res.headers.get('traceparent');
  assert.match(fresh, /^00-[0-9a-f]{32}-[0-9a-f]{16}-03$/);
  assert.notEqual(fresh.split('-')[1], '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(mock.requests[1].headers.tracestate, undefined, 'tracestate of an invalid traceparent is dropped');
  row = ledgerRow(gw.ledgerPath, res.headers.get('x-tollgate-call-id'));
  assert.equal(row.parent_span_id, null);
});

test('three hops: client -> service propagating baggage and traceparent -> tollgate -> provider', async (t) => {
  mock.reset();
  // the middle hop forwards W3C context the way OpenTelemetry SDKs do, and adds its own baggage member
  const service = http.createServer(async (req, res) => {
    const traceId = req.headers.traceparent.split('-')[1];
    const span = randomBytes(8).toString('hex');
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0 });
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }, { headers: { traceparent: `00-${traceId}-${span}-01`, baggage: `${req.headers.baggage},service=summarizer` } })
      .withResponse();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ callId: response.headers.get('x-tollgate-call-id'), span }));
  });
  await new Promise((r) => service.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => service.close(r)));
  const traceId = randomBytes(16).toString('hex');
  const clientSpan = randomBytes(8).toString('hex');
  const out = await (await fetch(`http://127.0.0.1:${service.address().port}/summarize`, {
    headers: { traceparent: `00-${traceId}-${clientSpan}-01`, baggage: 'tenant_id=acme,team=growth,cost_center=CC-200,feature_id=summaries,actor_type=human' },
  })).json();
  const row = ledgerRow(gw.ledgerPath, out.callId);
  assert.deepEqual(pick(row, ['trace_id', 'parent_span_id', 'tenant_id', 'team', 'cost_center', 'feature_id', 'actor_type', 'service']), {
    trace_id: traceId, parent_span_id: out.span, tenant_id: 'acme', team: 'growth', cost_center: 'CC-200', feature_id: 'summaries', actor_type: 'human', service: 'summarizer',
  });
  const seen = mock.requests[0].headers;
  assert.equal(seen.baggage, undefined, 'the provider received no internal identity');
  assert.equal(seen.traceparent.split('-')[1], traceId);
});

test('virtual-key defaults fill what the caller did not send; no credential held is a clear 500', async (t) => {
  const noCred = spawnSync(BIN, ['keys', 'create', '--ledger', gw.ledgerPath, '--team', 't', '--cost-center', 'c'], { encoding: 'utf8' }).stdout.trim();
  let e;
  for (let i = 0; i < 40; i++) {
    e = await new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: noCred, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o', messages: [] }).catch((x) => x);
    if (e.status !== 401) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(e.status, 500);
  assert.equal(e.error.code, 'no_provider_credential');
  assert.equal(e.error.message, 'the gateway holds no credential for upstream openai (set OPENAI_API_KEY)');

  const g = await startGateway(t, { mockUrl: mock.url, env: { OPENAI_API_KEY: 'sk-held' } });
  const key = spawnSync(BIN, ['keys', 'create', '--ledger', g.ledgerPath, '--team', 'search', '--cost-center', 'CC-300', '--tenant', 'globex', '--environment', 'staging'], { encoding: 'utf8' }).stdout.trim();
  const client = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: key, maxRetries: 0 });
  let r;
  for (let i = 0; i < 40; i++) {
    r = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-team': 'override' } }).withResponse().catch((e) => e);
    if (!(r instanceof Error)) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(!(r instanceof Error), `the key works: ${r}`);
  const row = ledgerRow(g.ledgerPath, r.response.headers.get('x-tollgate-call-id'));
  assert.deepEqual(pick(row, ['team', 'cost_center', 'tenant_id', 'environment']), { team: 'override', cost_center: 'CC-300', tenant_id: 'globex', environment: 'staging' });
  assert.deepEqual(pick(sources(row), ['team', 'cost_center', 'tenant_id', 'environment']), { team: 'header', cost_center: 'key', tenant_id: 'key', environment: 'key' });
});

test('mandatory attribution, enforce: 400 in each dialect naming the fields and how to set them', async (t) => {
  const g = await startGateway(t, { mockUrl: mock.url, config: 'attribution:\n  required: [cost_center, feature_id]\n  mode: enforce\n' });
  const openai = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: 'sk', maxRetries: 0 });
  const err = await openai.chat.completions.create({ model: 'gpt-4o', messages: [] }, { headers: { 'x-cost-center': 'CC-1' } }).catch((e) => e);
  assert.equal(err.status, 400);
  assert.equal(err.error.code, 'missing_attribution');
  assert.equal(err.error.message, 'missing required attribution: feature_id (set header x-feature-id or baggage feature_id)');
  const row = ledgerRow(g.ledgerPath, err.headers.get('x-tollgate-call-id'));
  assert.deepEqual(pick(row, ['outcome', 'status_code', 'error_type', 'cost_center', 'attempt']), { outcome: 'refused', status_code: 400, error_type: 'missing_attribution', cost_center: 'CC-1', attempt: 0 });

  const anthropic = new Anthropic({ baseURL: g.url, apiKey: 'sk-ant', maxRetries: 0 });
  const aerr = await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [] }).catch((e) => e);
  assert.equal(aerr.status, 400);
  assert.equal(aerr.error.error.type, 'invalid_request_error');
  assert.deepEqual(aerr.error.tollgate.missing, ['cost_center', 'feature_id']);

  const ok = await openai.chat.completions.create({ model: 'gpt-4o', messages: [] }, { headers: { 'x-cost-center': 'CC-1', baggage: 'feature_id=f1' } });
  assert.equal(ok.choices[0].message.content, 'Hello there!');
});

test('mandatory attribution, flag: the call goes through, the response and the row say what is missing', async (t) => {
  const g = await startGateway(t, { mockUrl: mock.url, config: 'attribution:\n  required: [team, cost_center]\n  mode: flag\n  enforce_after: 2999-01-01\n' });
  const openai = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: 'sk', maxRetries: 0 });
  const { response } = await openai.chat.completions.create({ model: 'gpt-4o', messages: [] }, { headers: { 'x-team': 't1' } }).withResponse();
  assert.equal(response.headers.get('x-tollgate-attribution-missing'), 'cost_center');
  const row = ledgerRow(g.ledgerPath, response.headers.get('x-tollgate-call-id'));
  assert.equal(row.outcome, 'ok');
  assert.deepEqual(sources(row), { request_id: 'generated', team: 'header', missing: 'cost_center' });
});

test('a grace date in the past turns flag into enforce', async (t) => {
  const g = await startGateway(t, { mockUrl: mock.url, config: 'attribution:\n  required: [team]\n  mode: flag\n  enforce_after: 2020-01-01\n' });
  const res = await fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk' }, body: '{"model":"gpt-4o","messages":[]}' });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error.code, 'missing_attribution');
});

test('mapping tables fill what callers left out, a miss stays NULL, SIGHUP reloads them; route defaults', async (t) => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const dir = mkdtempSync(path.join(tmpdir(), 'tg-maps-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tenants = path.join(dir, 'tenants.csv');
  writeFileSync(tenants, 'tenant_id,cost_center\nacme,CC-ACME\n');
  writeFileSync(path.join(dir, 'flows.csv'), 'workflow_id,team\nnightly-etl,data\n');
  const config = `attribution:\n  mappings: [${tenants}, ${path.join(dir, 'flows.csv')}]\nupstreams:\n  internal:\n    type: openai\n    base_url: ${mock.url}\n    defaults: { environment: onprem, service: batch-runner }\n`;
  const g = await startGateway(t, { mockUrl: mock.url, config });
  const call = async (headers, base = `${g.url}/v1`) => {
    const c = new OpenAI({ baseURL: base, apiKey: 'sk', maxRetries: 0 });
    const { response } = await c.chat.completions.create({ model: 'gpt-4o', messages: [] }, { headers }).withResponse();
    return ledgerRow(g.ledgerPath, response.headers.get('x-tollgate-call-id'));
  };
  let row = await call({ 'x-tenant-id': 'acme', 'x-workflow-id': 'nightly-etl' });
  assert.deepEqual(pick(row, ['cost_center', 'team']), { cost_center: 'CC-ACME', team: 'data' });
  assert.deepEqual(pick(sources(row), ['cost_center', 'team']), { cost_center: 'map:tenant_id', team: 'map:workflow_id' });
  row = await call({ 'x-tenant-id': 'initech' });
  assert.equal(row.cost_center, null);
  assert.equal(sources(row).cost_center, 'unmapped');

  writeFileSync(tenants, 'tenant_id,cost_center\nacme,CC-ACME\ninitech,CC-INITECH\n');
  g.proc.kill('SIGHUP');
  let reloaded;
  for (let i = 0; i < 50 && !reloaded; i++) {
    await new Promise((r) => setTimeout(r, 50));
    reloaded = /event=mappings_reloaded/.test(g.stderr());
  }
  assert.ok(reloaded);
  row = await call({ 'x-tenant-id': 'initech' });
  assert.equal(row.cost_center, 'CC-INITECH');

  row = await call({}, `${g.url}/internal/v1`);
  assert.deepEqual(pick(row, ['provider', 'environment', 'service']), { provider: 'internal', environment: 'onprem', service: 'batch-runner' });
  assert.deepEqual(pick(sources(row), ['environment', 'service']), { environment: 'route', service: 'route' });
});
