// tests/mock/mock-provider.mjs - the fake LLM provider of the end-to-end tests.
//
// The only fake in the project, so it speaks the real wire formats (SPECS.md §6): OpenAI
// Chat Completions, Completions, Embeddings, Responses and Models, Anthropic Messages,
// JSON and SSE, with the providers' own headers, usage objects and error shapes. Usage
// numbers are deterministic (README.md beside this file) so tests can assert exact ledger
// rows. Behaviour is scripted per request with enqueue(): one script per request, FIFO.
import http from 'node:http';
import { writeFileSync } from 'node:fs';

export const MODEL_VERSIONS = {
  'gpt-4o': 'gpt-4o-2024-08-06',
  'gpt-4o-mini': 'gpt-4o-mini-2024-07-18',
  'gpt-5': 'gpt-5-2025-08-07',
  'text-embedding-3-small': 'text-embedding-3-small',
  'claude-sonnet-4-5': 'claude-sonnet-4-5-20250929',
  'claude-haiku-4-5': 'claude-haiku-4-5-20251001',
};
const version = (m) => MODEL_VERSIONS[m] ?? m;

export const DEFAULT_USAGE = {
  chat: { prompt_tokens: 17, completion_tokens: 9 },
  responses: { input_tokens: 21, output_tokens: 11 },
  embeddings: { prompt_tokens: 8 },
  anthropic: { input_tokens: 25, output_tokens: 12 },
};

let seq = 0;
const rid = (p) => `${p}${(++seq).toString(16).padStart(24, '0')}`;
const created = 1767225600;

function chatUsage(o = {}) {
  const u = { ...DEFAULT_USAGE.chat, ...o };
  const pd = { cached_tokens: 0, audio_tokens: 0, ...(o.prompt_tokens_details ?? {}) };
  const cd = { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0, ...(o.completion_tokens_details ?? {}) };
  return { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, total_tokens: u.prompt_tokens + u.completion_tokens, prompt_tokens_details: pd, completion_tokens_details: cd };
}

function responsesUsage(o = {}) {
  const u = { ...DEFAULT_USAGE.responses, ...o };
  return {
    input_tokens: u.input_tokens,
    input_tokens_details: { cached_tokens: 0, ...(o.input_tokens_details ?? {}) },
    output_tokens: u.output_tokens,
    output_tokens_details: { reasoning_tokens: 0, ...(o.output_tokens_details ?? {}) },
    total_tokens: u.input_tokens + u.output_tokens,
  };
}

function anthropicUsage(o = {}) {
  // without an explicit TTL split, every cache write is a 5-minute one
  if (o.cache_creation_input_tokens !== undefined && o.cache_creation === undefined)
    o = { ...o, cache_creation: { ephemeral_5m_input_tokens: o.cache_creation_input_tokens, ephemeral_1h_input_tokens: 0 } };
  return {
    input_tokens: DEFAULT_USAGE.anthropic.input_tokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
    output_tokens: DEFAULT_USAGE.anthropic.output_tokens,
    service_tier: 'standard',
    ...o,
  };
}

const wantsTools = (body, script) => script.toolCalls || (Array.isArray(body.tools) && body.tools.length > 0 && JSON.stringify(body.messages ?? body.input ?? '').includes('weather'));

function openaiError(status, message, type, code) {
  return { status, body: { error: { message, type, param: null, code } } };
}

function anthropicError(status, type, message) {
  return { status, body: { type: 'error', error: { type, message }, request_id: rid('req_') } };
}

// --- OpenAI -------------------------------------------------------------------------

function chatCompletion(body, script) {
  const tools = wantsTools(body, script);
  const message = tools
    ? { role: 'assistant', content: null, refusal: null, annotations: [], tool_calls: [{ id: 'call_weather_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }, { id: 'call_weather_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }] }
    : { role: 'assistant', content: 'Hello there!', refusal: null, annotations: [] };
  return {
    id: rid('chatcmpl-'), object: 'chat.completion', created, model: version(body.model),
    choices: [{ index: 0, message, logprobs: null, finish_reason: tools ? 'tool_calls' : 'stop' }],
    usage: chatUsage(script.usage), service_tier: 'default', system_fingerprint: 'fp_mock',
  };
}

