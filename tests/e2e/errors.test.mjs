// tests/e2e/errors.test.mjs - every bad input and every provider failure: a precise error in the caller's dialect and a ledger row
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startMock } from '../mock/mock-provider.mjs';
import { startGateway, ledgerRow, ledgerRows, waitForRows, pick } from './lib/harness.mjs';

let mock, gw, openai, anthropic;
const CONFIG = 'timeouts:\n  first_byte_ms: 300\n  idle_stream_ms: 300\nlimits:\n  max_body_bytes: 4096\n  max_header_bytes: 2048\n  max_response_bytes: 65536\n';
before(async () => {
  mock = await startMock();
  gw = await startGateway(null, { mockUrl: mock.url, config: CONFIG });
  openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk-test', maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'sk-ant', maxRetries: 0 });
});
after(async () => {
  await gw?.close();
  await mock?.close();
});

const rowOf = (headers) => ledgerRow(gw.ledgerPath, headers.get('x-tollgate-call-id'));
const chat = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] };
const FIELDS = ['outcome', 'status_code', 'error_type', 'usage_estimated', 'input_tokens', 'output_tokens'];

test('upstream 429 with retry-after: status, body and header pass through unchanged', async () => {
  mock.reset();
  const body = { error: { message: 'Rate limit reached for gpt-4o', type: 'requests', param: null, code: 'rate_limit_exceeded' } };
  mock.enqueue({ status: 429, headers: { 'retry-after': '7', 'x-ratelimit-remaining-requests': '0' }, body });
  const err = await openai.chat.completions.create(chat).catch((e) => e);
  assert.ok(err instanceof OpenAI.RateLimitError);
  assert.equal(err.status, 429);
  assert.deepEqual(err.error, body.error);
  assert.equal(err.headers.get('retry-after'), '7');
  assert.equal(err.headers.get('x-ratelimit-remaining-requests'), '0');
  assert.deepEqual(pick(rowOf(err.headers), FIELDS), { outcome: 'upstream_error', status_code: 429, error_type: 'rate_limit_exceeded', usage_estimated: 0, input_tokens: 0, output_tokens: 0 });
});

test('upstream 500 passes through; Anthropic errors keep their type', async () => {
  mock.reset();
  mock.enqueue({ status: 500, body: { error: { message: 'The server had an error', type: 'server_error', param: null, code: null } } });
  const err = await openai.chat.completions.create(chat).catch((e) => e);
  assert.ok(err instanceof OpenAI.InternalServerError);
  assert.equal(err.error.type, 'server_error');
  assert.deepEqual(pick(rowOf(err.headers), ['outcome', 'status_code', 'error_type']), { outcome: 'upstream_error', status_code: 500, error_type: 'server_error' });

  mock.enqueue({ status: 529, body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });
  const aerr = await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
  assert.equal(aerr.status, 529);
  assert.equal(aerr.error.error.type, 'overloaded_error');
  assert.deepEqual(pick(rowOf(aerr.headers), ['outcome', 'status_code', 'error_type']), { outcome: 'upstream_error', status_code: 529, error_type: 'overloaded_error' });
});

test('a provider that hangs: 504 in the caller dialect after first_byte_ms, spend estimated', async () => {
  mock.reset();
  mock.enqueue({ hang: true });
  const err = await openai.chat.completions.create(chat).catch((e) => e);
  assert.equal(err.status, 504);
  assert.equal(err.error.code, 'timeout');
  assert.equal(err.error.type, 'server_error');
  const row = rowOf(err.headers);
  assert.deepEqual(pick(row, ['outcome', 'status_code', 'error_type', 'usage_estimated']), { outcome: 'upstream_error', status_code: 504, error_type: 'timeout', usage_estimated: 1 });
  // the request reached the provider, which may bill it: input estimated from the body size
  const bodyBytes = Buffer.byteLength(JSON.stringify(chat));
  assert.equal(row.input_tokens, Math.ceil(bodyBytes / 4));

  mock.enqueue({ hang: true });
  const aerr = await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
  assert.equal(aerr.status, 504);
  assert.equal(aerr.error.type, 'error');
  assert.equal(aerr.error.error.type, 'timeout_error');
});

