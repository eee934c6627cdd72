// tests/e2e/reconcile.test.mjs - priced traffic through the gateway with the openai SDK, then
// `tollgate reconcile` against invoices written here: a match, a variance, an invoice-only model
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { startMock } from '../mock/mock-provider.mjs';
import { startGateway, waitForRows, BIN } from './lib/harness.mjs';

const CARD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../data/pricing_test_card.csv');
const run = (...args) => spawnSync(BIN, args, { encoding: 'utf8' });

let mock, gw, day;
before(async () => {
  mock = await startMock();
  gw = await startGateway(null, { mockUrl: mock.url, args: ['--pricing', CARD] });
  const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0 });
  // gpt-4o-2024-08-06 (card line 3): 176 x 2.00 + 1024 x 1.00 + 85 x 8.00 = $0.002056
  mock.enqueue({ usage: { prompt_tokens: 1200, completion_tokens: 85, prompt_tokens_details: { cached_tokens: 1024 } } });
  await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
  // gpt-4o-mini-2024-07-18 (card line 4): 1000 x 0.15 + 500 x 0.60 = $0.00045, in two calls
  mock.enqueue({ usage: { prompt_tokens: 600, completion_tokens: 300 } }, { usage: { prompt_tokens: 400, completion_tokens: 200 } });
  await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'a' }] });
  await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'b' }] });
  const rows = await waitForRows(gw.ledgerPath, 3);
  day = rows[0].day;
  assert.deepEqual(rows.map((r) => [r.response_model, r.cost_nanos]), [['gpt-4o-2024-08-06', 2056000], ['gpt-4o-mini-2024-07-18', 270000], ['gpt-4o-mini-2024-07-18', 180000]]);
});
after(async () => {
  await gw?.close();
  await mock?.close();
});

test('simple invoice: one match, one variance, one model the gateway never saw; exit 3', () => {
  const inv = path.join(gw.dir, 'invoice.csv');
  writeFileSync(inv, [
    'date,provider,model,cost_usd,project',
    `${day},OpenAI,gpt-4o-2024-08-06,0.002056,proj_1`,
    `${day},OpenAI,gpt-4o-mini-2024-07-18,0.0005,proj_1`,
    `${day},OpenAI,o3-2025-04-16,0.02,proj_1`,
    '',
  ].join('\n'));
  const r = run('reconcile', '--invoice', inv, '--ledger', gw.ledgerPath, '--output', 'csv');
  assert.equal(r.stderr, '');
  assert.equal(r.status, 3);
  // variance: 0.0005 - 0.00045 = 0.00005, 1000 bps of the invoice line
  assert.equal(r.stdout, [
    'status,day,provider,model,ledger_usd,invoice_usd,difference_usd,difference_bps,ledger_calls,unpriced_calls',
    `variance,${day},openai,gpt-4o-mini-2024-07-18,0.00045,0.0005,0.00005,1000,2,0`,
    `invoice_only,${day},openai,o3-2025-04-16,,0.02,0.02,10000,0,0`,
    `match,${day},openai,gpt-4o-2024-08-06,0.002056,0.002056,0,0,1,0`,
    '',
  ].join('\n'));
  const j = JSON.parse(run('reconcile', '--invoice', inv, '--ledger', gw.ledgerPath, '--output', 'json').stdout);
  assert.deepEqual(j.summary, { matches: 1, variances: 1, invoice_only: 1, ledger_only: 0, unpriced: 0, ledger_usd: '0.002506', invoice_usd: '0.022556', difference_usd: '0.02005', skipped_invoice_rows: 0 });
});

test('FOCUS invoice within tolerance: everything matches, exit 0', () => {
  const inv = path.join(gw.dir, 'focus.csv');
  const next = new Date(Date.parse(`${day}T00:00:00Z`) + 86400000).toISOString().replace('.000', '');
  writeFileSync(inv, [
    'BilledCost,BillingCurrency,ChargeCategory,ChargePeriodStart,ChargePeriodEnd,ProviderName,PublisherName,ServiceName,SkuId,SkuPriceId',
    `0.002056,USD,Usage,${day}T00:00:00Z,${next},OpenAI,OpenAI,Chat Completions,gpt-4o-2024-08-06,gpt-4o-2024-08-06/input`,
    `0.0005,USD,Usage,${day}T00:00:00Z,${next},OpenAI,OpenAI,Chat Completions,gpt-4o-mini-2024-07-18,gpt-4o-mini-2024-07-18/input`,
    `0.31,USD,Tax,${day}T00:00:00Z,${next},OpenAI,OpenAI,Chat Completions,,`,
    '',
  ].join('\n'));
  const r = run('reconcile', '--invoice', inv, '--format', 'focus', '--ledger', gw.ledgerPath, '--tolerance-usd', '0.00005', '--output', 'csv');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, [
    'status,day,provider,model,ledger_usd,invoice_usd,difference_usd,difference_bps,ledger_calls,unpriced_calls',
    `match,${day},openai,gpt-4o-2024-08-06,0.002056,0.002056,0,0,1,0`,
    `match,${day},openai,gpt-4o-mini-2024-07-18,0.00045,0.0005,0.00005,1000,2,0`,
    '',
  ].join('\n'));
});

test('an amount finer than a nano-dollar is a parse error naming file and line; exit 2', () => {
  const inv = path.join(gw.dir, 'bad.csv');
  writeFileSync(inv, `date,provider,model,cost_usd\n${day},openai,gpt-4o-2024-08-06,0.0020560001\n`);
  const r = run('reconcile', '--invoice', inv, '--ledger', gw.ledgerPath);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, "tollgate reconcile: bad.csv:2: cost_usd '0.0020560001' has more than 9 decimals\n");
  assert.equal(run('reconcile', '--ledger', gw.ledgerPath).status, 2);
});
