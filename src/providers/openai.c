/* providers/openai.c - the OpenAI API family (and every OpenAI-compatible server)
 *
 * Chat Completions, Completions, Embeddings, Responses and Models (SPECS.md §6.1, §6.2).
 * Usage normalization: OpenAI's prompt_tokens already include cached tokens, which is
 * the OTel rule, so counts are copied as they are; completion_tokens include reasoning,
 * audio and rejected prediction tokens. The untyped cache_write_tokens land in the 5m
 * bucket. A streamed chat completion only carries usage when stream_options.include_usage
 * is set: the gateway injects it when the client did not ask, and drops the extra
 * usage-only chunk (empty choices) so the client sees exactly what it asked for. */
#include "core/alloc.h"
#include "providers/json_util.h"
#include "providers/provider.h"

#include <cjson/cJSON.h>
#include <string.h>

/* Adds "stream_options":{"include_usage":true} to the client's body. When the client sent
 * no stream_options the key is spliced in after the opening brace, so every other byte of
 * the request stays as the client wrote it; otherwise the object is re-serialized, from a
 * tree of the whole body (j holds only the members inspect_request reads). */
static void inject_include_usage(const cJSON *j, const char *body, size_t len, struct tg_buf *out)
{
    static const char add[] = "\"stream_options\":{\"include_usage\":true},";
    if (cJSON_GetObjectItemCaseSensitive(j, "stream_options") == NULL) {
        const char *brace = memchr(body, '{', len);
        size_t at = (size_t)(brace - body) + 1;
        /* an empty object "{}" takes the key without the trailing comma */
        size_t k = at;
        while (k < len && (body[k] == ' ' || body[k] == '\t' || body[k] == '\n' || body[k] == '\r'))
            k++;
        tg_buf_append(out, body, at);
        tg_buf_append(out, add, k < len && body[k] == '}' ? sizeof add - 2 : sizeof add - 1);
        tg_buf_append(out, body + at, len - at);
        return;
    }
    cJSON *whole = tg_json_parse(body, len); /* it parsed once: it parses again */
    cJSON *so = cJSON_GetObjectItemCaseSensitive(whole, "stream_options");
    if (!cJSON_IsObject(so)) {
        cJSON_DeleteItemFromObjectCaseSensitive(whole, "stream_options");
        so = cJSON_AddObjectToObject(whole, "stream_options");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(so, "include_usage");
    cJSON_AddTrueToObject(so, "include_usage");
    char *text = cJSON_PrintUnformatted(whole);
    if (text != NULL) /* out of memory: the body goes as the client wrote it */
        tg_buf_appends(out, text);
    cJSON_free(text);
    tg_json_delete(whole);
}

static int inspect_request(enum tg_op op, const char *body, size_t len,
                           struct tg_request_info *info, struct tg_buf *rewritten,
                           struct tg_errbuf *eb)
{
    static const char *const max_keys[] = {"max_completion_tokens", "max_tokens",
                                           "max_output_tokens"};
    static const struct tg_json_keep keep[] = {{"model", NULL},
                                               {"stream", NULL},
                                               {"stream_options", NULL},
                                               {"max_completion_tokens", NULL},
                                               {"max_tokens", NULL},
                                               {"max_output_tokens", NULL},
                                               {NULL, NULL}};
    cJSON *j = NULL;
    int rc = tg_provider_parse_body(body, len, keep, &j, eb);
    if (rc != 0)
        return rc;
    memset(info, 0, sizeof *info);
    tg_json_copy_str(j, "model", info->model, sizeof info->model);
    info->is_stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "stream"));
    info->max_output_tokens = -1;
    for (size_t i = 0; i < 3 && info->max_output_tokens < 0; i++)
        if (tg_json_has_number(j, max_keys[i]))
            info->max_output_tokens = tg_json_count(j, max_keys[i]);
    info->input_bytes = (int64_t)len;
    if (info->is_stream && (op == TG_OP_CHAT || op == TG_OP_COMPLETION) &&
        !cJSON_IsTrue(tg_json_path(j, "stream_options.include_usage"))) {
        inject_include_usage(j, body, len, rewritten);
        info->injected_usage = true;
    }
    tg_json_delete(j);
    return 0;
}

/* CompletionUsage (chat and completions): prompt_tokens include cached tokens. A count
 * absent from it is 0. */
