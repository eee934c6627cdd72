// tests/e2e/core_openai.test.mjs - the official openai SDK through tollgate: results and exact ledger rows
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import OpenAI from 'openai';
import { startMock } from '../mock/mock-provider.mjs';
import { startGateway, ledgerRow, ledgerRows, pick, zeroTokens, TOKEN_COLUMNS } from './lib/harness.mjs';

let mock, gw, client;
before(async () => {
  mock = await startMock();
  gw = await startGateway(null, { mockUrl: mock.url });
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk-test-openai', maxRetries: 0 });
});
after(async () => {
  await gw?.close();
  await mock?.close();
});

async function setup() {
  mock.reset();
}

const rowOf = (response) => ledgerRow(gw.ledgerPath, response.headers.get('x-tollgate-call-id'));
const tokens = (row) => pick(row, TOKEN_COLUMNS);

test('non-streaming chat: SDK result, headers, exact ledger row with cached, reasoning and audio tokens', async (t) => {
  await setup();
  mock.enqueue({ usage: { prompt_tokens: 1200, completion_tokens: 85, prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 30 }, completion_tokens_details: { reasoning_tokens: 40, audio_tokens: 5, rejected_prediction_tokens: 3 } } });
  const { data, response } = await client.chat.completions
    .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Say hello' }] }, { headers: { 'x-request-id': 'biz-req-42' } })
    .withResponse();
  assert.equal(data.choices[0].message.content, 'Hello there!');
  assert.equal(data.model, 'gpt-4o-2024-08-06');
  assert.equal(data.usage.prompt_tokens, 1200);
  assert.equal(response.headers.get('x-request-id'), 'biz-req-42');
  assert.equal(response.headers.get('x-tollgate-model'), 'gpt-4o-2024-08-06');
  assert.match(response.headers.get('x-tollgate-call-id'), /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.match(response.headers.get('x-tollgate-provider-request-id'), /^req_/);
  const row = rowOf(response);
  assert.deepEqual(pick(row, ['request_id', 'provider', 'operation', 'endpoint', 'request_model', 'response_model', 'status_code', 'outcome', 'error_type', 'is_stream', 'attempt', 'finish_reason', 'service_tier']), {
    request_id: 'biz-req-42', provider: 'openai', operation: 'chat', endpoint: '/v1/chat/completions', request_model: 'gpt-4o', response_model: 'gpt-4o-2024-08-06',
    status_code: 200, outcome: 'ok', error_type: null, is_stream: 0, attempt: 1, finish_reason: 'stop', service_tier: 'default',
  });
  assert.equal(row.provider_request_id, response.headers.get('x-tollgate-provider-request-id'));
  assert.equal(row.response_id, data.id);
  assert.deepEqual(tokens(row), zeroTokens({ input_tokens: 1200, cached_input_tokens: 1024, audio_input_tokens: 30, output_tokens: 85, reasoning_tokens: 40, audio_output_tokens: 5, rejected_prediction_tokens: 3 }));
  // the provider got the caller's key and no internal headers
  const seen = mock.requests[0];
  assert.equal(seen.headers.authorization, 'Bearer sk-test-openai');
  assert.equal(seen.headers['x-request-id'], undefined);
});

test('response headers: the provider\'s own pass through; its server, hop-by-hop and x-tollgate-* ones do not', async () => {
  await setup();
  mock.enqueue({
    headers: {
      server: 'mock/1.0', 'keep-alive': 'timeout=5', 'openai-processing-ms': '12', 'x-ratelimit-remaining-requests': '99',
      'x-tollgate-cost-usd': '999', 'x-tollgate-abc': 'spoofed', 'x-tollgate-model': 'spoofed', 'x-tollgate-abcdefg': 'spoofed',
    },
  });
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test-openai' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.status, 200);
  await res.json();
  assert.equal(res.headers.get('server'), 'tollgate');
  assert.equal(res.headers.get('keep-alive'), null);
  assert.equal(res.headers.get('openai-processing-ms'), '12');
  assert.equal(res.headers.get('x-ratelimit-remaining-requests'), '99');
  assert.equal(res.headers.get('x-tollgate-model'), 'gpt-4o-mini-2024-07-18');
  // the gateway's own cost header, the row's cost_nanos in dollars, not the provider's
  const nanos = String(rowOf(res).cost_nanos).padStart(10, '0');
  const usd = `${nanos.slice(0, -9)}.${nanos.slice(-9)}`.replace(/0+$/, '');
  assert.equal(res.headers.get('x-tollgate-cost-usd'), usd);
  for (const name of ['x-tollgate-abc', 'x-tollgate-abcdefg'])
    assert.equal(res.headers.get(name), null, name);
  // gateway answers of its own say who made them too
  assert.equal((await fetch(`${gw.url}/healthz`)).headers.get('server'), 'tollgate');
});

