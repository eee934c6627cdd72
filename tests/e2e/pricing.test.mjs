// tests/e2e/pricing.test.mjs - the same calls as tests/data/pricing.cases, through the gateway: row costs and x-tollgate-cost-usd
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startMock } from '../mock/mock-provider.mjs';
import { startGateway, ledgerRow, pick } from './lib/harness.mjs';

const CARD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../data/pricing_test_card.csv');
const COST = ['cost_nanos', 'input_cost_nanos', 'cached_input_cost_nanos', 'cache_write_cost_nanos', 'output_cost_nanos', 'other_cost_nanos', 'list_cost_nanos', 'cache_savings_nanos', 'price_ref'];

let mock, gw, openai, anthropic;
before(async () => {
  mock = await startMock();
  // the test card layered over the shipped one: it wins for the models it names
  gw = await startGateway(null, { mockUrl: mock.url, args: ['--pricing', CARD] });
  openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'sk-ant', maxRetries: 0 });
});
after(async () => {
  await gw?.close();
  await mock?.close();
});

test('OpenAI chat: the response model prices the call (card line 3, in force since 2026-01-01)', async () => {
  mock.enqueue({ usage: { prompt_tokens: 1200, completion_tokens: 85, prompt_tokens_details: { cached_tokens: 1024 } } });
  const { response } = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  // 176 x 2.00 = 352000; 1024 x 1.00 = 1024000; 85 x 8.00 = 680000 (pricing.cases, case 2)
  assert.equal(response.headers.get('x-tollgate-cost-usd'), '0.002056');
  const row = ledgerRow(gw.ledgerPath, response.headers.get('x-tollgate-call-id'));
  assert.deepEqual(pick(row, COST), {
    cost_nanos: 2056000, input_cost_nanos: 352000, cached_input_cost_nanos: 1024000, cache_write_cost_nanos: 0,
    output_cost_nanos: 680000, other_cost_nanos: 0, list_cost_nanos: 2056000, cache_savings_nanos: 1024000,
    price_ref: 'pricing_test_card.csv:3:exact',
  });
});

test('Anthropic: cache writes by TTL and web search fees (pricing.cases, case 6)', async () => {
  mock.enqueue({ usage: { input_tokens: 12, cache_read_input_tokens: 4096, cache_creation_input_tokens: 3072, cache_creation: { ephemeral_5m_input_tokens: 2048, ephemeral_1h_input_tokens: 1024 }, output_tokens: 310, server_tool_use: { web_search_requests: 2 } } });
  const { response } = await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 400, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  assert.equal(response.headers.get('x-tollgate-cost-usd'), '0.0397388');
  const row = ledgerRow(gw.ledgerPath, response.headers.get('x-tollgate-call-id'));
  assert.deepEqual(pick(row, COST), {
    cost_nanos: 39738800, input_cost_nanos: 36000, cached_input_cost_nanos: 1228800, cache_write_cost_nanos: 13824000,
    output_cost_nanos: 4650000, other_cost_nanos: 20000000, list_cost_nanos: 39738800, cache_savings_nanos: 11059200,
    price_ref: 'pricing_test_card.csv:8:exact',
  });
});

test('a streamed call is priced in the ledger (no header: headers leave before usage)', async () => {
  const { data: stream, response } = await openai.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  for await (const _ of stream);
  assert.equal(response.headers.get('x-tollgate-cost-usd'), null);
  const row = ledgerRow(gw.ledgerPath, response.headers.get('x-tollgate-call-id'));
  // 17 x 2.00 = 34000; 9 x 8.00 = 72000
  assert.deepEqual(pick(row, ['cost_nanos', 'input_cost_nanos', 'output_cost_nanos', 'price_ref']), { cost_nanos: 106000, input_cost_nanos: 34000, output_cost_nanos: 72000, price_ref: 'pricing_test_card.csv:3:exact' });
});

test('an unknown model is never booked as $0: NULL cost, "unpriced" header, a log line', async () => {
  const { response } = await openai.chat.completions.create({ model: 'mystery-model-1', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  assert.equal(response.headers.get('x-tollgate-cost-usd'), 'unpriced');
  const row = ledgerRow(gw.ledgerPath, response.headers.get('x-tollgate-call-id'));
  assert.deepEqual(pick(row, COST), { cost_nanos: null, input_cost_nanos: null, cached_input_cost_nanos: null, cache_write_cost_nanos: null, output_cost_nanos: null, other_cost_nanos: null, list_cost_nanos: null, cache_savings_nanos: null, price_ref: null });
  assert.equal(row.input_tokens, 17);
  assert.match(gw.stderr(), new RegExp(`event=unpriced call_id=${row.call_id} provider=openai model=mystery-model-1 unpriced_total=1`));
});

test('a refused call costs nothing and says why', async () => {
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', body: '{nope' });
  assert.equal(res.headers.get('x-tollgate-cost-usd'), '0');
  const row = ledgerRow(gw.ledgerPath, res.headers.get('x-tollgate-call-id'));
  assert.deepEqual(pick(row, ['cost_nanos', 'price_ref']), { cost_nanos: 0, price_ref: 'not_forwarded' });
});

test('a rate card with an error stops start-up with the file and line', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tg-card-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bad = path.join(dir, 'contract.csv');
  writeFileSync(bad, 'provider,model,effective_from,currency,input_per_mtok,output_per_mtok\nopenai,gpt-4o-2024-08-06,2026-01-01,USD,2.0000001,8\n');
  await assert.rejects(startGateway(t, { mockUrl: mock.url, args: ['--pricing', bad] }), /contract\.csv:2: input_per_mtok '2\.0000001' has more precision than micro-dollars per million tokens/);
});
