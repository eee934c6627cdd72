// tests/e2e/telemetry.test.mjs - GET /metrics (checked by promtool, counters equal to the
// ledger's sums after a known workload, bounded label values), x-tollgate-overhead-ms
// over a large answer's parse, and OTLP/HTTP JSON spans
// received by a local receiver (encoding rules, names, parent/child link, the caller's
// trace id, retries on 503 with Retry-After, no retry on 400, partial success).
//
// Prices (tests/data/pricing_test_card.csv): gpt-4o-2024-08-06 input $2.00, cached $1.00,
// output $8.00 per million; claude-sonnet-4-5-20250929 input $3.00, output $15.00.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startMock } from '../mock/mock-provider.mjs';
import { startGateway, ledgerRows, ledgerRow } from './lib/harness.mjs';

const CARD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../data/pricing_test_card.csv');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

async function until(cond, what, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await cond();
    if (v) return v;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// A local OTLP/HTTP receiver; answers() gives the status (and headers, body) per request.
async function startReceiver(t, answers = () => ({ status: 200, body: '{}' })) {
  const posts = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      posts.push({ path: req.url, headers: req.headers, raw, at: Date.now() });
      const a = answers(posts.length);
      res.writeHead(a.status, { 'content-type': 'application/json', ...(a.headers ?? {}) });
      res.end(a.body ?? '{}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => server.close(r)));
  return { url: `http://127.0.0.1:${server.address().port}`, posts };
}

// Prometheus text -> [{name, labels, value}] (value kept as the exact text).
function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/);
    assert.ok(m, `bad exposition line: ${line}`);
    const labels = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: m[3] });
  }
  return out;
}

// Exact decimal text -> BigInt nano units.
function nanos(s) {
  const [w, f = ''] = s.split('.');
  return BigInt(w) * 1000000000n + BigInt((f + '000000000').slice(0, 9));
}

function sum(series, name, filter = () => true, unit = (v) => BigInt(v)) {
  return series.filter((s) => s.name === name && filter(s.labels)).reduce((a, s) => a + unit(s.value), 0n);
}

