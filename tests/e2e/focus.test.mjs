// tests/e2e/focus.test.mjs - `tollgate export focus` on traffic sent through the gateway with the official SDKs: validated FOCUS 1.2 at every granularity, exact rows and totals
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startMock } from '../mock/mock-provider.mjs';
import { startGateway, ledgerRows, settleLedger, pick, BIN } from './lib/harness.mjs';
import { validateFocus, toNanos } from './lib/focus-validator.mjs';

const CARD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../data/pricing_test_card.csv');

let mock, gw, day;
const owner = { 'x-team': 'payments', 'x-cost-center': 'cc-42', 'x-tenant-id': 'acme', 'x-workflow-id': 'run-9', 'x-tollgate-tags': 'region=eu' };

before(async () => {
  mock = await startMock();
  gw = await startGateway(null, { mockUrl: mock.url, args: ['--pricing', CARD] });
  const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0 });
  const anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'sk-ant', maxRetries: 0 });
  const msg = [{ role: 'user', content: 'hi' }];
  // the tests read the four calls as one hour of one day: never start them within 10 s
  // of an hour's end
  const toHour = 3600000 - (Date.now() % 3600000);
  if (toHour < 10000) await new Promise((r) => setTimeout(r, toHour + 100));
  // 1. payments: 176 x $2.00 + 1024 cached x $1.00 + 85 x $8.00 per 1M = 352000 + 1024000 + 680000 nanos
  mock.enqueue({ usage: { prompt_tokens: 1200, completion_tokens: 85, prompt_tokens_details: { cached_tokens: 1024 } } });
  await openai.chat.completions.create({ model: 'gpt-4o', messages: msg }, { headers: { ...owner, 'x-request-id': 'checkout-1' } });
  // 2. payments again, same model and card row: 17 x $2.00 + 9 x $8.00 = 34000 + 72000
  await openai.chat.completions.create({ model: 'gpt-4o', messages: msg }, { headers: { ...owner, 'x-request-id': 'checkout-2' } });
  // 3. unattributed Claude (card line 8): 12 x $3.00 = 36000, 4096 cached x $0.30 = 1228800,
  //    2048 x $3.75 + 1024 x $6.00 cache writes = 13824000, 310 x $15.00 = 4650000,
  //    2 web searches x $10 per 1000 = 20000000
  mock.enqueue({ usage: { input_tokens: 12, cache_read_input_tokens: 4096, cache_creation_input_tokens: 3072, cache_creation: { ephemeral_5m_input_tokens: 2048, ephemeral_1h_input_tokens: 1024 }, output_tokens: 310, server_tool_use: { web_search_requests: 2 } } });
  await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 400, messages: msg });
  // 4. a model no card prices, owned by search: 17 input and 9 output tokens, no cost
  await openai.chat.completions.create({ model: 'mystery-model-1', messages: msg }, { headers: { 'x-team': 'search' } });
  const rows = ledgerRows(gw.ledgerPath);
  assert.equal(rows.length, 4);
  day = rows[0].day;
});
after(async () => {
  await gw?.close();
  await mock?.close();
});

