// tests/e2e/audit.test.mjs - `tollgate audit` on traffic sent through the gateway with the official SDK:
// known owners and known drift (alias headers, no tenant, a tenant missing from the mapping table, an
// unpriced model, a price found through an alias) -> the exact findings and the exit codes for CI; and
// `audit trace` on a trace that ends in the gateway's own exported spans
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { startMock } from '../mock/mock-provider.mjs';
import { startGateway, ledgerRow, settleLedger, BIN } from './lib/harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let mock, gw, dir;
before(async () => {
  mock = await startMock();
  dir = mkdtempSync(path.join(tmpdir(), 'tg-audit-'));
  const tenants = path.join(dir, 'tenants.csv');
  writeFileSync(tenants, 'tenant_id,cost_center\nacme,CC-ACME\nglobex,CC-GLOBEX\n');
  gw = await startGateway(null, { mockUrl: mock.url, config: `attribution:\n  mappings: [${tenants}]\n` });
});
after(async () => {
  await gw?.close();
  await mock?.close();
  rmSync(dir, { recursive: true, force: true });
});

const audit = (...args) => (settleLedger(gw.ledgerPath), spawnSync(BIN, ['audit', '--ledger', gw.ledgerPath, ...args], { encoding: 'utf8' }));

test('audit: coverage, NULL buckets, drift, price fallbacks and the five questions, exactly; exit 3 below --min-coverage', async () => {
  const call = async (headers, model = 'gpt-4o') => {
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0 });
    const { response } = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }, { headers }).withResponse();
    return ledgerRow(gw.ledgerPath, response.headers.get('x-tollgate-call-id'));
  };
  // Every call uses the mock's usage, 17 input and 9 output tokens. gpt-4o-2024-08-06 at $2.50 / $10 per
  // million: 17 x 2500 + 9 x 10000 = 132500 nano-dollars; gpt-4o-mini-2024-07-18 at $0.15 / $0.60:
  // 17 x 150 + 9 x 600 = 7950.
  const a = await call({ 'x-tenant-id': 'acme', 'x-team': 'payments', 'x-workflow-id': 'run-1', 'x-actor-type': 'agent', 'x-service': 'checkout-api' });
  const b = await call({ tenantId: 'acme', 'x-team': 'payments', 'x-actor-type': 'human', 'x-service': 'checkout-api' });
  const c = await call({ 'X-Team-Id': 'search', 'x-service': 'search-svc' }, 'gpt-4o-mini');
  const d = await call({ 'x-tenant-id': 'initech', 'x-team': 'search', 'x-service': 'search-svc' });
  const e = await call({ 'x-tenant-id': 'acme', 'x-team': 'payments', 'x-service': 'batch' }, 'mystery-model-1');
  // the provider reports the alias, not the version: priced through the alias map
  mock.enqueue({ rawBody: JSON.stringify({ id: 'chatcmpl-alias', object: 'chat.completion', created: 1767225600, model: 'gpt-4o', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 17, completion_tokens: 9, total_tokens: 26 } }) });
  const f = await call({ 'x-tenant-id': 'globex', 'x-team': 'payments', 'x-workflow-id': 'run-2', 'x-actor-type': 'agent', 'x-service': 'checkout-api' });

  assert.deepEqual([a, b, c, d, e, f].map((r) => r.cost_nanos), [132500, 132500, 7950, 132500, null, 132500]);
  assert.deepEqual([a.cost_center, b.cost_center, d.cost_center, f.cost_center], ['CC-ACME', 'CC-ACME', null, 'CC-GLOBEX']);
  assert.equal(JSON.parse(d.attribution_sources).cost_center, 'unmapped');
  assert.match(a.price_ref, /^default\.csv:\d+:exact$/);
  assert.match(f.price_ref, /^default\.csv:\d+:alias$/);
  const day = a.day;
  assert.equal(f.day, day);

  const r = audit('--from', day, '--to', day, '--format', 'json');
  assert.equal(r.status, 0, r.stderr);
  const top = (row, model, q) => ({
    call_id: row.call_id, started_at: row.started_at, provider: 'openai', model, usd: row.cost_nanos === 7950 ? '0.00000795' : '0.0001325',
    price_ref: row.price_ref, tenant_id: row.tenant_id, team: row.team, cost_center: row.cost_center, workflow_id: row.workflow_id, actor_type: row.actor_type,
    questions: { owner: q[0], cost_center: q[1], model_and_price: q[2], workflow: q[3], human_or_agent: q[4] }, answered: q.filter(Boolean).length,
  });
  // priced spend 4 x 132500 + 7950 = 537950; shares in basis points rounded down:
  // tenant_id 530000 / 537950 = 98.52%, cost_center and actor_type 397500 / 537950 = 73.89%,
  // workflow_id 265000 / 537950 = 49.26%; calls 5/6 = 83.33%, 4/6 = 66.66%, 2/6 = 33.33%
  assert.deepEqual(JSON.parse(r.stdout), {
    from: day, to: day, calls: 6, usd: '0.00053795', unpriced_calls: 1,
    coverage: [
      { field: 'tenant_id', calls: 5, calls_bp: 8333, usd: '0.00053', usd_bp: 9852 },
      { field: 'team', calls: 6, calls_bp: 10000, usd: '0.00053795', usd_bp: 10000 },
      { field: 'cost_center', calls: 4, calls_bp: 6666, usd: '0.0003975', usd_bp: 7389 },
      { field: 'feature_id', calls: 0, calls_bp: 0, usd: '0', usd_bp: 0 },
      { field: 'workflow_id', calls: 2, calls_bp: 3333, usd: '0.000265', usd_bp: 4926 },
      { field: 'actor_id', calls: 0, calls_bp: 0, usd: '0', usd_bp: 0 },
      { field: 'actor_type', calls: 3, calls_bp: 5000, usd: '0.0003975', usd_bp: 7389 },
      { field: 'environment', calls: 0, calls_bp: 0, usd: '0', usd_bp: 0 },
      { field: 'service', calls: 6, calls_bp: 10000, usd: '0.00053795', usd_bp: 10000 },
    ],
    null_buckets: [
      { bucket: 'no_tenant', calls: 1, usd: '0.00000795', unpriced_calls: 0 },
      { bucket: 'cost_center_unmapped', calls: 1, usd: '0.0001325', unpriced_calls: 0 },
      { bucket: 'no_cost_center', calls: 1, usd: '0.00000795', unpriced_calls: 0 },
      { bucket: 'team_unmapped', calls: 0, usd: '0', unpriced_calls: 0 },
      { bucket: 'no_team', calls: 0, usd: '0', unpriced_calls: 0 },
      { bucket: 'unpriced_model', calls: 1, usd: null, unpriced_calls: 1, models: [{ provider: 'openai', model: 'mystery-model-1', calls: 1 }] },
      { bucket: 'incomplete', calls: 0, usd: null, unpriced_calls: 0 },
      { bucket: 'no_workflow', calls: 4, usd: '0.00027295', unpriced_calls: 1 },
      { bucket: 'no_actor_type', calls: 3, usd: '0.00014045', unpriced_calls: 1 },
      { bucket: 'rejected_value', calls: 0, usd: '0', unpriced_calls: 0 },
      { bucket: 'missing_required', calls: 0, usd: '0', unpriced_calls: 0 },
    ],
    drift: [
      { field: 'team', sent_as: 'X-Team-Id', key_id: null, service: 'search-svc', calls: 1, usd: '0.00000795', unpriced_calls: 0 },
      { field: 'tenant_id', sent_as: 'tenantId', key_id: null, service: 'checkout-api', calls: 1, usd: '0.0001325', unpriced_calls: 0 },
    ],
    price_fallbacks: [
      { provider: 'openai', request_model: 'gpt-4o', response_model: 'gpt-4o', price_ref: f.price_ref, how: 'alias', calls: 1, usd: '0.0001325' },
    ],
    // ties on cost go by call_id (UUIDv7: the order they were sent)
    top_calls: [
      top(a, 'gpt-4o-2024-08-06', [true, true, true, true, true]),
      top(b, 'gpt-4o-2024-08-06', [true, true, true, false, true]),
      top(d, 'gpt-4o-2024-08-06', [true, false, true, false, false]),
      top(f, 'gpt-4o', [true, true, false, true, true]),
      top(c, 'gpt-4o-mini-2024-07-18', [true, false, true, false, false]),
    ],
    thresholds: [],
    ok: true,
  });

  // CI: --min-coverage PCT checks the dollar coverage of cost_center and team (73.89% and 100%)
  let x = audit('--from', day, '--to', day, '--min-coverage', '73.89');
  assert.equal(x.status, 0, x.stderr);
  assert.match(x.stdout, /cost_center +usd coverage +73\.89%, minimum +73\.89%: ok/);
  x = audit('--from', day, '--to', day, '--min-coverage', '75');
  assert.equal(x.status, 3);
  assert.match(x.stdout, /cost_center +usd coverage +73\.89%, minimum +75\.00%: FAILED/);
  assert.match(x.stdout, /team +usd coverage +100\.00%, minimum +75\.00%: ok/);
  assert.equal(x.stderr, 'tollgate audit: 1 coverage check not met\n');
  x = audit('--from', day, '--to', day, '--min-coverage', 'tenant=98.53', '--format', 'json');
  assert.equal(x.status, 3);
  assert.deepEqual(JSON.parse(x.stdout).thresholds, [{ field: 'tenant_id', min_bp: 9853, usd_bp: 9852, met: false }]);
  x = audit('--from', day, '--to', day, '--min-coverage', 'tenant=98.52', '--top', '1');
  assert.equal(x.status, 0, x.stderr);
  assert.match(x.stdout, new RegExp(`TOP 1 CALLS BY COST: the five questions\\n.*\\n${a.call_id} +\\$0\\.0001325 yes +yes +yes +yes +yes +5/5\\n`));
  x = audit('--min-coverage', 'bogus');
  assert.equal(x.status, 2);
});