async function scrape(gw) {
  const res = await fetch(`${gw.url}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await res.text();
  // promtool (Debian's prometheus package) lints the page: names, types, help, suffixes
  execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { text, series: parseMetrics(text) };
}

const attr = (span, key) => span.attributes.find((a) => a.key === key)?.value;

test('metrics: promtool accepts the page and every counter equals the ledger after a known workload', async (t) => {
  const mock = await startMock();
  t.after(() => mock.close());
  const gw = await startGateway(t, { mockUrl: mock.url, args: ['--pricing', CARD], config: 'budgets:\n  limits:\n    - {scope: team:payments, period: month, limit_usd: 4}\n' });
  const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0, defaultHeaders: { 'x-team': 'payments', 'x-cost-center': 'CC-1' } });
  const anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'sk-ant', maxRetries: 0, defaultHeaders: { 'x-team': 'search' } });

  // 1: 176 x 2.00 + 1024 x 1.00 + 85 x 8.00 = 2,056,000 nano-dollars; caching saved 1,024,000
  mock.enqueue({ usage: { prompt_tokens: 1200, completion_tokens: 85, prompt_tokens_details: { cached_tokens: 1024 }, completion_tokens_details: { reasoning_tokens: 40 } } });
  const r1 = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  assert.match(r1.response.headers.get('x-tollgate-overhead-ms'), /^\d+\.\d{3}$/);
  // 2: a stream, 17 x 2.00 + 9 x 8.00 = 106,000
  const { data: stream, response: r2 } = await openai.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  for await (const _ of stream);
  assert.match(r2.headers.get('x-tollgate-overhead-ms'), /^\d+\.\d{3}$/);
  // 3: Anthropic, 25 x 3.00 + 12 x 15.00 = 255,000
  await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
  // 4: the provider refuses with a 429
  mock.enqueue({ status: 429, headers: { 'retry-after': '1' }, body: { error: { message: 'slow down', type: 'requests', code: 'rate_limit_exceeded' } } });
  await assert.rejects(openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }), { status: 429 });
  // 5: a model no rate card prices (cost NULL, never $0); another team, out of the budget
  await openai.chat.completions.create({ model: 'mystery-model', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-team': 'research' } });
  // 6: refused by the gateway itself (bad JSON)
  const bad = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk', 'content-type': 'application/json' }, body: '{"model":' });
  assert.equal(bad.status, 400);
  assert.match(bad.headers.get('x-tollgate-overhead-ms'), /^\d+\.\d{3}$/);

  const rows = await until(() => { const r = ledgerRows(gw.ledgerPath, "outcome <> 'incomplete'"); return r.length === 6 && r; }, 'six rows');
  const { series } = await scrape(gw);

  assert.equal(sum(series, 'tollgate_calls_total'), 6n);
  const byOutcome = (o) => sum(series, 'tollgate_calls_total', (l) => l.outcome === o);
  assert.deepEqual([byOutcome('ok'), byOutcome('upstream_error'), byOutcome('refused')], [4n, 1n, 1n]);
  assert.equal(sum(series, 'tollgate_calls_total', (l) => l.provider === 'openai' && l.model === 'gpt-4o-2024-08-06' && l.outcome === 'ok'), 2n);
  assert.equal(sum(series, 'tollgate_calls_total', (l) => l.provider === 'none' && l.model === 'none' && l.outcome === 'refused'), 0n, 'a routed refusal keeps its provider');

  const col = (c) => rows.reduce((a, r) => a + BigInt(r[c] ?? 0), 0n);
  for (const [type, column] of [['input', 'input_tokens'], ['cached_input', 'cached_input_tokens'], ['output', 'output_tokens'], ['reasoning', 'reasoning_tokens'], ['cache_write_5m', 'cache_write_5m_tokens'], ['audio_input', 'audio_input_tokens']])
    assert.equal(sum(series, 'tollgate_tokens_total', (l) => l.type === type), col(column), `tokens of type ${type}`);
  assert.equal(sum(series, 'tollgate_tokens_total', (l) => l.type === 'input'), 1200n + 17n + 25n + 17n);
  assert.equal(sum(series, 'tollgate_tokens_total', (l) => l.type === 'input' && l.team === 'payments' && l.cost_center === 'CC-1'), 1200n + 17n);
  assert.equal(sum(series, 'tollgate_tokens_total', (l) => l.type === 'input' && l.team === 'research' && l.model === 'mystery-model'), 17n);
  assert.equal(sum(series, 'tollgate_tokens_total', (l) => l.type === 'output' && l.team === 'search' && l.cost_center === 'unattributed'), 12n);

  // money: exact to the nano-dollar, equal to the ledger's SUM
  assert.equal(col('cost_nanos'), 2056000n + 106000n + 255000n);
  assert.equal(sum(series, 'tollgate_cost_usd_total', () => true, nanos), col('cost_nanos'));
  assert.equal(sum(series, 'tollgate_cost_usd_total', (l) => l.team === 'payments', nanos), 2162000n);
  assert.equal(series.find((s) => s.name === 'tollgate_cost_usd_total' && s.labels.team === 'search').value, '0.000255');
  assert.equal(sum(series, 'tollgate_cache_savings_usd_total', () => true, nanos), col('cache_savings_nanos'));
  assert.equal(sum(series, 'tollgate_cache_savings_usd_total', () => true, nanos), 1024000n);
  assert.equal(sum(series, 'tollgate_unpriced_calls_total', (l) => l.model === 'mystery-model'), 1n);

  // histograms: one overhead observation per response; provider latencies per forwarded call
  assert.equal(sum(series, 'tollgate_gateway_overhead_seconds_count'), 6n);
  assert.equal(sum(series, 'tollgate_upstream_duration_seconds_count'), 5n);
  assert.equal(sum(series, 'tollgate_time_to_first_token_seconds_count'), 1n);
  const inf = series.find((s) => s.name === 'tollgate_upstream_duration_seconds_bucket' && s.labels.provider === 'openai' && s.labels.le === '+Inf');
  assert.equal(inf.value, '4');
  assert.equal(series.find((s) => s.name === 'tollgate_ledger_queue_depth').value, '0');
  // the write-ahead log's size, as the file is now (every row is committed: it holds still)
  const wal = fs.statSync(`${gw.ledgerPath}-wal`).size;
  assert.ok(wal > 0);
  assert.equal(series.find((s) => s.name === 'tollgate_ledger_wal_bytes').value, String(wal));
  // the own HTTP/1.1 client: one connection per upstream (openai, anthropic), kept alive
  // for the other three openai calls
  const conns = (event) => series.find((s) => s.name === 'tollgate_upstream_connections_total' && s.labels.event === event)?.value;
  assert.deepEqual(['opened', 'reused', 'retried', 'expired'].map(conns), ['2', '3', '0', '0']);

  // budget utilization: payments spent 2,162,000 nano-dollars of $4 (0.0005405 of it)
  const budget = (name) => series.find((s) => s.name === name && s.labels.budget_id === 'config:1' && s.labels.scope === 'team:payments' && s.labels.period === 'month')?.value;
  assert.deepEqual(['limit', 'spent', 'reserved'].map((k) => budget(`tollgate_budget_${k}_usd`)), ['4', '0.002162', '0']);
  assert.equal(budget('tollgate_budget_utilization_ratio'), '0.0005405');
});

test('x-tollgate-overhead-ms counts the answer\'s parse as the gateway\'s time, not the provider\'s', async (t) => {
  const mock = await startMock();
  t.after(() => mock.close());
  const gw = await startGateway(t, { mockUrl: mock.url });
  const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0 });
  // a 33 MB answer, a quote and a newline escaped in every line: the gateway reads all of
  // it for the usage once the provider is done, which takes it tens of milliseconds
  const content = 'a line of the answer with a "quote" in it\n'.repeat(780000);
  const answer = { id: 'chatcmpl-big', object: 'chat.completion', created: 1767225600, model: 'gpt-4o-2024-08-06', choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }], usage: { prompt_tokens: 17, completion_tokens: 9, total_tokens: 26 } };
  const raw = JSON.stringify(answer);
  mock.enqueue({ rawBody: raw });
  const { data, response } = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  assert.equal(data.choices[0].message.content.length, content.length);
  // 47-67 ms measured (release and ASan builds); 0.2-0.5 ms while the parse counted as
  // the provider's wait
  const overhead = Number(response.headers.get('x-tollgate-overhead-ms'));
  assert.ok(overhead >= 5, `overhead ${overhead} ms`);
  const row = ledgerRow(gw.ledgerPath, response.headers.get('x-tollgate-call-id'));
  assert.equal(row.response_id, 'chatcmpl-big');
  assert.equal(row.input_tokens, 17);
  assert.equal(row.output_tokens, 9);
  assert.equal(row.response_bytes, raw.length);
});

test('metrics: team, cost center and model label values are capped, then "other"', async (t) => {
  const mock = await startMock();
  t.after(() => mock.close());
  const gw = await startGateway(t, { mockUrl: mock.url, args: ['--pricing', CARD], config: 'telemetry:\n  metrics:\n    max_label_values: 2\n' });
  const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0 });
  for (const team of ['a', 'b', 'c', 'd'])
    await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-team': team } });
  const { series } = await scrape(gw);
  const teams = [...new Set(series.filter((s) => s.name === 'tollgate_cost_usd_total').map((s) => s.labels.team))].sort();
  assert.deepEqual(teams, ['a', 'b', 'other']);
  assert.equal(sum(series, 'tollgate_cost_usd_total', (l) => l.team === 'other', nanos), 2n * 106000n);
  assert.equal(sum(series, 'tollgate_cost_usd_total', () => true, nanos), 4n * 106000n);
});

test('OTLP: a SERVER span and its CLIENT child per call, in the caller trace, encoded per OTLP/JSON', async (t) => {
  const mock = await startMock();
  t.after(() => mock.close());
  const rx = await startReceiver(t);
  const gw = await startGateway(t, {
    mockUrl: mock.url, args: ['--pricing', CARD],
    config: `telemetry:\n  service_name: gw-test\n  otlp:\n    traces_endpoint: ${rx.url}/v1/traces\n    flush_ms: 50\n    headers: x-tenant-token=abc\n`,
  });
  const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0, defaultHeaders: { 'x-team': 'payments', 'x-cost-center': 'CC-1', 'x-workflow-id': 'run-7' } });
  mock.enqueue({ usage: { prompt_tokens: 1200, completion_tokens: 85, prompt_tokens_details: { cached_tokens: 1024 } } });
  const { response } = await openai.chat.completions
    .create({ model: 'gpt-4o', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }, { headers: { traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01` } })
    .withResponse();
  const callId = response.headers.get('x-tollgate-call-id');
  const row = ledgerRow(gw.ledgerPath, callId);
  mock.enqueue({ status: 500, body: { error: { message: 'boom', type: 'server_error', code: null } } });
  await assert.rejects(openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }), { status: 500 });

  await until(() => rx.posts.reduce((n, p) => n + JSON.parse(p.raw).resourceSpans[0].scopeSpans[0].spans.length, 0) >= 4, 'four spans');
  const post = rx.posts[0];
  assert.equal(post.path, '/v1/traces');
  assert.equal(post.headers['content-type'], 'application/json');
  assert.match(post.headers['user-agent'], /^tollgate\//);
  assert.equal(post.headers['x-tenant-token'], 'abc');
  const bodies = rx.posts.map((p) => JSON.parse(p.raw));
  const rs = bodies[0].resourceSpans[0];
  assert.deepEqual(rs.resource.attributes[0], { key: 'service.name', value: { stringValue: 'gw-test' } });
  assert.equal(rs.scopeSpans[0].scope.name, 'tollgate');
  const spans = bodies.flatMap((b) => b.resourceSpans[0].scopeSpans[0].spans);
  const server = spans.find((s) => s.kind === 2 && s.spanId === row.span_id);
  const client = spans.find((s) => s.kind === 3 && s.parentSpanId === row.span_id);
  assert.ok(server && client, 'both spans of the call');

  // the caller's trace continues: our SERVER span is the child of the caller's span, the
  // provider saw our CLIENT span as its parent, and the caller got the SERVER span back
  assert.equal(server.traceId, CALLER_TRACE);
  assert.equal(client.traceId, CALLER_TRACE);
  assert.equal(server.parentSpanId, CALLER_SPAN);
  assert.equal(response.headers.get('traceparent'), `00-${CALLER_TRACE}-${server.spanId}-01`);
  const seen = mock.requests.find((r) => r.path === '/v1/chat/completions').headers.traceparent;
  assert.equal(seen, `00-${CALLER_TRACE}-${client.spanId}-01`);
  // encoding: lowercase hex ids of the right length, integer enums, int64 as strings
  for (const s of [server, client]) {
    assert.match(s.traceId, /^[0-9a-f]{32}$/);
    assert.match(s.spanId, /^[0-9a-f]{16}$/);
    assert.match(s.parentSpanId, /^[0-9a-f]{16}$/);
    assert.equal(typeof s.kind, 'number');
    assert.equal(typeof s.startTimeUnixNano, 'string');
    assert.match(s.startTimeUnixNano, /^\d{19}$/);
    assert.ok(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano));
    assert.deepEqual(s.status, { code: 0 });
    assert.equal(s.name, 'chat gpt-4o');
    for (const a of s.attributes) assert.equal(Object.keys(a.value).length, 1, `one AnyValue field in ${a.key}`);
  }
  assert.equal(server.flags, 0x301, 'sampled, is-remote known, parent remote');
  assert.equal(client.flags, 0x101, 'sampled, is-remote known, parent local');
  // the client span sits inside the server span
  assert.ok(BigInt(client.startTimeUnixNano) >= BigInt(server.startTimeUnixNano));
  assert.ok(BigInt(client.endTimeUnixNano) <= BigInt(server.endTimeUnixNano));

  // GenAI attributes (v1.41) and the business identity under tollgate.*
  assert.deepEqual(attr(client, 'gen_ai.operation.name'), { stringValue: 'chat' });
  assert.deepEqual(attr(client, 'gen_ai.provider.name'), { stringValue: 'openai' });
  assert.deepEqual(attr(client, 'gen_ai.request.model'), { stringValue: 'gpt-4o' });
  assert.deepEqual(attr(client, 'gen_ai.request.max_tokens'), { intValue: '100' });
  assert.deepEqual(attr(client, 'gen_ai.response.model'), { stringValue: 'gpt-4o-2024-08-06' });
  assert.deepEqual(attr(client, 'gen_ai.response.id'), { stringValue: row.response_id });
  assert.deepEqual(attr(client, 'gen_ai.response.finish_reasons'), { arrayValue: { values: [{ stringValue: 'stop' }] } });
  assert.deepEqual(attr(client, 'gen_ai.usage.input_tokens'), { intValue: '1200' });
  assert.deepEqual(attr(client, 'gen_ai.usage.cache_read.input_tokens'), { intValue: '1024' });
  assert.deepEqual(attr(client, 'gen_ai.usage.output_tokens'), { intValue: '85' });
  assert.deepEqual(attr(client, 'openai.api.type'), { stringValue: 'chat_completions' });
  assert.deepEqual(attr(client, 'server.address'), { stringValue: '127.0.0.1' });
  assert.deepEqual(attr(client, 'server.port'), { intValue: String(new URL(mock.url).port) });
  assert.equal(attr(server, 'server.address'), undefined);
  for (const s of [server, client]) {
    assert.deepEqual(attr(s, 'tollgate.call_id'), { stringValue: callId });
    assert.deepEqual(attr(s, 'tollgate.team'), { stringValue: 'payments' });
    assert.deepEqual(attr(s, 'tollgate.cost_center'), { stringValue: 'CC-1' });
    assert.deepEqual(attr(s, 'tollgate.workflow_id'), { stringValue: 'run-7' });
    assert.deepEqual(attr(s, 'tollgate.cost_usd'), { stringValue: '0.002056' });
    assert.deepEqual(attr(s, 'tollgate.cost_nanos'), { intValue: '2056000' });
  }
  assert.deepEqual(attr(server, 'http.route'), { stringValue: '/v1/chat/completions' });

  // the failed call: status ERROR (2) with error.type on both spans
  const failed = spans.filter((s) => s.status.code === 2);
  assert.equal(failed.length, 2);
  for (const s of failed) {
    assert.deepEqual(s.status, { code: 2, message: 'server_error' });
    assert.deepEqual(attr(s, 'error.type'), { stringValue: 'server_error' });
    assert.deepEqual(attr(s, 'http.response.status_code'), { intValue: '500' });
  }
  const { series } = await scrape(gw);
  assert.equal(series.find((s) => s.name === 'tollgate_otlp_spans_exported_total').value, '4');
});

