# bench/common.sh - what bench/run.sh and bench/instructions.sh share: the provider's
# answer, the nginx configuration's common head, and the request wrk sends.
# shellcheck shell=bash

# A 440-byte chat completion, as the nginx "provider" answers it.
BENCH_BODY='{"id":"chatcmpl-bench","object":"chat.completion","created":1767225600,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_bench"}'

# nginx_head WORKDIR: one worker, files under WORKDIR, no access log, long keep-alive;
# the caller adds its servers and closes the http block.
nginx_head() {
  cat <<NGX
worker_processes 1;
pid $1/nginx.pid;
error_log $1/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $1/logs; proxy_temp_path $1/logs;
  fastcgi_temp_path $1/logs; uwsgi_temp_path $1/logs; scgi_temp_path $1/logs;
  keepalive_requests 1000000;
NGX
}

# write_post_lua FILE: the chat request wrk sends.
write_post_lua() {
  cat > "$1" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
LUA
}

# tollgate_config FILE MOCK_PORT: the gateway's config, one openai upstream at the mock.
# CLIENT=libcurl (environment) measures the libcurl upstream client instead of the own.
tollgate_config() {
  printf 'upstreams:\n  openai: { base_url: "http://127.0.0.1:%s", client: %s }\n' "$2" "${CLIENT:-auto}" > "$1"
}
