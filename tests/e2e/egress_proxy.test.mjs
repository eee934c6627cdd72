// tests/e2e/egress_proxy.test.mjs - an egress proxy from the environment (http_proxy), read at
// start: calls go through it when set, straight to the provider when not
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import OpenAI from 'openai';
import { startMock } from '../mock/mock-provider.mjs';
import { startGateway, ledgerRow, pick } from './lib/harness.mjs';

let mock, proxy, proxyUrl;
const seen = [];
before(async () => {
  mock = await startMock();
  // a forward proxy: absolute-form request lines, relayed to the origin they name
  proxy = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const up = http.request(req.url, { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${proxy.address().port}`;
});
after(async () => {
  await mock?.close();
  proxy?.closeAllConnections();
  await new Promise((r) => proxy.close(r));
});

const ask = async (gw) => {
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk', maxRetries: 0 });
  const { data, response } = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  return { data, row: ledgerRow(gw.ledgerPath, response.headers.get('x-tollgate-call-id')) };
};

test('http_proxy set when the gateway starts: the provider call goes through the proxy', async (t) => {
  seen.length = 0;
  const gw = await startGateway(t, { mockUrl: mock.url, env: { http_proxy: proxyUrl } });
  const { data, row } = await ask(gw);
  assert.equal(data.usage.prompt_tokens, 17);
  assert.deepEqual(seen, [`POST ${mock.url}/v1/chat/completions`]);
  assert.deepEqual(pick(row, ['outcome', 'status_code', 'input_tokens', 'output_tokens']), { outcome: 'ok', status_code: 200, input_tokens: 17, output_tokens: 9 });
});

test('no proxy variable: straight to the provider, the proxy sees nothing', async (t) => {
  seen.length = 0;
  const gw = await startGateway(t, { mockUrl: mock.url, env: { http_proxy: '', https_proxy: '', HTTPS_PROXY: '', all_proxy: '', ALL_PROXY: '' } });
  const { row } = await ask(gw);
  assert.equal(row.outcome, 'ok');
  assert.deepEqual(seen, []);
});