test('OTLP: a 503 with Retry-After is retried after the delay; a 400 is never retried and its spans are counted as dropped', async (t) => {
  const mock = await startMock();
  t.after(() => mock.close());
  let mode = 'retry';
  const rx = await startReceiver(t, (n) => {
    if (mode === 'retry') return n === 1 ? { status: 503, headers: { 'retry-after': '1' }, body: '{"code":14,"message":"busy"}' } : { status: 200, body: '{}' };
    if (mode === 'partial') return { status: 200, body: '{"partialSuccess":{"rejectedSpans":"1","errorMessage":"1 span had an invalid id"}}' };
    return { status: 400, body: '{"code":3,"message":"bad data"}' };
  });
  const gw = await startGateway(t, { mockUrl: mock.url, config: `telemetry:\n  otlp:\n    endpoint: ${rx.url}\n    flush_ms: 20\n` });
  const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0 });
  const metric = async (name, labels = {}) => (await scrape(gw)).series.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

  await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
  await until(() => rx.posts.length >= 2, 'the retried export', 8000);
  assert.equal(rx.posts[0].path, '/v1/traces', 'the base endpoint gets v1/traces appended');
  assert.equal(rx.posts[1].raw, rx.posts[0].raw, 'the same batch is sent again');
  assert.ok(rx.posts[1].at - rx.posts[0].at >= 950, `retry waited ${rx.posts[1].at - rx.posts[0].at} ms for Retry-After: 1`);
  assert.match(gw.stderr(), /event=otlp_export_retry status=503 attempt=1 wait_ms=1000/);
  await until(async () => (await metric('tollgate_otlp_spans_exported_total')) === '2', 'two exported spans');
  assert.equal(await metric('tollgate_otlp_export_retries_total'), '1');

  mode = 'partial';
  await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
  await until(() => rx.posts.length >= 3, 'the partial-success export');
  await until(async () => (await metric('tollgate_otlp_spans_dropped_total', { reason: 'rejected' })) === '1', 'one rejected span');
  assert.equal(await metric('tollgate_otlp_spans_exported_total'), '3');

  mode = 'bad';
  await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
  await until(() => rx.posts.length >= 4, 'the rejected export');
  await sleep(1500);
  assert.equal(rx.posts.length, 4, 'a 400 is not retried');
  assert.equal(await metric('tollgate_otlp_spans_dropped_total', { reason: 'rejected' }), '3');
  assert.equal(await metric('tollgate_otlp_export_retries_total'), '1');
  assert.match(gw.stderr(), /event=otlp_export_failed status=400 error="" spans=2 note=dropped/);
});