test('x-request-id is generated (UUIDv7) when the caller sends none', async (t) => {
  await setup();
  const { response } = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  const rid = response.headers.get('x-request-id');
  assert.match(rid, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
  assert.equal(rowOf(response).request_id, rid);
});

test('streaming chat: include_usage injected upstream, usage chunk hidden from the client, exact usage in the ledger', async (t) => {
  await setup();
  const { data: stream, response } = await client.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'Hello there!');
  assert.equal(chunks.length, 5);
  assert.ok(chunks.every((c) => c.choices.length === 1), 'the client never sees the usage-only chunk');
  assert.ok(chunks.every((c) => c.usage === null), 'the injected option makes every chunk carry usage:null, as OpenAI does');
  assert.deepEqual(mock.requests[0].body.stream_options, { include_usage: true });
  const row = rowOf(response);
  assert.deepEqual(pick(row, ['outcome', 'is_stream', 'response_model', 'finish_reason', 'status_code']), { outcome: 'ok', is_stream: 1, response_model: 'gpt-4o-2024-08-06', finish_reason: 'stop', status_code: 200 });
  assert.deepEqual(tokens(row), zeroTokens({ input_tokens: 17, output_tokens: 9 }));
  assert.ok(row.ttft_ms >= 0);
  // what the client received: every event but the dropped usage chunk
  const relayed = chunks.reduce((n, c) => n + Buffer.byteLength(`data: ${JSON.stringify(c)}\n\n`), 0) + Buffer.byteLength('data: [DONE]\n\n');
  assert.equal(row.response_bytes, relayed);
});

