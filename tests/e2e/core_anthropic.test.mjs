// tests/e2e/core_anthropic.test.mjs - the official @anthropic-ai/sdk through tollgate: results and exact ledger rows
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMock } from '../mock/mock-provider.mjs';
import { startGateway, ledgerRow, pick, zeroTokens, TOKEN_COLUMNS } from './lib/harness.mjs';

let mock, gw, client;
before(async () => {
  mock = await startMock();
  gw = await startGateway(null, { mockUrl: mock.url });
  client = new Anthropic({ baseURL: gw.url, apiKey: 'sk-ant-test', maxRetries: 0 });
});
after(async () => {
  await gw?.close();
  await mock?.close();
});

const rowOf = (response) => ledgerRow(gw.ledgerPath, response.headers.get('x-tollgate-call-id'));
const tokens = (row) => pick(row, TOKEN_COLUMNS);

test('non-streaming message with 5m and 1h cache writes and web search: input normalized to include cache', async () => {
  mock.reset();
  mock.enqueue({ usage: { input_tokens: 12, cache_read_input_tokens: 4096, cache_creation_input_tokens: 3072, cache_creation: { ephemeral_5m_input_tokens: 2048, ephemeral_1h_input_tokens: 1024 }, output_tokens: 310, server_tool_use: { web_search_requests: 2, web_fetch_requests: 1 } } });
  const { data, response } = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 512, messages: [{ role: 'user', content: 'Hello' }] }).withResponse();
  assert.equal(data.content[0].text, 'Hello there!');
  assert.equal(data.usage.input_tokens, 12);
  assert.equal(response.headers.get('x-tollgate-model'), 'claude-sonnet-4-5-20250929');
  const row = rowOf(response);
  assert.deepEqual(pick(row, ['provider', 'operation', 'endpoint', 'request_model', 'response_model', 'outcome', 'status_code', 'finish_reason', 'service_tier']), {
    provider: 'anthropic', operation: 'chat', endpoint: '/v1/messages', request_model: 'claude-sonnet-4-5', response_model: 'claude-sonnet-4-5-20250929', outcome: 'ok', status_code: 200, finish_reason: 'end_turn', service_tier: 'standard',
  });
  // 12 uncached + 4096 cache reads + 3072 cache writes = 7180 input tokens (OTel rule)
  assert.deepEqual(tokens(row), zeroTokens({ input_tokens: 7180, cached_input_tokens: 4096, cache_write_5m_tokens: 2048, cache_write_1h_tokens: 1024, output_tokens: 310, web_search_requests: 2, web_fetch_requests: 1 }));
  assert.equal(row.provider_request_id, response.headers.get('request-id'));
  // the SDK's credentials and API version reach the provider unchanged (this SDK version
  // authenticates with a Bearer token; older ones use x-api-key: both pass through)
  const seen = mock.requests[0];
  assert.equal(seen.headers.authorization ?? `Bearer ${seen.headers['x-api-key']}`, 'Bearer sk-ant-test');
  assert.match(seen.headers['anthropic-version'], /^\d{4}-\d{2}-\d{2}$/);
});

test('streaming message: cumulative message_delta usage is overwritten, never summed', async () => {
  mock.reset();
  mock.enqueue({ usage: { input_tokens: 30, cache_read_input_tokens: 100, cache_creation_input_tokens: 50, output_tokens: 40 } });
  const stream = client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'Hello' }] });
  const text = [];
  stream.on('text', (t) => text.push(t));
  const final = await stream.finalMessage();
  assert.equal(text.join(''), 'Hello there!');
  assert.equal(final.usage.output_tokens, 40);
  const { response } = await stream.withResponse();
  const row = rowOf(response);
  assert.deepEqual(pick(row, ['is_stream', 'outcome', 'finish_reason', 'response_model']), { is_stream: 1, outcome: 'ok', finish_reason: 'end_turn', response_model: 'claude-sonnet-4-5-20250929' });
  // message_start said output 1, the deltas 20 then 40: the last cumulative value wins
  assert.deepEqual(tokens(row), zeroTokens({ input_tokens: 180, cached_input_tokens: 100, cache_write_5m_tokens: 50, output_tokens: 40 }));
});

test('tool use, non-streaming and streaming', async () => {
  mock.reset();
  const tools = [{ name: 'get_weather', description: 'weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
  const { data, response } = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 100, tools, messages: [{ role: 'user', content: 'weather in Paris?' }] }).withResponse();
  assert.equal(data.stop_reason, 'tool_use');
  assert.equal(data.content[1].name, 'get_weather');
  assert.deepEqual(tokens(rowOf(response)), zeroTokens({ input_tokens: 25, output_tokens: 12, tool_call_output_tokens: 12, tool_calls: 1 }));

  const stream = client.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 100, tools, messages: [{ role: 'user', content: 'weather in Paris?' }] });
  const final = await stream.finalMessage();
  assert.deepEqual(final.content[1].input, { city: 'Paris' });
  const { response: r2 } = await stream.withResponse();
  const row = rowOf(r2);
  assert.equal(row.finish_reason, 'tool_use');
  assert.deepEqual(tokens(row), zeroTokens({ input_tokens: 25, output_tokens: 12, tool_call_output_tokens: 12, tool_calls: 1 }));
});

test('mid-stream error event: relayed to the SDK, recorded as the provider error', async () => {
  mock.reset();
  mock.enqueue({ errorEvent: { type: 'overloaded_error', message: 'Overloaded' }, afterEvents: 4 });
  const stream = client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'Hello' }] });
  await assert.rejects(stream.finalMessage(), (e) => /Overloaded/.test(e.message));
  const { response } = await stream.withResponse();
  const row = rowOf(response);
  assert.deepEqual(pick(row, ['outcome', 'error_type', 'status_code', 'is_stream']), { outcome: 'upstream_error', error_type: 'overloaded_error', status_code: 200, is_stream: 1 });
  // message_start already reported the input; output is what message_start said (1) at least
  assert.equal(row.input_tokens, 25);
  assert.equal(row.usage_estimated, 1);
});

test('the /anthropic prefix and a missing anthropic-version reach the provider unchanged', async () => {
  mock.reset();
  const prefixed = new Anthropic({ baseURL: `${gw.url}/anthropic`, apiKey: 'sk-ant-test', maxRetries: 0 });
  const msg = await prefixed.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(msg.content[0].text, 'Hello there!');
  assert.equal(mock.requests[0].path, '/v1/messages');

  // an old-style client with x-api-key but no anthropic-version: the provider's own 401 passes through
  const res = await fetch(`${gw.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-test' }, body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [] }) });
  assert.equal(res.status, 401);
  const body = await res.json();
  assert.deepEqual(body.error, { type: 'authentication_error', message: 'anthropic-version header is required' });
  const row = ledgerRow(gw.ledgerPath, res.headers.get('x-tollgate-call-id'));
  assert.deepEqual(pick(row, ['outcome', 'status_code', 'error_type', 'input_tokens', 'usage_estimated']), { outcome: 'upstream_error', status_code: 401, error_type: 'authentication_error', input_tokens: 0, usage_estimated: 0 });
});