test('connection refused: 502 with connect_error, nothing estimated (both upstream clients)', async (t) => {
  const closed = await new Promise((r) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
  const clients = [
    ['auto', new RegExp(`^upstream openai: could not connect to 127\\.0\\.0\\.1:${closed} \\(connection failure\\)$`)],
    ['libcurl', /^upstream openai: Couldn't connect to server/],
  ];
  for (const [client, message] of clients) {
    const gw2 = await startGateway(t, { config: `upstreams:\n  openai: { base_url: "http://127.0.0.1:${closed}", client: ${client} }\n` });
    const sdk = new OpenAI({ baseURL: `${gw2.url}/v1`, apiKey: 'sk-test', maxRetries: 0 });
    const err = await sdk.chat.completions.create(chat).catch((e) => e);
    assert.equal(err.status, 502, client);
    assert.equal(err.error.code, 'connect_error');
    assert.match(err.error.message, message);
    const row = ledgerRow(gw2.ledgerPath, err.headers.get('x-tollgate-call-id'));
    assert.deepEqual(pick(row, FIELDS), { outcome: 'upstream_error', status_code: 502, error_type: 'connect_error', usage_estimated: 0, input_tokens: 0, output_tokens: 0 });
  }
});

test('provider answers 200 with malformed JSON: 502, estimated spend', async () => {
  mock.reset();
  mock.enqueue({ rawBody: '{"id":"chatcmpl-x","choices":[' });
  const err = await openai.chat.completions.create(chat).catch((e) => e);
  assert.equal(err.status, 502);
  assert.equal(err.error.code, 'malformed_response');
  const row = rowOf(err.headers);
  assert.deepEqual(pick(row, ['outcome', 'status_code', 'error_type', 'usage_estimated']), { outcome: 'upstream_error', status_code: 502, error_type: 'malformed_response', usage_estimated: 1 });
  assert.ok(row.input_tokens > 0);
});

test('a non-streaming answer over limits.max_response_bytes: 502 response_too_large, estimated spend', async () => {
  mock.reset();
  mock.enqueue({ rawBody: JSON.stringify({ id: 'chatcmpl-big', object: 'chat.completion', pad: 'x'.repeat(200000) }) });
  const err = await openai.chat.completions.create(chat).catch((e) => e);
  assert.equal(err.status, 502);
  assert.equal(err.error.code, 'response_too_large');
  assert.equal(err.error.message, 'upstream openai: the answer is longer than limits.max_response_bytes (65536)');
  const bodyBytes = Buffer.byteLength(JSON.stringify(chat));
  assert.deepEqual(pick(rowOf(err.headers), FIELDS), { outcome: 'upstream_error', status_code: 502, error_type: 'response_too_large', usage_estimated: 1, input_tokens: Math.ceil(bodyBytes / 4), output_tokens: 0 });
});

test('provider answers with broken HTTP: 502 upstream_io_error, estimated spend, never guessed at', async () => {
  const own = !process.env.TOLLGATE_UPSTREAM_CLIENT; // the messages are the own client's words
  const cases = [
    ['not HTTP at all', 'SSH-2.0-OpenSSH_9.2\r\n\r\n', /the provider's answer is not a valid HTTP\/1\.1 response/],
    ['two different lengths', 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}', /not a valid HTTP\/1\.1 response/],
    ['closed inside the body', 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id":"chatcmpl-x"', /closed the connection before the response ended/],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n', /chunked body is malformed/],
  ];
  const bodyBytes = Buffer.byteLength(JSON.stringify(chat));
  for (const [name, raw, message] of cases) {
    mock.reset();
    mock.enqueue({ rawResponse: raw });
    const err = await openai.chat.completions.create(chat).catch((e) => e);
    assert.equal(err.status, 502, name);
    assert.equal(err.error.code, 'upstream_io_error', name);
    if (own) assert.match(err.error.message, message, name);
    const row = rowOf(err.headers);
    assert.deepEqual(pick(row, FIELDS), { outcome: 'upstream_error', status_code: 502, error_type: 'upstream_io_error', usage_estimated: 1, input_tokens: Math.ceil(bodyBytes / 4), output_tokens: 0 }, name);
  }
});

test('stream cut mid-way by the provider: the client stream fails, the row says truncated and estimated', async () => {
  mock.reset();
  mock.enqueue({ cutAfterEvents: 3 });
  const { data: stream, response } = await openai.chat.completions.create({ ...chat, stream: true }).withResponse();
  const got = [];
  await assert.rejects(async () => { for await (const c of stream) got.push(c); });
  assert.equal(got.map((c) => c.choices[0].delta.content ?? '').join(''), 'Hello there');
  const row = rowOf(response.headers);
  assert.deepEqual(pick(row, ['outcome', 'status_code', 'error_type', 'usage_estimated', 'is_stream']), { outcome: 'upstream_error', status_code: 200, error_type: 'stream_truncated', usage_estimated: 1, is_stream: 1 });
  // 3 content events were relayed: output estimated at one token each; input from the body
  assert.equal(row.output_tokens, 3);
  assert.ok(row.input_tokens > 0);
});

test('client aborts mid-stream: the upstream transfer is cancelled and the row says client_aborted', async () => {
  mock.reset();
  mock.enqueue({ slowStreamMs: 150 });
  const ac = new AbortController();
  const { data: stream, response } = await openai.chat.completions.create({ ...chat, stream: true }, { signal: ac.signal }).withResponse();
  const callId = response.headers.get('x-tollgate-call-id');
  // the SDK ends the iteration (or throws an abort error) once the signal fires
  let seen = 0;
  await (async () => { for await (const c of stream) { if (c.choices[0]?.delta?.content) { seen++; ac.abort(); } } })().catch((e) => assert.match(e.name, /Abort/));
  assert.equal(seen, 1);
  const [row] = await waitForRows(gw.ledgerPath, 1, `call_id = '${callId}' AND outcome != 'incomplete'`);
  assert.deepEqual(pick(row, ['outcome', 'error_type', 'usage_estimated', 'is_stream']), { outcome: 'client_aborted', error_type: 'client_closed', usage_estimated: 1, is_stream: 1 });
  // the provider saw its connection closed before the stream ended
  const deadline = Date.now() + 5000;
  while (!mock.requests[0].closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(mock.requests[0].closed, true);
});

test('a client that stops reading a 48 MB stream holds the provider back; memory stays bounded; the row is whole', async () => {
  mock.reset();
  mock.enqueue({ bigStream: { bytes: 48 << 20, eventBytes: 16 << 10 }, usage: { prompt_tokens: 11, completion_tokens: 3000 } });
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${gw.proc.pid}/status`, 'utf8'))[1]) * 1024;
  const rssBefore = rss();
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk' }, body: JSON.stringify({ ...chat, stream: true }) });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  let received = (await reader.read()).value.length;
  await new Promise((r) => setTimeout(r, 1500)); // the client reads nothing for 1.5 s
  const written = mock.requests[0].written, held = rss() - rssBefore;
  // without backpressure the provider would have written all 48 MB into the gateway by now;
  // with it, only what the kernel's socket buffers and the gateway's bounded buffers hold
  assert.ok(written < 32 << 20, `the provider wrote ${written} bytes while the client was not reading`);
  assert.ok(held < 24 << 20, `gateway RSS grew by ${held} bytes`);
  for (let r = await reader.read(); !r.done; r = await reader.read()) received += r.value.length;
  assert.ok(mock.requests[0].written > 48 << 20);
  const callId = res.headers.get('x-tollgate-call-id');
  const [row] = await waitForRows(gw.ledgerPath, 1, `call_id = '${callId}' AND outcome != 'incomplete'`);
  assert.deepEqual(pick(row, ['outcome', 'status_code', 'error_type', 'is_stream', 'usage_estimated', 'input_tokens', 'output_tokens', 'response_bytes']),
    { outcome: 'ok', status_code: 200, error_type: null, is_stream: 1, usage_estimated: 0, input_tokens: 11, output_tokens: 3000, response_bytes: received });
});

test('client sends malformed JSON: 400 in the OpenAI and Anthropic dialects, never forwarded', async () => {
  mock.reset();
  let res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk' }, body: '{"model":' });
  assert.equal(res.status, 400);
  const callId = res.headers.get('x-tollgate-call-id');
  assert.deepEqual(await res.json(), { error: { message: 'request body is not valid JSON', type: 'invalid_request_error', param: null, code: 'invalid_json' }, tollgate: { call_id: callId, error: 'invalid_json' } });
  assert.deepEqual(pick(ledgerRow(gw.ledgerPath, callId), ['outcome', 'status_code', 'error_type', 'provider', 'endpoint', 'attempt']), { outcome: 'refused', status_code: 400, error_type: 'invalid_json', provider: 'openai', endpoint: '/v1/chat/completions', attempt: 0 });

  res = await fetch(`${gw.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[1,2]' });
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.deepEqual(body.error, { type: 'invalid_request_error', message: 'request body must be a JSON object' });
  assert.equal(body.type, 'error');
  assert.equal(mock.requests.length, 0);
});

test('oversized body: 413 in dialect with a ledger row', async () => {
  mock.reset();
  const big = { model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(5000) }] };
  const err = await openai.chat.completions.create(big).catch((e) => e);
  assert.equal(err.status, 413);
  assert.equal(err.error.code, 'body_too_large');
  assert.match(err.error.message, /exceeds the limit of 4096 bytes/);
  assert.deepEqual(pick(rowOf(err.headers), ['outcome', 'status_code', 'error_type']), { outcome: 'refused', status_code: 413, error_type: 'body_too_large' });
  assert.equal(mock.requests.length, 0);
});

test('oversized headers: 431 in dialect with a ledger row', async () => {
  const err = await openai.chat.completions.create(chat, { headers: { 'x-padding': 'p'.repeat(3000) } }).catch((e) => e);
  assert.equal(err.status, 431);
  assert.equal(err.error.code, 'headers_too_large');
  assert.match(err.error.message, /exceed the limit of 2048 bytes$/);
  assert.deepEqual(pick(rowOf(err.headers), ['outcome', 'status_code', 'error_type']), { outcome: 'refused', status_code: 431, error_type: 'headers_too_large' });
});

test('unknown route and wrong method: JSON 404/405 with rows', async () => {
  let res = await fetch(`${gw.url}/v1/nothing`, { method: 'POST', body: '{}' });
  assert.equal(res.status, 404);
  const body = await res.json();
  assert.equal(body.error.code, 'unknown_route');
  assert.equal(body.error.message, 'POST /v1/nothing is not a route of this gateway');
  assert.deepEqual(pick(ledgerRow(gw.ledgerPath, res.headers.get('x-tollgate-call-id')), ['outcome', 'status_code', 'error_type', 'endpoint']), { outcome: 'refused', status_code: 404, error_type: 'unknown_route', endpoint: '/v1/nothing' });
  res = await fetch(`${gw.url}/v1/chat/completions`);
  assert.equal(res.status, 405);
  assert.equal((await res.json()).error.code, 'method_not_allowed');
  assert.ok(ledgerRows(gw.ledgerPath, "error_type = 'method_not_allowed'").length === 1);
});

test('client hangs up while a non-streaming call waits on the provider: row client_aborted, provider connection closed', async () => {
  mock.reset();
  // the provider takes 2 s; the gateway checks a waiting client every 250 ms
  mock.enqueue({ delayMs: 2000 });
  const ac = new AbortController();
  const pending = openai.chat.completions.create(chat, { signal: ac.signal }).catch((e) => e);
  while (mock.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
  ac.abort();
  const err = await pending;
  assert.ok(err instanceof OpenAI.APIUserAbortError, `aborted by the user: ${err}`);
  const [row] = await waitForRows(gw.ledgerPath, 1, "outcome = 'client_aborted' AND is_stream = 0");
  assert.deepEqual(pick(row, ['error_type', 'attempt', 'usage_estimated']), { error_type: 'client_closed', attempt: 1, usage_estimated: 1 });
  // the request reached the provider, so its input is estimated, never booked as zero
  assert.equal(row.input_tokens, Math.ceil(Buffer.byteLength(JSON.stringify(chat)) / 4));
  const deadline = Date.now() + 5000;
  while (!mock.requests[0].closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(mock.requests[0].closed, true);
});

test('client hangs up while the gateway still sends a large body to a provider that does not read it: row client_aborted, upstream closed', async (t) => {
  // the body goes upstream from the client's own request buffer: the transfer, its
  // write half done, must end before that buffer goes (ASan checks it in make test)
  const m = await startMock();
  t.after(() => m.close());
  const g = await startGateway(t, { mockUrl: m.url, config: 'limits:\n  max_body_bytes: 67108864\n' });
  m.holdNextBody();
  const big = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(24 << 20) }] });
  const ac = new AbortController();
  const pending = fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk', 'content-type': 'application/json' }, body: big, signal: ac.signal }).catch((e) => e);
  while (m.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 100)); // the gateway's writes to the provider stall
  ac.abort();
  assert.equal((await pending).name, 'AbortError');
  const [row] = await waitForRows(g.ledgerPath, 1, "outcome = 'client_aborted'");
  // the body never reached the provider whole: nothing it could bill, nothing estimated
  assert.deepEqual(pick(row, ['error_type', 'request_bytes', 'is_stream', 'usage_estimated', 'input_tokens']), { error_type: 'client_closed', request_bytes: big.length, is_stream: 0, usage_estimated: 0, input_tokens: 0 });
  // the provider reads on: it gets what was in the kernel's buffers, then the end of a
  // connection the gateway closed, never the whole body
  m.requests[0].resume();
  const deadline = Date.now() + 5000;
  while (!m.requests[0].closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(m.requests[0].closed, true, 'the provider connection is closed');
  assert.ok(m.requests[0].received < big.length, `the body was cut (${m.requests[0].received} of ${big.length} bytes)`);
});

test('a stream that goes quiet past idle_stream_ms is aborted and recorded as a timeout', async () => {
  mock.reset();
  mock.enqueue({ slowStreamMs: 600 }); // 600 ms between events, idle limit 300 ms
  const { data: stream, response } = await openai.chat.completions.create({ ...chat, stream: true }).withResponse();
  const got = [];
  await assert.rejects(async () => { for await (const c of stream) got.push(c); });
  assert.ok(got.length >= 1 && got.length < 5, `some chunks arrived before the stall (${got.length})`);
  const row = ledgerRow(gw.ledgerPath, response.headers.get('x-tollgate-call-id'));
  assert.deepEqual(pick(row, ['outcome', 'error_type', 'status_code', 'is_stream', 'usage_estimated']), { outcome: 'upstream_error', error_type: 'timeout', status_code: 200, is_stream: 1, usage_estimated: 1 });
});
