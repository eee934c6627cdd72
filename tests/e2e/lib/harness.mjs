// tests/e2e/lib/harness.mjs - start the real tollgate binary and read its ledger.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync, readdirSync, openSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = process.env.TOLLGATE_BIN ?? path.join(repo, 'build/asan/tollgate');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sleepSync = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

// Ledgers of running gateways. A worker completes a response once the row is in its
// crash journal (<ledger>.journal.N); the writer commits it to SQLite a few ms later.
const live = new Set();

// True when every row journaled by the running gateway of ledgerPath is in SQLite: each
// journal's header holds head (offset 24) and tail (offset 32), equal when drained.
function journalsDrained(ledgerPath) {
  const dir = path.dirname(ledgerPath), base = path.basename(ledgerPath);
  const prefix = `${base}.journal.`;
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(prefix) || !/^\d+$/.test(name.slice(prefix.length))) continue;
    const b = Buffer.alloc(40);
    let fd;
    try { fd = openSync(path.join(dir, name), 'r'); } catch { continue; } // removed meanwhile
    try { if (readSync(fd, b, 0, 40, 0) < 40) continue; } finally { closeSync(fd); }
    if (b.readBigUInt64LE(24) !== b.readBigUInt64LE(32)) return false;
  }
  return true;
}

// Waits (synchronously, up to 10 s) until the journaled rows of a running gateway are
// committed, so a test reads the rows of every response it has received.
export function settleLedger(ledgerPath) {
  if (!live.has(ledgerPath)) return;
  const deadline = Date.now() + 10000;
  while (!journalsDrained(ledgerPath)) {
    if (Date.now() > deadline) throw new Error(`ledger ${ledgerPath}: journal not drained in 10 s`);
    sleepSync(2);
  }
}

async function waitFor(fn, what, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// Starts `tollgate serve` on a free port. Options: mockUrl (both upstreams), config (YAML
// text), args (extra flags), env, ledgerPath (reuse a ledger, e.g. after a restart).
// With a test context t, the gateway is stopped when that test ends; otherwise call
// gw.close() (an after() hook).
export async function startGateway(t, opts = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'tollgate-e2e-'));
  const ledgerPath = opts.ledgerPath ?? path.join(dir, 'ledger.db');
  const portFile = path.join(dir, 'port');
  const args = ['serve', '--listen', '127.0.0.1:0', '--port-file', portFile, '--ledger', ledgerPath, '--workers', String(opts.workers ?? 1)];
  // TOLLGATE_UPSTREAM_CLIENT=libcurl (scripts/run-tests.sh, second pass) sends the mock's
  // traffic through libcurl instead of the own HTTP/1.1 client
  const client = process.env.TOLLGATE_UPSTREAM_CLIENT;
  let config = opts.config;
  if (opts.mockUrl && client) {
    const ups = `upstreams:\n  openai: { base_url: "${opts.mockUrl}", client: ${client} }\n  anthropic: { base_url: "${opts.mockUrl}", client: ${client} }\n`;
    if (config?.includes('upstreams:')) throw new Error('TOLLGATE_UPSTREAM_CLIENT with a config that names upstreams');
    config = ups + (config ?? '');
  } else if (opts.mockUrl) {
    args.push('--upstream', `openai=${opts.mockUrl}`, '--upstream', `anthropic=${opts.mockUrl}`);
  }
  if (config) {
    writeFileSync(path.join(dir, 'tollgate.yaml'), config);
    args.push('--config', path.join(dir, 'tollgate.yaml'));
  }
  args.push(...(opts.args ?? []));
  const env = { ...process.env, OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '', ...(opts.env ?? {}) };
  const proc = spawn(BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  proc.stdout.on('data', (d) => { stderr += d; });
  const exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  let done = false;
  live.add(ledgerPath);
  exited.then(() => { done = true; live.delete(ledgerPath); });
  const port = await waitFor(() => {
    if (done) throw new Error(`tollgate exited during start-up:\n${stderr}`);
    return existsSync(portFile) && Number(readFileSync(portFile, 'utf8').trim());
  }, 'the port file');
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/healthz`).catch(() => null))?.ok, '/healthz');
  const gw = {
    url, port, dir, ledgerPath, proc,
    stderr: () => stderr,
    async stop(signal = 'SIGTERM') {
      if (!done) proc.kill(signal);
      return exited;
    },
    async kill9() {
      if (!done) proc.kill('SIGKILL');
      return exited;
    },
  };
  gw.close = async () => {
    await gw.stop();
    if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
  };
  if (t) t.after(gw.close);
  return gw;
}

export function ledgerRows(ledgerPath, where = '1=1') {
  settleLedger(ledgerPath);
  const out = execFileSync('sqlite3', ['-json', ledgerPath, `SELECT * FROM calls WHERE ${where} ORDER BY started_at, call_id`], { encoding: 'utf8' });
  return out.trim() ? JSON.parse(out) : [];
}

export function ledgerRow(ledgerPath, callId) {
  const rows = ledgerRows(ledgerPath, `call_id = '${callId.replace(/'/g, "''")}'`);
  if (rows.length !== 1) throw new Error(`expected one ledger row for ${callId}, got ${rows.length}`);
  return rows[0];
}

export async function waitForRows(ledgerPath, n, where = '1=1', timeoutMs = 10000) {
  return waitFor(() => { const r = ledgerRows(ledgerPath, where); return r.length >= n && r; }, `${n} ledger rows where ${where}`, timeoutMs);
}

// Picks the columns a test asserts on, so a failure shows the interesting diff only.
export const pick = (row, keys) => Object.fromEntries(keys.map((k) => [k, row[k]]));

export const TOKEN_COLUMNS = ['input_tokens', 'cached_input_tokens', 'cache_write_5m_tokens', 'cache_write_1h_tokens', 'output_tokens', 'reasoning_tokens', 'tool_call_output_tokens', 'audio_input_tokens', 'audio_output_tokens', 'rejected_prediction_tokens', 'web_search_requests', 'web_fetch_requests', 'tool_calls', 'usage_estimated'];

export const zeroTokens = (over = {}) => ({ ...Object.fromEntries(TOKEN_COLUMNS.map((k) => [k, 0])), ...over });