test('audit trace on the gateway\'s own OTLP spans: two service hops written by hand, then tollgate\'s SERVER and CLIENT spans', async (t) => {
  // a local OTLP/HTTP receiver standing in for the Collector; its file exporter writes each
  // ExportTraceServiceRequest as one JSON line, so that is what the test writes too
  const posts = [];
  const rx = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => { raw += d; });
    req.on('end', () => { posts.push(raw); res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}'); });
  });
  await new Promise((r) => rx.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => rx.close(r)));
  const g = await startGateway(t, { mockUrl: mock.url, config: `telemetry:\n  service_name: tollgate\n  otlp:\n    traces_endpoint: http://127.0.0.1:${rx.address().port}/v1/traces\n    flush_ms: 20\n` });

  const traceId = randomBytes(16).toString('hex');
  const webSpan = randomBytes(8).toString('hex');
  const checkoutSpan = randomBytes(8).toString('hex');
  const str = (key, v) => ({ key, value: { stringValue: v } });
  const line = (service, spanId, parentSpanId, start, attributes) => JSON.stringify({
    resourceSpans: [{ resource: { attributes: [str('service.name', service)] }, scopeSpans: [{ scope: { name: 'app' }, spans: [{ traceId, spanId, parentSpanId, name: service, kind: 2, startTimeUnixNano: String(start), endTimeUnixNano: String(start + 1n), attributes }] }] }],
  });
  const now = BigInt(Date.now() - 1000) * 1000000n;
  // web-frontend has the full identity; checkout-api renames tenant_id to app.tenant and loses
  // cost_center, then calls the gateway with the alias header tenantId and no cost center
  const lines = [
    line('web-frontend', webSpan, '', now, [str('tenant_id', 'acme'), str('team', 'payments'), str('cost_center', 'CC-100'), str('actor_type', 'human')]),
    line('checkout-api', checkoutSpan, webSpan, now + 1000n, [str('app.tenant', 'acme'), str('team', 'payments'), str('actor_type', 'human')]),
  ];
  const client = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: 'sk', maxRetries: 0 });
  const { response } = await client.chat.completions
    .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }, { headers: { traceparent: `00-${traceId}-${checkoutSpan}-01`, tenantId: 'acme', 'x-team': 'payments', 'x-actor-type': 'human' } })
    .withResponse();
  const row = ledgerRow(g.ledgerPath, response.headers.get('x-tollgate-call-id'));
  const spans = () => posts.flatMap((p) => JSON.parse(p).resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
  for (let i = 0; i < 400 && spans().length < 2; i++) await sleep(25);
  const gwClient = spans().find((s) => s.kind === 3);
  assert.ok(gwClient, 'the gateway exported its CLIENT span');
  const file = path.join(dir, 'traces.jsonl');
  writeFileSync(file, [...lines, ...posts.map((p) => JSON.stringify(JSON.parse(p)))].join('\n') + '\n');

  const r = spawnSync(BIN, ['audit', 'trace', file, '--format', 'json'], { encoding: 'utf8' });
  assert.equal(r.status, 3, r.stderr); // attribution breaks: a CI gate
  const kept = (as, value) => ({ status: 'kept', as, value });
  const gwFields = { tenant_id: kept('tollgate.tenant_id', 'acme'), team: kept('tollgate.team', 'payments'), cost_center: { status: 'dropped' }, actor_type: kept('tollgate.actor_type', 'human') };
  assert.deepEqual(JSON.parse(r.stdout), {
    traces: [{
      trace_id: traceId,
      hops: [
        { hop: 1, span_id: webSpan, parent_span_id: null, parent_hop: null, service: 'web-frontend', name: 'web-frontend', fields: { tenant_id: kept('tenant_id', 'acme'), team: kept('team', 'payments'), cost_center: kept('cost_center', 'CC-100'), actor_type: kept('actor_type', 'human') } },
        { hop: 2, span_id: checkoutSpan, parent_span_id: webSpan, parent_hop: 1, service: 'checkout-api', name: 'checkout-api', fields: { tenant_id: { status: 'renamed', as: 'app.tenant', value: 'acme' }, team: kept('team', 'payments'), cost_center: { status: 'dropped' }, actor_type: kept('actor_type', 'human') } },
        // the gateway resolved the alias header: its spans carry the canonical tollgate.tenant_id again
        { hop: 3, span_id: row.span_id, parent_span_id: checkoutSpan, parent_hop: 2, service: 'tollgate', name: 'chat gpt-4o', fields: gwFields },
        { hop: 4, span_id: gwClient.spanId, parent_span_id: row.span_id, parent_hop: 3, service: 'tollgate', name: 'chat gpt-4o', fields: gwFields },
      ],
      breaks: [
        { field: 'tenant_id', hop: 2, span_id: checkoutSpan, service: 'checkout-api', change: 'renamed', as: 'app.tenant' },
        { field: 'cost_center', hop: 2, span_id: checkoutSpan, service: 'checkout-api', change: 'dropped' },
      ],
    }],
    breaks: 2,
  });
  // the ledger agrees: the tenant arrived under an alias, the cost center never did
  assert.deepEqual([row.tenant_id, row.cost_center, JSON.parse(row.attribution_sources).tenant_id], ['acme', null, 'alias:tenantId']);
});
