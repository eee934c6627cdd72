// tests/e2e/durability.test.mjs - graceful shutdown and kill -9: no completed response without its ledger row
import { test } from 'node:test';
import { rmSync } from 'node:fs';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startMock } from '../mock/mock-provider.mjs';
import { startGateway, ledgerRows, ledgerRow } from './lib/harness.mjs';

test('SIGTERM: the in-flight call completes, the process exits 0, the row is committed', async (t) => {
  const mock = await startMock();
  t.after(() => mock.close());
  const gw = await startGateway(t, { mockUrl: mock.url });
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0 });
  mock.enqueue({ delayMs: 400 });
  const pending = client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  while (mock.requests.length === 0) await new Promise((r) => setTimeout(r, 10));
  const exit = gw.stop('SIGTERM');
  const { data, response } = await pending;
  assert.equal(data.choices[0].message.content, 'Hello there!');
  assert.deepEqual(await exit, { code: 0, signal: null });
  const row = ledgerRow(gw.ledgerPath, response.headers.get('x-tollgate-call-id'));
  assert.equal(row.outcome, 'ok');
  assert.equal(row.input_tokens, 17);
  // after shutdown nothing listens any more
  await assert.rejects(fetch(`${gw.url}/healthz`));
});

test('kill -9 under load: every response the client completed has its row; in-flight calls are incomplete', async (t) => {
  const mock = await startMock();
  t.after(() => mock.close());
  const gw = await startGateway(t, { mockUrl: mock.url, workers: 2, keepDir: true });
  t.after(() => rmSync(gw.dir, { recursive: true, force: true }));
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0, timeout: 5000 });
  const completed = [];
  let stop = false;
  const worker = async (i) => {
    while (!stop) {
      // every fourth call is slow, so some are in flight when the process dies
      if (i % 4 === 0) mock.enqueue({ delayMs: 200 });
      try {
        const { response } = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: `n${i}` }] }).withResponse();
        completed.push(response.headers.get('x-tollgate-call-id'));
      } catch {
        // the connection died with the gateway
      }
    }
  };
  const loops = Array.from({ length: 16 }, (_, i) => worker(i));
  while (completed.length < 200) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(await gw.kill9(), { code: null, signal: 'SIGKILL' });
  stop = true;
  await Promise.all(loops);

  // restart on the same ledger: the rows are there, nothing was lost or rewritten
  const gw2 = await startGateway(t, { mockUrl: mock.url, ledgerPath: gw.ledgerPath });
  const rows = new Map(ledgerRows(gw2.ledgerPath).map((r) => [r.call_id, r]));
  for (const id of completed) {
    const r = rows.get(id);
    assert.ok(r, `completed call ${id} has a ledger row`);
    assert.equal(r.outcome, 'ok');
    assert.equal(r.input_tokens, 17);
    assert.equal(r.output_tokens, 9);
  }
  // anything else in the ledger is either complete or was in flight at the kill
  const others = [...rows.values()].filter((r) => !completed.includes(r.call_id));
  for (const r of others) assert.ok(['ok', 'incomplete'].includes(r.outcome), `unexpected outcome ${r.outcome}`);
  const incomplete = others.filter((r) => r.outcome === 'incomplete');
  for (const r of incomplete) assert.equal(r.ended_at, null);
  // rows the writer had not committed at the kill came back from the workers' journals
  const replayed = [...gw2.stderr().matchAll(/event=journal_replayed \S+ rows=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
  t.diagnostic(`completed=${completed.length} rows=${rows.size} incomplete=${incomplete.length} replayed_from_journal=${replayed}`);
  // the restarted gateway serves as usual
  const c2 = new OpenAI({ baseURL: `${gw2.url}/v1`, apiKey: 'sk', maxRetries: 0 });
  const res = await c2.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'again' }] });
  assert.equal(res.usage.prompt_tokens, 17);
});