function exportFocus(granularity, extra = []) {
  settleLedger(gw.ledgerPath);
  const r = spawnSync(BIN, ['export', 'focus', '--ledger', gw.ledgerPath, '--from', day, '--to', day, '--granularity', granularity, ...extra], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r;
}

const LEDGER_TOTAL = 2056000n + 106000n + 39738800n; // 41900800 nanos = $0.0419008
const PAYMENTS_TAGS = '{"tenant_id":"acme","team":"payments","cost_center":"cc-42","workflow_id":"run-9","region":"eu"}';
const COLS = ['BilledCost', 'ListCost', 'ConsumedQuantity', 'ConsumedUnit', 'PricingQuantity', 'PricingUnit', 'SkuId', 'SkuPriceId', 'SkuMeter', 'ProviderName', 'ServiceName', 'Tags', 'x_TokenType', 'x_PriceRef', 'x_CostStatus', 'x_AllocationMethod', 'x_Calls'];

test('day granularity: one row per owner, model and token type, worked out by hand', () => {
  const r = exportFocus('day');
  const v = validateFocus(r.stdout);
  assert.equal(v.billedNanos, LEDGER_TOTAL);
  // the ledger agrees to the nano-dollar
  const ledger = BigInt(execFileSync('sqlite3', [gw.ledgerPath, 'SELECT sum(cost_nanos) FROM calls'], { encoding: 'utf8' }).trim());
  assert.equal(v.billedNanos, ledger);
  const claude = 'anthropic/claude-sonnet-4-5-20250929', gpt = 'openai/gpt-4o-2024-08-06';
  const row = (BilledCost, ConsumedQuantity, ConsumedUnit, PricingQuantity, PricingUnit, sku, SkuMeter, ProviderName, ServiceName, Tags, type, ref, calls) => ({
    BilledCost, ListCost: BilledCost, ConsumedQuantity, ConsumedUnit, PricingQuantity, PricingUnit, SkuId: `${sku}/${type}`, SkuPriceId: ref ? `${sku}/${type}@${ref}` : '', SkuMeter, ProviderName, ServiceName, Tags,
    x_TokenType: type, x_PriceRef: ref, x_CostStatus: ref ? 'priced' : 'unpriced', x_AllocationMethod: Tags ? 'direct' : 'unattributed', x_Calls: String(calls),
  });
  const c8 = 'pricing_test_card.csv:8:exact', c3 = 'pricing_test_card.csv:3:exact';
  assert.deepEqual(v.rows.map((x) => pick(x, COLS)), [
    row('0.000036', '12', 'Tokens', '0.000012', '1000000 Tokens', claude, 'Input Tokens', 'Anthropic', 'Claude API', '', 'input', c8, 1),
    row('0.0012288', '4096', 'Tokens', '0.004096', '1000000 Tokens', claude, 'Cached Input Tokens', 'Anthropic', 'Claude API', '', 'cached_input', c8, 1),
    row('0.013824', '3072', 'Tokens', '0.003072', '1000000 Tokens', claude, 'Cache Write Tokens', 'Anthropic', 'Claude API', '', 'cache_write', c8, 1),
    row('0.00465', '310', 'Tokens', '0.00031', '1000000 Tokens', claude, 'Output Tokens', 'Anthropic', 'Claude API', '', 'output', c8, 1),
    row('0.02', '2', 'Requests', '0.002', '1000 Requests', claude, 'Server Tool Requests', 'Anthropic', 'Claude API', '', 'other', c8, 1),
    // calls 1 and 2 together: 176 + 17 input, 1024 cached, 85 + 9 output
    row('0.000386', '193', 'Tokens', '0.000193', '1000000 Tokens', gpt, 'Input Tokens', 'OpenAI', 'OpenAI API', PAYMENTS_TAGS, 'input', c3, 2),
    row('0.001024', '1024', 'Tokens', '0.001024', '1000000 Tokens', gpt, 'Cached Input Tokens', 'OpenAI', 'OpenAI API', PAYMENTS_TAGS, 'cached_input', c3, 2),
    row('0.000752', '94', 'Tokens', '0.000094', '1000000 Tokens', gpt, 'Output Tokens', 'OpenAI', 'OpenAI API', PAYMENTS_TAGS, 'output', c3, 2),
    // unpriced: the tokens are there, the cost columns are empty (never $0)
    row('', '17', 'Tokens', '0.000017', '1000000 Tokens', 'openai/mystery-model-1', 'Input Tokens', 'OpenAI', 'OpenAI API', '{"team":"search"}', 'input', '', 1),
    row('', '9', 'Tokens', '0.000009', '1000000 Tokens', 'openai/mystery-model-1', 'Output Tokens', 'OpenAI', 'OpenAI API', '{"team":"search"}', 'output', '', 1),
  ]);
  // the constant columns and the day's periods
  const next = new Date(Date.parse(`${day}T00:00:00Z`) + 86400000).toISOString().slice(0, 10);
  const month = `${day.slice(0, 7)}-01T00:00:00Z`;
  for (const x of v.rows) {
    assert.deepEqual(pick(x, ['ChargePeriodStart', 'ChargePeriodEnd', 'BillingPeriodStart', 'BillingCurrency', 'ChargeCategory', 'ChargeFrequency', 'ServiceCategory', 'ServiceSubcategory', 'PricingCategory', 'x_RequestId', 'x_CallId']), {
      ChargePeriodStart: `${day}T00:00:00Z`, ChargePeriodEnd: `${next}T00:00:00Z`, BillingPeriodStart: month, BillingCurrency: 'USD', ChargeCategory: 'Usage', ChargeFrequency: 'Usage-Based', ServiceCategory: 'AI and Machine Learning', ServiceSubcategory: 'Generative AI', PricingCategory: 'Standard', x_RequestId: '', x_CallId: '',
    });
    assert.equal(x.x_WorkflowId, x.Tags.includes('run-9') ? 'run-9' : '');
  }
  // the stderr summary counts the unpriced call
  assert.match(r.stderr, new RegExp(`focus: ${day}..${day}: 10 rows, 4 calls, BilledCost 0.0419008 USD; 1 unpriced calls \\(2 rows, 26 tokens\\) with empty cost columns`));
});

test('call granularity: one row per call and component, with request and call ids', () => {
  const v = validateFocus(exportFocus('call').stdout);
  assert.equal(v.billedNanos, LEDGER_TOTAL);
  const calls = ledgerRows(gw.ledgerPath);
  // 3 + 2 + 5 + 2 rows, in started_at order
  assert.deepEqual(v.rows.map((x) => [x.x_CallId, x.x_TokenType, x.BilledCost]), [
    [calls[0].call_id, 'input', '0.000352'], [calls[0].call_id, 'cached_input', '0.001024'], [calls[0].call_id, 'output', '0.00068'],
    [calls[1].call_id, 'input', '0.000034'], [calls[1].call_id, 'output', '0.000072'],
    [calls[2].call_id, 'input', '0.000036'], [calls[2].call_id, 'cached_input', '0.0012288'], [calls[2].call_id, 'cache_write', '0.013824'], [calls[2].call_id, 'output', '0.00465'], [calls[2].call_id, 'other', '0.02'],
    [calls[3].call_id, 'input', ''], [calls[3].call_id, 'output', ''],
  ]);
  assert.deepEqual(v.rows.slice(0, 5).map((x) => x.x_RequestId), ['checkout-1', 'checkout-1', 'checkout-1', 'checkout-2', 'checkout-2']);
  // each call's charge period: its start and end rounded out to whole seconds
  for (const x of v.rows) {
    const c = calls.find((k) => k.call_id === x.x_CallId);
    const start = Math.floor(Date.parse(c.started_at) / 1000) * 1000;
    const end = Math.max(start + 1000, Math.ceil(Date.parse(c.ended_at) / 1000) * 1000);
    assert.equal(x.ChargePeriodStart, new Date(start).toISOString().replace('.000Z', 'Z'));
    assert.equal(x.ChargePeriodEnd, new Date(end).toISOString().replace('.000Z', 'Z'));
  }
  // per call, the rows add up to the ledger row's cost_nanos
  for (const c of calls.filter((k) => k.cost_nanos !== null)) {
    const sum = v.rows.filter((x) => x.x_CallId === c.call_id).reduce((s, x) => s + toNanos(x.BilledCost), 0n);
    assert.equal(sum, BigInt(c.cost_nanos));
  }
});

test('hour granularity: the hour of the calls, the same totals, written with -o', () => {
  const file = path.join(gw.dir, 'focus-hour.csv');
  exportFocus('hour', ['-o', file]);
  const v = validateFocus(readFileSync(file, 'utf8'));
  assert.equal(v.billedNanos, LEDGER_TOTAL);
  assert.equal(v.unpricedRows, 2);
  const hours = new Set(ledgerRows(gw.ledgerPath).map((c) => `${c.started_at.slice(0, 13)}:00:00Z`));
  assert.deepEqual(new Set(v.rows.map((x) => x.ChargePeriodStart)), hours);
  for (const x of v.rows) assert.equal(Date.parse(x.ChargePeriodEnd) - Date.parse(x.ChargePeriodStart), 3600000);
  // with every call in one hour the rows are the day's, hour for day
  if (hours.size === 1) assert.equal(v.rows.length, 10);
});

test('unit prices from the rate card the rows name: ListUnitPrice x PricingQuantity = ListCost', () => {
  // the export loads the cards serve would (config, shipped) plus --pricing, and looks each
  // row's price_ref up; without the test card, its refs are not found and stay NULL
  const without = validateFocus(exportFocus('day').stdout);
  assert.deepEqual(without.rows.map((x) => x.ListUnitPrice), Array(10).fill(''));
  const v = validateFocus(exportFocus('day', ['--pricing', CARD]).stdout);
  assert.equal(v.billedNanos, LEDGER_TOTAL);
  assert.deepEqual(v.rows.map((x) => [x.x_TokenType, x.ListUnitPrice, x.PricingUnit, x.ListCost, x.BilledCost]), [
    // card line 8: $3.00, $0.30 cached, $15.00 output, web search $10 per 1000; the cache
    // writes mix $3.75 (5m) and $6.00 (1h): no single unit price, ListCost from the ledger
    ['input', '3', '1000000 Tokens', '0.000036', '0.000036'],
    ['cached_input', '0.3', '1000000 Tokens', '0.0012288', '0.0012288'],
    ['cache_write', '', '1000000 Tokens', '0.013824', '0.013824'],
    ['output', '15', '1000000 Tokens', '0.00465', '0.00465'],
    ['other', '10', '1000 Requests', '0.02', '0.02'],
    // card line 3: $2.00, $1.00 cached, $8.00 output
    ['input', '2', '1000000 Tokens', '0.000386', '0.000386'],
    ['cached_input', '1', '1000000 Tokens', '0.001024', '0.001024'],
    ['output', '8', '1000000 Tokens', '0.000752', '0.000752'],
    // unpriced: no card row, nothing to say
    ['input', '', '1000000 Tokens', '', ''],
    ['output', '', '1000000 Tokens', '', ''],
  ]);
});

test('usage errors: a bad granularity, a reversed range', () => {
  let r = spawnSync(BIN, ['export', 'focus', '--ledger', gw.ledgerPath, '--granularity', 'week'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--granularity 'week': call, hour or day/);
  r = spawnSync(BIN, ['export', 'focus', '--ledger', gw.ledgerPath, '--from', '2026-11-30', '--to', '2026-11-01'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--from 2026-11-30 is after --to 2026-11-01/);
});

test('the validator rejects what FOCUS forbids', () => {
  const good = exportFocus('day').stdout;
  const lines = good.split('\n');
  const header = lines[0].split(',');
  const col = (name) => header.indexOf(name);
  const mutate = (lineNo, name, value) => lines.map((l, i) => {
    if (i !== lineNo) return l;
    const f = l.split(',');
    f[col(name)] = value;
    return f.join(',');
  }).join('\n');
  // line 1 is the Claude input row (no quoted fields, so a plain split works)
  assert.throws(() => validateFocus(mutate(1, 'BilledCost', '$0.1')), /BilledCost.*not NumericFormat|differ/);
  assert.throws(() => validateFocus(mutate(1, 'ChargePeriodStart', '2026-12-01 00:00:00')), /ChargePeriodStart.*not YYYY-MM-DDTHH:mm:ssZ/);
  assert.throws(() => validateFocus(mutate(1, 'ChargeCategory', 'usage')), /ChargeCategory='usage' is not an allowed value/);
  assert.throws(() => validateFocus(mutate(1, 'ListUnitPrice', '4')), /ListUnitPrice 4 x PricingQuantity 0.000012 != ListCost 0.000036/);
  assert.throws(() => validateFocus(mutate(1, 'PricingUnit', '1M Tokens')), /PricingUnit '1M Tokens' is not UnitFormat/);
  assert.throws(() => validateFocus(mutate(1, 'x_CostStatus', 'unpriced')), /unpriced row has BilledCost/);
  assert.throws(() => validateFocus(good.replace('BilledCost,', 'Cost,')), /mandatory column BilledCost missing/);
  assert.throws(() => validateFocus(good.replace('{""team"":""search""}', '{""team"":[1]}')), /Tags.team is not a string/);
  // ListUnitPrice 3 x 0.000012 = 0.000036 exactly: accepted
  assert.doesNotThrow(() => validateFocus(mutate(1, 'ListUnitPrice', '3')));
});