static void fill_completion_usage(const cJSON *usage, struct tg_usage *u)
{
    const cJSON *in = NULL, *out = NULL;
    u->has_usage = true;
    u->input_tokens = u->cached_input_tokens = u->audio_input_tokens = 0;
    u->cache_write_5m_tokens = u->output_tokens = u->reasoning_tokens = 0;
    u->audio_output_tokens = u->rejected_prediction_tokens = 0;
    const struct tg_json_field top[] = {{"prompt_tokens", &u->input_tokens, NULL},
                                        {"completion_tokens", &u->output_tokens, NULL},
                                        {"prompt_tokens_details", NULL, &in},
                                        {"completion_tokens_details", NULL, &out}};
    const struct tg_json_field in_f[] = {{"cached_tokens", &u->cached_input_tokens, NULL},
                                         {"audio_tokens", &u->audio_input_tokens, NULL},
                                         {"cache_write_tokens", &u->cache_write_5m_tokens, NULL}};
    const struct tg_json_field out_f[] = {
        {"reasoning_tokens", &u->reasoning_tokens, NULL},
        {"audio_tokens", &u->audio_output_tokens, NULL},
        {"rejected_prediction_tokens", &u->rejected_prediction_tokens, NULL}};
    tg_json_counts(usage, top, 4);
    tg_json_counts(in, in_f, 3);
    tg_json_counts(out, out_f, 3);
}

/* ResponseUsage (Responses API). A count absent from it is 0. */
static void fill_responses_usage(const cJSON *usage, struct tg_usage *u)
{
    const cJSON *in = NULL, *out = NULL;
    u->has_usage = true;
    u->input_tokens = u->cached_input_tokens = u->cache_write_5m_tokens = 0;
    u->output_tokens = u->reasoning_tokens = 0;
    const struct tg_json_field top[] = {{"input_tokens", &u->input_tokens, NULL},
                                        {"output_tokens", &u->output_tokens, NULL},
                                        {"input_tokens_details", NULL, &in},
                                        {"output_tokens_details", NULL, &out}};
    const struct tg_json_field in_f[] = {{"cached_tokens", &u->cached_input_tokens, NULL},
                                         {"cache_write_tokens", &u->cache_write_5m_tokens, NULL}};
    const struct tg_json_field out_f[] = {{"reasoning_tokens", &u->reasoning_tokens, NULL}};
    tg_json_counts(usage, top, 4);
    tg_json_counts(in, in_f, 2);
    tg_json_counts(out, out_f, 1);
}

static void mark_tool_output(struct tg_usage *u)
{
    if (strcmp(u->finish_reason, "tool_calls") == 0 ||
        strcmp(u->finish_reason, "function_call") == 0)
        u->tool_call_output_tokens = u->output_tokens;
}

/* A Responses API `response` object: usage, model, id, status, output items. */
static void fill_response_object(const cJSON *resp, struct tg_usage *u)
{
    tg_json_copy_str(resp, "model", u->response_model, sizeof u->response_model);
    tg_json_copy_str(resp, "id", u->response_id, sizeof u->response_id);
    tg_json_copy_str(resp, "status", u->finish_reason, sizeof u->finish_reason);
    tg_json_copy_str(resp, "service_tier", u->service_tier, sizeof u->service_tier);
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(resp, "usage");
    if (cJSON_IsObject(usage))
        fill_responses_usage(usage, u);
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(resp, "output");
    const cJSON *item;
    int64_t calls = 0, searches = 0;
    cJSON_ArrayForEach(item, out)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
        if (!cJSON_IsString(type))
            continue;
        size_t n = strlen(type->valuestring);
        if (strcmp(type->valuestring, "web_search_call") == 0)
            searches++;
        else if (n > 5 && strcmp(type->valuestring + n - 5, "_call") == 0)
            calls++;
    }
    u->tool_calls = calls;
    u->web_search_requests = searches;
    if (calls > 0)
        u->tool_call_output_tokens = u->output_tokens;
}

/* A Responses API response object, as a whole answer and inside a stream's events: what
 * fill_response_object and responses_event read (an output item's type; its text is
 * checked and not built) */
static const struct tg_json_keep output_item[] = {{"type", NULL}, {NULL, NULL}};
static const struct tg_json_keep response_object[] = {
    {"model", NULL},        {"id", NULL},    {"status", NULL},        {"error", NULL},
    {"service_tier", NULL}, {"usage", NULL}, {"output", output_item}, {NULL, NULL}};