test('streaming chat where the client asked for usage itself: it sees the usage chunk', async (t) => {
  await setup();
  const stream = await client.chat.completions.create({ model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.prompt_tokens, 17);
  assert.equal(last.usage.completion_tokens, 9);
  assert.equal(ledgerRows(gw.ledgerPath, "is_stream = 1 AND outcome = 'ok'").at(-1).output_tokens, 9);
});

test('tool calls, non-streaming and streaming: count and tool-call output tokens', async (t) => {
  await setup();
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const { data, response } = await client.chat.completions.create({ model: 'gpt-4o', tools, messages: [{ role: 'user', content: 'weather in Paris and Rome?' }] }).withResponse();
  assert.equal(data.choices[0].finish_reason, 'tool_calls');
  assert.equal(data.choices[0].message.tool_calls.length, 2);
  let row = rowOf(response);
  assert.deepEqual(tokens(row), zeroTokens({ input_tokens: 17, output_tokens: 9, tool_call_output_tokens: 9, tool_calls: 2 }));
  assert.equal(row.finish_reason, 'tool_calls');

  const { data: stream, response: r2 } = await client.chat.completions.create({ model: 'gpt-4o', tools, stream: true, messages: [{ role: 'user', content: 'weather please' }] }).withResponse();
  const args = [];
  for await (const c of stream) for (const tc of c.choices[0]?.delta?.tool_calls ?? []) args[tc.index] = (args[tc.index] ?? '') + (tc.function?.arguments ?? '');
  assert.deepEqual(args, ['{"city":"Paris"}', '{"city":"Rome"}']);
  row = rowOf(r2);
  assert.deepEqual(tokens(row), zeroTokens({ input_tokens: 17, output_tokens: 9, tool_call_output_tokens: 9, tool_calls: 2 }));
});

test('embeddings and legacy completions', async (t) => {
  await setup();
  const { data, response } = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' }).withResponse();
  assert.equal(data.data.length, 1);
  assert.equal(data.data[0].embedding.length, 3);
  let row = rowOf(response);
  assert.deepEqual(pick(row, ['operation', 'endpoint', 'response_model', 'outcome']), { operation: 'embeddings', endpoint: '/v1/embeddings', response_model: 'text-embedding-3-small', outcome: 'ok' });
  assert.deepEqual(tokens(row), zeroTokens({ input_tokens: 8 }));

  const c = await client.completions.create({ model: 'gpt-4o-mini', prompt: 'hello' }).withResponse();
  assert.equal(c.data.choices[0].text, ' world');
  row = rowOf(c.response);
  assert.deepEqual(pick(row, ['operation', 'response_model']), { operation: 'text_completion', response_model: 'gpt-4o-mini-2024-07-18' });
  assert.deepEqual(tokens(row), zeroTokens({ input_tokens: 17, output_tokens: 9 }));
});

test('Responses API, non-streaming and streaming', async (t) => {
  await setup();
  mock.enqueue({ usage: { input_tokens: 900, output_tokens: 300, input_tokens_details: { cached_tokens: 512 }, output_tokens_details: { reasoning_tokens: 192 } } });
  const { data, response } = await client.responses.create({ model: 'gpt-5', input: 'hi' }).withResponse();
  assert.equal(data.output_text, 'Hello there!');
  let row = rowOf(response);
  assert.deepEqual(pick(row, ['operation', 'endpoint', 'response_model', 'response_id', 'finish_reason', 'outcome']), { operation: 'responses', endpoint: '/v1/responses', response_model: 'gpt-5-2025-08-07', response_id: 'resp_mock1', finish_reason: 'completed', outcome: 'ok' });
  assert.deepEqual(tokens(row), zeroTokens({ input_tokens: 900, cached_input_tokens: 512, output_tokens: 300, reasoning_tokens: 192 }));

  const { data: stream, response: r2 } = await client.responses.create({ model: 'gpt-5', input: 'hi', stream: true }).withResponse();
  const types = [];
  for await (const ev of stream) types.push(ev.type);
  assert.equal(types[0], 'response.created');
  assert.equal(types.at(-1), 'response.completed');
  row = rowOf(r2);
  assert.deepEqual(pick(row, ['is_stream', 'outcome', 'finish_reason']), { is_stream: 1, outcome: 'ok', finish_reason: 'completed' });
  assert.deepEqual(tokens(row), zeroTokens({ input_tokens: 21, output_tokens: 11 }));
});

test('a base URL with a path: requests reach the provider under it, with the query, Host and body intact', async (t) => {
  const client = process.env.TOLLGATE_UPSTREAM_CLIENT || 'auto';
  const gw2 = await startGateway(t, { config: `upstreams:\n  openai: { base_url: "${mock.url}/proxy/", client: ${client} }\n` });
  mock.reset();
  const res = await fetch(`${gw2.url}/v1/models?limit=2&after=x`, { headers: { authorization: 'Bearer sk-test-openai' } });
  assert.equal(res.status, 404); // the mock knows no /proxy/... route: its error passes through
  assert.equal((await res.json()).error.message, 'Invalid URL (GET /proxy/v1/models)');
  const seen = mock.requests.at(-1);
  assert.deepEqual([seen.method, seen.path, seen.query, seen.headers.host], ['GET', '/proxy/v1/models', '?limit=2&after=x', `127.0.0.1:${mock.port}`]);
  const chatBody = { model: 'gpt-4o', messages: [{ role: 'user', content: 'é ✓' }] };
  await fetch(`${gw2.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-test-openai', 'content-type': 'application/json' }, body: JSON.stringify(chatBody) });
  const post = mock.requests.at(-1);
  assert.deepEqual([post.method, post.path, post.headers['content-length'], post.body.messages], ['POST', '/proxy/v1/chat/completions', String(Buffer.byteLength(post.raw)), chatBody.messages]);
});

test('models list passes through, and the /openai prefix routes the same way', async (t) => {
  await setup();
  const models = [];
  for await (const m of client.models.list()) models.push(m.id);
  assert.ok(models.includes('gpt-4o-2024-08-06'));
  const row = ledgerRows(gw.ledgerPath, "operation = 'models'").at(-1);
  assert.deepEqual(pick(row, ['endpoint', 'outcome', 'status_code', 'input_tokens', 'usage_estimated']), { endpoint: '/v1/models', outcome: 'ok', status_code: 200, input_tokens: 0, usage_estimated: 0 });

  const prefixed = new OpenAI({ baseURL: `${gw.url}/openai/v1`, apiKey: 'sk-test-openai', maxRetries: 0 });
  const { data, response } = await prefixed.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  assert.equal(data.choices[0].message.content, 'Hello there!');
  assert.equal(mock.requests.at(-1).path, '/v1/chat/completions');
  assert.equal(rowOf(response).endpoint, '/v1/chat/completions');
});

// The gateway polls a client's socket without reading it while a call runs (server/proxy.c,
// hold_client): a request pipelined behind one still waiting on the provider must be read
// once the first is answered, and answered in order on the same connection.
test('HTTP/1.1 pipelining: a request sent while the one before it waits on the provider is answered after it, each with its row', async () => {
  await setup();
  mock.enqueue({ delayMs: 300, usage: { prompt_tokens: 31, completion_tokens: 4 } }, { usage: { prompt_tokens: 52, completion_tokens: 6 } });
  const body = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
  const request = (rid) => `POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer sk-test\r\nContent-Type: application/json\r\nX-Request-Id: ${rid}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const sock = net.connect(Number(new URL(gw.url).port), '127.0.0.1');
  let got = '';
  sock.setEncoding('latin1');
  sock.on('data', (d) => { got += d; });
  await new Promise((r) => sock.once('connect', r));
  sock.write(request('pipe-1'));
  while (mock.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
  sock.write(request('pipe-2')); // the first still waits on the provider's 300 ms
  const deadline = Date.now() + 5000;
  while ((got.match(/HTTP\/1\.1 200/g) ?? []).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  sock.destroy();
  const heads = [...got.matchAll(/HTTP\/1\.1 (\d+)[^]*?\r\nx-request-id: ([^\r]+)/gi)].map((m) => [m[1], m[2]]);
  assert.deepEqual(heads, [['200', 'pipe-1'], ['200', 'pipe-2']]);
  const usage = [...got.matchAll(/"prompt_tokens":(\d+)/g)].map((m) => Number(m[1]));
  assert.deepEqual(usage, [31, 52]);
  const rows = ledgerRows(gw.ledgerPath, "request_id LIKE 'pipe-%'").sort((a, b) => a.request_id.localeCompare(b.request_id));
  assert.deepEqual(rows.map((r) => pick(r, ['request_id', 'outcome', 'input_tokens', 'output_tokens'])), [
    { request_id: 'pipe-1', outcome: 'ok', input_tokens: 31, output_tokens: 4 },
    { request_id: 'pipe-2', outcome: 'ok', input_tokens: 52, output_tokens: 6 },
  ]);
});