test('OTLP: a collector that refuses connections costs retries then counted drops; one that hangs cannot hold up shutdown', async (t) => {
  const mock = await startMock();
  t.after(() => mock.close());
  // a port with nothing listening: connection refused, retried once, then dropped as failed
  const closed = http.createServer();
  await new Promise((r) => closed.listen(0, '127.0.0.1', r));
  const deadPort = closed.address().port;
  await new Promise((r) => closed.close(r));
  const gw = await startGateway(t, { mockUrl: mock.url, config: `telemetry:\n  otlp:\n    traces_endpoint: http://127.0.0.1:${deadPort}/v1/traces\n    flush_ms: 20\n    max_retries: 1\n` });
  const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0 });
  await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
  const failed = async () => (await scrape(gw)).series.find((s) => s.name === 'tollgate_otlp_spans_dropped_total' && s.labels.reason === 'failed')?.value;
  await until(async () => (await failed()) === '2', 'two spans dropped after the retry', 8000);
  assert.equal((await scrape(gw)).series.find((s) => s.name === 'tollgate_otlp_export_retries_total').value, '1');
  assert.match(gw.stderr(), /event=otlp_export_retry status=0 attempt=1/);

  // a collector that accepts and never answers: SIGTERM still ends the gateway promptly
  const hung = [];
  const sink = http.createServer((req) => { hung.push(req); });
  await new Promise((r) => sink.listen(0, '127.0.0.1', r));
  t.after(() => { for (const r of hung) r.socket.destroy(); return new Promise((r) => sink.close(r)); });
  const gw2 = await startGateway(t, { mockUrl: mock.url, config: `telemetry:\n  otlp:\n    traces_endpoint: http://127.0.0.1:${sink.address().port}/v1/traces\n    flush_ms: 5000\n    timeout_ms: 400\n` });
  const openai2 = new OpenAI({ baseURL: `${gw2.url}/v1`, apiKey: 'sk', maxRetries: 0 });
  await openai2.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
  const t0 = Date.now();
  const { code } = await gw2.stop();
  assert.equal(code, 0);
  assert.ok(Date.now() - t0 < 3000, `shutdown took ${Date.now() - t0} ms`);
  assert.equal(hung.length, 1, 'the final flush tried once');
  assert.match(gw2.stderr(), /event=otlp_export_failed status=0 error="Timeout was reached" spans=2 note=dropped/);
});