/* The members of a response object parse_response reads: the rest (a completion's
 * text and tool-call arguments, an embedding's vectors, a fingerprint) is checked and
 * not built. A tool call is built empty: only how many there are is read. */
static const struct tg_json_keep *response_members(enum tg_op op)
{
    static const struct tg_json_keep none[] = {{NULL, NULL}};
    static const struct tg_json_keep message[] = {{"tool_calls", none}, {NULL, NULL}};
    static const struct tg_json_keep choice[] = {
        {"finish_reason", NULL}, {"message", message}, {NULL, NULL}};
    static const struct tg_json_keep completion[] = {{"model", NULL},        {"id", NULL},
                                                     {"service_tier", NULL}, {"usage", NULL},
                                                     {"choices", choice},    {NULL, NULL}};
    static const struct tg_json_keep embeddings[] = {
        {"model", NULL}, {"usage", NULL}, {NULL, NULL}};
    switch (op) {
    case TG_OP_CHAT:
    case TG_OP_COMPLETION: return completion;
    case TG_OP_EMBEDDINGS: return embeddings;
    case TG_OP_RESPONSES: return response_object;
    case TG_OP_MODELS:
    case TG_OP_MESSAGES: break;
    }
    return none;
}

static int parse_response(enum tg_op op, const char *body, size_t len, struct tg_usage *u)
{
    cJSON *j = tg_json_parse_keys(body, len, response_members(op));
    if (j == NULL || !cJSON_IsObject(j)) {
        tg_json_delete(j);
        return TG_ERR_INVALID;
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
    switch (op) {
    case TG_OP_CHAT:
    case TG_OP_COMPLETION: {
        tg_json_copy_str(j, "model", u->response_model, sizeof u->response_model);
        tg_json_copy_str(j, "id", u->response_id, sizeof u->response_id);
        tg_json_copy_str(j, "service_tier", u->service_tier, sizeof u->service_tier);
        if (cJSON_IsObject(usage))
            fill_completion_usage(usage, u);
        const cJSON *choice;
        int64_t calls = 0;
        bool first = true;
        cJSON_ArrayForEach(choice, cJSON_GetObjectItemCaseSensitive(j, "choices"))
        {
            const cJSON *fr = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
            if (cJSON_IsString(fr) && (first || strcmp(fr->valuestring, "tool_calls") == 0))
                tg_field_set(u->finish_reason, sizeof u->finish_reason, fr->valuestring,
                             strlen(fr->valuestring));
            first = false;
            calls += cJSON_GetArraySize(tg_json_path(choice, "message.tool_calls"));
        }
        u->tool_calls = calls;
        mark_tool_output(u);
        break;
    }
    case TG_OP_EMBEDDINGS:
        tg_json_copy_str(j, "model", u->response_model, sizeof u->response_model);
        if (cJSON_IsObject(usage)) {
            u->has_usage = true;
            u->input_tokens = tg_json_count(usage, "prompt_tokens");
        }
        break;
    case TG_OP_RESPONSES: fill_response_object(j, u); break;
    case TG_OP_MODELS:
    case TG_OP_MESSAGES: break;
    }
    tg_json_delete(j);
    return 0;
}

static void stream_error(struct tg_stream_state *st, const cJSON *err)
{
    st->saw_error = true;
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(err, "type");
    const char *v = cJSON_IsString(code)   ? code->valuestring
                    : cJSON_IsString(type) ? type->valuestring
                                           : "stream_error";
    tg_field_set(st->error_type, sizeof st->error_type, v, strlen(v));
}

static enum tg_stream_action chat_chunk(struct tg_stream_state *st, const cJSON *j,
                                        struct tg_usage *u)
{
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (cJSON_IsObject(err)) {
        stream_error(st, err);
        return TG_STREAM_FORWARD;
    }
    tg_json_copy_str(j, "model", u->response_model, sizeof u->response_model);
    tg_json_copy_str(j, "id", u->response_id, sizeof u->response_id);
    tg_json_copy_str(j, "service_tier", u->service_tier, sizeof u->service_tier);
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
    const cJSON *choice;
    cJSON_ArrayForEach(choice, choices)
    {
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
        if (cJSON_IsString(fr))
            tg_field_set(u->finish_reason, sizeof u->finish_reason, fr->valuestring,
                         strlen(fr->valuestring));
        const cJSON *tc;
        cJSON_ArrayForEach(tc, tg_json_path(choice, "delta.tool_calls"))
        {
            /* a tool call's id arrives only in its first fragment */
            if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(tc, "id")))
                st->tool_calls_seen++;
        }
    }
    u->tool_calls = st->tool_calls_seen;
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (cJSON_IsObject(usage))
        fill_completion_usage(usage, u);
    mark_tool_output(u);
    if (st->injected_usage && cJSON_IsObject(usage) && cJSON_IsArray(choices) &&
        cJSON_GetArraySize(choices) == 0)
        return TG_STREAM_DROP;
    return TG_STREAM_FORWARD;
}