function chatChunks(body, script) {
  const id = rid('chatcmpl-');
  const model = version(body.model);
  const withUsage = body.stream_options?.include_usage === true;
  const base = (choices) => ({ id, object: 'chat.completion.chunk', created, model, service_tier: 'default', system_fingerprint: 'fp_mock', choices, ...(withUsage ? { usage: null } : {}) });
  const tools = wantsTools(body, script);
  const out = [base([{ index: 0, delta: { role: 'assistant', content: tools ? null : '', refusal: null }, logprobs: null, finish_reason: null }])];
  if (tools) {
    out.push(base([{ index: 0, delta: { tool_calls: [{ index: 0, id: 'call_weather_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }, logprobs: null, finish_reason: null }]));
    out.push(base([{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":"Paris"}' } }] }, logprobs: null, finish_reason: null }]));
    out.push(base([{ index: 0, delta: { tool_calls: [{ index: 1, id: 'call_weather_2', type: 'function', function: { name: 'get_weather', arguments: '' } }] }, logprobs: null, finish_reason: null }]));
    out.push(base([{ index: 0, delta: { tool_calls: [{ index: 1, function: { arguments: '{"city":"Rome"}' } }] }, logprobs: null, finish_reason: null }]));
  } else {
    for (const piece of ['Hello', ' there', '!']) out.push(base([{ index: 0, delta: { content: piece }, logprobs: null, finish_reason: null }]));
  }
  out.push(base([{ index: 0, delta: {}, logprobs: null, finish_reason: tools ? 'tool_calls' : 'stop' }]));
  if (withUsage) out.push({ ...base([]), usage: chatUsage(script.usage) });
  return out.map((c) => `data: ${JSON.stringify(c)}\n\n`).concat(['data: [DONE]\n\n']);
}

function completion(body, script) {
  return {
    id: rid('cmpl-'), object: 'text_completion', created, model: version(body.model),
    choices: [{ text: ' world', index: 0, logprobs: null, finish_reason: 'stop' }],
    usage: chatUsage(script.usage), system_fingerprint: 'fp_mock',
  };
}

function embeddings(body, script) {
  const vec = [0.25, -0.5, 0.125];
  const inputs = Array.isArray(body.input) ? body.input : [body.input];
  const embedding = (i) => (body.encoding_format === 'base64' ? Buffer.from(new Float32Array(vec.map((v) => v * (i + 1))).buffer).toString('base64') : vec.map((v) => v * (i + 1)));
  const pt = script.usage?.prompt_tokens ?? DEFAULT_USAGE.embeddings.prompt_tokens;
  return { object: 'list', data: inputs.map((_, i) => ({ object: 'embedding', index: i, embedding: embedding(i) })), model: version(body.model), usage: { prompt_tokens: pt, total_tokens: pt } };
}

function responseObject(body, script, status = 'completed') {
  const tools = wantsTools(body, script);
  const output = tools
    ? [{ type: 'function_call', id: 'fc_1', call_id: 'call_weather_1', name: 'get_weather', arguments: '{"city":"Paris"}', status: 'completed' }]
    : [{ type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Hello there!', annotations: [], logprobs: [] }] }];
  return {
    id: script.responseId ?? 'resp_mock1', object: 'response', created_at: created, status, background: false, error: null, incomplete_details: null,
    instructions: null, max_output_tokens: body.max_output_tokens ?? null, model: version(body.model), output, parallel_tool_calls: true,
    previous_response_id: null, reasoning: { effort: null, summary: null }, service_tier: 'default', store: true, temperature: 1, text: { format: { type: 'text' } },
    tool_choice: 'auto', tools: body.tools ?? [], top_p: 1, truncation: 'disabled', usage: status === 'in_progress' ? null : responsesUsage(script.usage), user: null, metadata: {},
  };
}

function responsesEvents(body, script) {
  let n = 0;
  const ev = (type, payload) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: n++, ...payload })}\n\n`;
  const inProgress = responseObject(body, script, 'in_progress');
  inProgress.output = [];
  const done = responseObject(body, script);
  const item = done.output[0];
  const out = [ev('response.created', { response: inProgress }), ev('response.in_progress', { response: inProgress })];
  out.push(ev('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', ...(item.type === 'message' ? { content: [] } : {}) } }));
  if (item.type === 'message') {
    out.push(ev('response.content_part.added', { item_id: item.id, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } }));
    for (const d of ['Hello', ' there!']) out.push(ev('response.output_text.delta', { item_id: item.id, output_index: 0, content_index: 0, delta: d, logprobs: [] }));
    out.push(ev('response.output_text.done', { item_id: item.id, output_index: 0, content_index: 0, text: 'Hello there!', logprobs: [] }));
    out.push(ev('response.content_part.done', { item_id: item.id, output_index: 0, content_index: 0, part: item.content[0] }));
  } else {
    out.push(ev('response.function_call_arguments.delta', { item_id: item.id, output_index: 0, delta: item.arguments }));
    out.push(ev('response.function_call_arguments.done', { item_id: item.id, output_index: 0, arguments: item.arguments }));
  }
  out.push(ev('response.output_item.done', { output_index: 0, item }));
  out.push(ev('response.completed', { response: done }));
  return out;
}

// --- Anthropic ----------------------------------------------------------------------

function anthropicMessage(body, script) {
  const tools = wantsTools(body, script);
  const content = tools
    ? [{ type: 'text', text: 'Let me check.' }, { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } }]
    : [{ type: 'text', text: 'Hello there!' }];
  return { id: rid('msg_'), type: 'message', role: 'assistant', model: version(body.model), content, stop_reason: tools ? 'tool_use' : 'end_turn', stop_sequence: null, usage: anthropicUsage(script.usage) };
}

function anthropicEvents(body, script) {
  const msg = anthropicMessage(body, script);
  const u = msg.usage;
  const ev = (type, payload) => `event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`;
  const start = { ...msg, content: [], stop_reason: null, usage: { ...u, output_tokens: 1 } };
  const out = [ev('message_start', { message: start }), ev('ping', {})];
  msg.content.forEach((block, index) => {
    if (block.type === 'text') {
      out.push(ev('content_block_start', { index, content_block: { type: 'text', text: '' } }));
      for (const t of block.text.match(/.{1,6}/g)) out.push(ev('content_block_delta', { index, delta: { type: 'text_delta', text: t } }));
    } else {
      out.push(ev('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } }));
      out.push(ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } }));
    }
    out.push(ev('content_block_stop', { index }));
  });
  // cumulative usage: an intermediate delta, then the final one (which repeats the input
  // fields, as the API does when server tools ran); never to be summed
  const half = Math.max(1, Math.floor(u.output_tokens / 2));
  out.push(ev('message_delta', { delta: { stop_reason: null, stop_sequence: null }, usage: { output_tokens: half } }));
  out.push(ev('message_delta', { delta: { stop_reason: msg.stop_reason, stop_sequence: null }, usage: { input_tokens: u.input_tokens, cache_creation_input_tokens: u.cache_creation_input_tokens, cache_read_input_tokens: u.cache_read_input_tokens, output_tokens: u.output_tokens, ...(u.server_tool_use ? { server_tool_use: u.server_tool_use } : {}) } }));
  out.push(ev('message_stop', {}));
  return out;
}

// --- server -------------------------------------------------------------------------

function reqHeaders(provider) {
  return provider === 'anthropic' ? { 'request-id': rid('req_'), 'anthropic-organization-id': 'org-mock' } : { 'x-request-id': rid('req_'), 'openai-processing-ms': '12', 'openai-version': '2020-10-01' };
}

export async function startMock(opts = {}) {
  const requests = [];
  const queue = [];
  const sockets = new Set();
  let holdNext = false;
  const server = http.createServer((req, res) => {
    if (holdNext) { // a provider that never reads this request's body: the sender's writes stall
      holdNext = false;
      const entry = { method: req.method, path: new URL(req.url, 'http://mock').pathname, headers: req.headers, held: true, closed: false, received: 0 };
      entry.resume = () => { req.on('data', (d) => { entry.received += d.length; }); req.resume(); }; // reads on, to the sender's end
      requests.push(entry);
      req.pause();
      req.socket.on('close', () => { entry.closed = true; });
      return;
    }
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { raw += d; });
    req.on('end', () => handle(req, res, raw));
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });

  async function handle(req, res, raw) {
    const url = new URL(req.url, 'http://mock');
    let body = null;
    try { body = raw ? JSON.parse(raw) : null; } catch { body = { _unparsable: raw }; }
    const entry = { method: req.method, path: url.pathname, query: url.search, headers: req.headers, body, raw, closed: false, written: 0 };
    requests.push(entry);
    res.on('close', () => { entry.closed = !res.writableFinished; });
    if (url.pathname.startsWith('/__mock/')) return control(url, req, res, body);
    const script = queue.shift() ?? {};
    entry.script = script;
    const provider = url.pathname === '/v1/messages' ? 'anthropic' : 'openai';
    if (script.hang) return; // accept, never answer
    if (script.delayMs) await new Promise((r) => setTimeout(r, script.delayMs));
    const headers = { ...reqHeaders(provider), ...(script.headers ?? {}) };
    // the Messages API takes x-api-key or (newer SDKs) Authorization: Bearer, and requires anthropic-version
    const anthropicKey = req.headers['x-api-key'] || (req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (provider === 'anthropic' && (!anthropicKey || !req.headers['anthropic-version'])) {
      const e = anthropicError(401, 'authentication_error', anthropicKey ? 'anthropic-version header is required' : 'x-api-key header is required');
      return json(res, e.status, e.body, headers);
    }
    if (provider === 'openai' && !req.headers.authorization) {
      const e = openaiError(401, "You didn't provide an API key.", 'invalid_request_error', null);
      return json(res, e.status, e.body, headers);
    }
    if (script.status && script.status !== 200) return json(res, script.status, script.body ?? {}, headers);
    if (script.rawResponse !== undefined) {
      // bytes straight onto the socket, past node's HTTP writer: broken framing on purpose
      res.socket.end(script.rawResponse);
      return;
    }
    if (script.rawBody !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json', ...headers });
      return res.end(script.rawBody);
    }
    switch (`${req.method} ${url.pathname}`) {
      case 'POST /v1/chat/completions':
        return body.stream ? sse(res, chatChunks(body, script), script, headers, entry) : json(res, 200, chatCompletion(body, script), headers);
      case 'POST /v1/completions':
        return json(res, 200, completion(body, script), headers);
      case 'POST /v1/embeddings':
        return json(res, 200, embeddings(body, script), headers);
      case 'POST /v1/responses':
        return body.stream ? sse(res, responsesEvents(body, script), script, headers) : json(res, 200, responseObject(body, script), headers);
      case 'GET /v1/models':
        return json(res, 200, { object: 'list', data: Object.values(MODEL_VERSIONS).map((id) => ({ id, object: 'model', created, owned_by: 'system' })) }, headers);
      case 'POST /v1/messages': {
        if (!body.stream) return json(res, 200, anthropicMessage(body, script), headers);
        let events = anthropicEvents(body, script);
        if (script.errorEvent) {
          const at = script.afterEvents ?? 3;
          events = events.slice(0, at).concat([`event: error\ndata: ${JSON.stringify({ type: 'error', error: script.errorEvent })}\n\n`]);
        }
        return sse(res, events, script, headers);
      }
      default: {
        const e = openaiError(404, `Invalid URL (${req.method} ${url.pathname})`, 'invalid_request_error', null);
        return json(res, 404, e.body, headers);
      }
    }
  }

  function control(url, req, res, body) {
    if (url.pathname === '/__mock/enqueue') { queue.push(body ?? {}); return json(res, 200, { queued: queue.length }); }
    if (url.pathname === '/__mock/requests') return json(res, 200, requests.filter((r) => !r.path.startsWith('/__mock/')));
    return json(res, 404, {});
  }

  function json(res, status, obj, headers = {}) {
    const text = JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  // entry.written: the stream's bytes on the wire so far (a backpressure test reads it).
  // bigStream: { bytes, eventBytes }: that many bytes of copies of the first content
  // event, its content padded to eventBytes when given.
  async function sse(res, events, script, headers, entry = {}) {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...headers });
    let list = events;
    if (script.bigStream) {
      let filler = list[1];
      if (script.bigStream.eventBytes) {
        const chunk = JSON.parse(filler.slice(6));
        chunk.choices[0].delta.content = 'x'.repeat(script.bigStream.eventBytes);
        filler = `data: ${JSON.stringify(chunk)}\n\n`;
      }
      const copies = Math.ceil(script.bigStream.bytes / filler.length);
      list = [list[0], ...Array(copies).fill(filler), ...list.slice(1)];
    }
    for (let i = 0; i < list.length; i++) {
      if (script.cutAfterEvents !== undefined && i === script.cutAfterEvents) {
        res.socket.destroy(); // the provider dies mid-stream: no terminal event, no last chunk
        return;
      }
      if (res.destroyed) return;
      // wait until each event is on the wire, so a cut after N events really sent N
      await new Promise((r) => res.write(list[i], r));
      entry.written = (entry.written ?? 0) + Buffer.byteLength(list[i]);
      if (script.slowStreamMs) await new Promise((r) => setTimeout(r, script.slowStreamMs));
    }
    res.end();
  }

  await new Promise((r) => server.listen(opts.port ?? 0, '127.0.0.1', r));
  const port = server.address().port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    enqueue: (...scripts) => queue.push(...scripts),
    reset: () => { requests.length = 0; queue.length = 0; holdNext = false; },
    holdNextBody: () => { holdNext = true; },
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

export { openaiError, anthropicError };

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
  const m = await startMock({ port: Number(arg('--port', 0)) });
  const pf = arg('--port-file');
  if (pf) writeFileSync(pf, `${m.port}\n`);
  console.log(`mock provider on ${m.url}`);
}