static void responses_event(struct tg_stream_state *st, const cJSON *j, struct tg_usage *u)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!cJSON_IsString(type))
        return;
    const char *t = type->valuestring;
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(j, "response");
    if (strcmp(t, "error") == 0) {
        stream_error(st, j);
        return;
    }
    if (!cJSON_IsObject(resp))
        return;
    fill_response_object(resp, u);
    if (strcmp(t, "response.completed") == 0 || strcmp(t, "response.incomplete") == 0 ||
        strcmp(t, "response.failed") == 0)
        st->saw_terminal = true;
    if (strcmp(t, "response.failed") == 0) {
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(resp, "error");
        if (cJSON_IsObject(err))
            stream_error(st, err);
        else {
            st->saw_error = true;
            tg_field_set(st->error_type, sizeof st->error_type, "response_failed", 15);
        }
    }
}

/* The members of a stream's events that chat_chunk and responses_event read: a delta's
 * text, a finished response's output text, are checked and not built */
static const struct tg_json_keep tool_call_id[] = {{"id", NULL}, {NULL, NULL}};
static const struct tg_json_keep delta[] = {{"tool_calls", tool_call_id}, {NULL, NULL}};
static const struct tg_json_keep chunk_choice[] = {
    {"finish_reason", NULL}, {"delta", delta}, {NULL, NULL}};
static const struct tg_json_keep chat_chunk_members[] = {
    {"error", NULL}, {"model", NULL},           {"id", NULL}, {"service_tier", NULL},
    {"usage", NULL}, {"choices", chunk_choice}, {NULL, NULL}};
static const struct tg_json_keep responses_event_members[] = {
    {"type", NULL}, {"code", NULL}, {"response", response_object}, {NULL, NULL}};

static enum tg_stream_action stream_event(struct tg_stream_state *st, const struct tg_sse_event *ev,
                                          struct tg_usage *u)
{
    enum tg_stream_action a = TG_STREAM_FORWARD;
    if (ev->data_len == 0)
        return a;
    if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
        st->saw_terminal = true;
        return a;
    }
    cJSON *j = tg_json_parse_keys(ev->data, ev->data_len,
                                  st->op == TG_OP_RESPONSES ? responses_event_members
                                                            : chat_chunk_members);
    if (j == NULL)
        return a; /* not ours to judge: relay it untouched */
    if (st->op == TG_OP_RESPONSES)
        responses_event(st, j, u);
    else
        a = chat_chunk(st, j, u);
    tg_json_delete(j);
    return a;
}

/* OpenAI's own type names: it classifies by HTTP status, and uses invalid_request_error
 * for most client errors and server_error for its own failures. */
static const char *openai_type(const char *type)
{
    if (strcmp(type, "rate_limit_error") == 0 || strcmp(type, "budget_exceeded") == 0 ||
        strcmp(type, "invalid_request_error") == 0)
        return type;
    if (strcmp(type, "api_error") == 0 || strcmp(type, "timeout_error") == 0)
        return "server_error";
    return "invalid_request_error";
}

static void format_error(struct tg_buf *out, const char *type, const char *code,
                         const char *message, const char *tollgate_json)
{
    tg_buf_appends(out, "{\"error\":{\"message\":");
    tg_buf_append_json_str(out, message, strlen(message));
    tg_buf_appends(out, ",\"type\":");
    const char *t = openai_type(type);
    tg_buf_append_json_str(out, t, strlen(t));
    tg_buf_appends(out, ",\"param\":null,\"code\":");
    if (code != NULL)
        tg_buf_append_json_str(out, code, strlen(code));
    else
        tg_buf_appends(out, "null");
    tg_buf_appends(out, "}");
    tg_provider_close_error(out, tollgate_json);
}

const struct tg_provider tg_provider_openai = {
    .name = "openai",
    .dialect = TG_DIALECT_OPENAI,
    .inspect_request = inspect_request,
    .parse_response = parse_response,
    .stream_event = stream_event,
    .format_error = format_error,
};
