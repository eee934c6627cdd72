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

/* A request's members inspect_request reads, with the max-token limits in the order they
 * are looked for (-1: absent) */
struct request_read {
    struct tg_request_info info;
    int64_t max[3];
};
#define REQUEST_MAX(key, i) TG_JSON_TAKE_INT(key, struct request_read, max[i])
static const struct tg_json_take request_takes[] = {
    TG_JSON_TAKE_STR("model", struct request_read, info.model),
    TG_JSON_TAKE_TRUE("stream", struct request_read, info.is_stream),
    REQUEST_MAX("max_completion_tokens", 0),
    REQUEST_MAX("max_tokens", 1),
    REQUEST_MAX("max_output_tokens", 2),
    TG_JSON_TAKE_END};

static int inspect_request(enum tg_op op, const char *body, size_t len,
                           struct tg_request_info *info, struct tg_buf *rewritten,
                           struct tg_errbuf *eb)
{
    static const struct tg_json_keep keep[] = {{"stream_options", NULL}, {NULL, NULL}};
    struct request_read r = {.max = {-1, -1, -1}};
    cJSON *j = NULL;
    int rc = tg_provider_parse_body(body, len, keep, request_takes, &r, &j, eb);
    if (rc != 0)
        return rc;
    r.info.max_output_tokens = -1;
    for (size_t i = 0; i < 3 && r.info.max_output_tokens < 0; i++)
        r.info.max_output_tokens = r.max[i];
    r.info.input_bytes = (int64_t)len;
    if (r.info.is_stream && (op == TG_OP_CHAT || op == TG_OP_COMPLETION) &&
        !cJSON_IsTrue(tg_json_path(j, "stream_options.include_usage"))) {
        inject_include_usage(j, body, len, rewritten);
        r.info.injected_usage = true;
    }
    tg_json_delete(j);
    *info = r.info;
    return 0;
}

/* What a chat answer or chunk (or a completion) gives straight into a tg_usage: its
 * CompletionUsage (prompt_tokens include cached tokens), model, id and tier. */
#define USAGE_INT(k, f) TG_JSON_TAKE_INT(k, struct tg_usage, f)
static const struct tg_json_take prompt_details[] = {
    USAGE_INT("cached_tokens", cached_input_tokens), USAGE_INT("audio_tokens", audio_input_tokens),
    USAGE_INT("cache_write_tokens", cache_write_5m_tokens), TG_JSON_TAKE_END};
static const struct tg_json_take completion_details[] = {
    USAGE_INT("reasoning_tokens", reasoning_tokens), USAGE_INT("audio_tokens", audio_output_tokens),
    USAGE_INT("rejected_prediction_tokens", rejected_prediction_tokens), TG_JSON_TAKE_END};
static const struct tg_json_take completion_usage[] = {
    USAGE_INT("prompt_tokens", input_tokens), USAGE_INT("completion_tokens", output_tokens),
    TG_JSON_TAKE_INTO("prompt_tokens_details", prompt_details),
    TG_JSON_TAKE_INTO("completion_tokens_details", completion_details), TG_JSON_TAKE_END};
static const struct tg_json_take completion_takes[] = {
    TG_JSON_TAKE_STR("model", struct tg_usage, response_model),
    TG_JSON_TAKE_STR("id", struct tg_usage, response_id),
    TG_JSON_TAKE_STR("service_tier", struct tg_usage, service_tier),
    TG_JSON_TAKE_INTO_FLAG("usage", struct tg_usage, has_usage, completion_usage),
    TG_JSON_TAKE_END};

static void set_completion_counts(struct tg_usage *dst, const struct tg_usage *src)
{
    dst->input_tokens = src->input_tokens;
    dst->cached_input_tokens = src->cached_input_tokens;
    dst->audio_input_tokens = src->audio_input_tokens;
    dst->cache_write_5m_tokens = src->cache_write_5m_tokens;
    dst->output_tokens = src->output_tokens;
    dst->reasoning_tokens = src->reasoning_tokens;
    dst->audio_output_tokens = src->audio_output_tokens;
    dst->rejected_prediction_tokens = src->rejected_prediction_tokens;
}

/* A chat answer or chunk as a tree of what keep lists, with completion_takes read into
 * *got, a copy of u: a usage object's counts replace u's (a count it leaves out is 0),
 * and *reported says there was one; without one, u's counts stay. NULL when the text is
 * not JSON. */
static cJSON *parse_completion(const char *text, size_t len, const struct tg_json_keep *keep,
                               const struct tg_usage *u, struct tg_usage *got, bool *reported)
{
    static const struct tg_usage zero;
    *got = *u;
    got->has_usage = false;
    set_completion_counts(got, &zero);
    cJSON *j = tg_json_parse_into(text, len, keep, completion_takes, got);
    *reported = got->has_usage;
    if (!got->has_usage) {
        set_completion_counts(got, u);
        got->has_usage = u->has_usage;
    }
    return j;
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

/* The members of a response object parse_response builds: the rest (a completion's
 * text and tool-call arguments, an embedding's vectors, a fingerprint) is checked and
 * not built. Of a chat answer's choices only the finish reason and how many tool calls
 * there are (each built empty) are read, and completion_takes reads the rest. */
static const struct tg_json_keep no_members[] = {{NULL, NULL}};
static const struct tg_json_keep answer_message[] = {{"tool_calls", no_members}, {NULL, NULL}};
static const struct tg_json_keep answer_choice[] = {
    {"finish_reason", NULL}, {"message", answer_message}, {NULL, NULL}};
static const struct tg_json_keep answer_members[] = {{"choices", answer_choice}, {NULL, NULL}};

static const struct tg_json_keep *response_members(enum tg_op op)
{
    static const struct tg_json_keep embeddings[] = {
        {"model", NULL}, {"usage", NULL}, {NULL, NULL}};
    switch (op) {
    case TG_OP_CHAT:
    case TG_OP_COMPLETION: return answer_members;
    case TG_OP_EMBEDDINGS: return embeddings;
    case TG_OP_RESPONSES: return response_object;
    case TG_OP_MODELS:
    case TG_OP_MESSAGES: break;
    }
    return no_members;
}

static int parse_response(enum tg_op op, const char *body, size_t len, struct tg_usage *u)
{
    bool is_completion = op == TG_OP_CHAT || op == TG_OP_COMPLETION, reported;
    struct tg_usage got;
    cJSON *j = is_completion ? parse_completion(body, len, response_members(op), u, &got, &reported)
                             : tg_json_parse_keys(body, len, response_members(op));
    if (j == NULL || !cJSON_IsObject(j)) {
        tg_json_delete(j);
        return TG_ERR_INVALID;
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
    switch (op) {
    case TG_OP_CHAT:
    case TG_OP_COMPLETION: {
        *u = got;
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

/* A chat chunk's members read from the tree: the rest by completion_takes */
static const struct tg_json_keep tool_call_id[] = {{"id", NULL}, {NULL, NULL}};
static const struct tg_json_keep delta[] = {{"tool_calls", tool_call_id}, {NULL, NULL}};
static const struct tg_json_keep chunk_choice[] = {
    {"finish_reason", NULL}, {"delta", delta}, {NULL, NULL}};
static const struct tg_json_keep chat_chunk_members[] = {
    {"error", NULL}, {"choices", chunk_choice}, {NULL, NULL}};

static enum tg_stream_action chat_chunk(struct tg_stream_state *st, const struct tg_sse_event *ev,
                                        struct tg_usage *u)
{
    struct tg_usage got;
    bool has_usage;
    cJSON *j = parse_completion(ev->data, ev->data_len, chat_chunk_members, u, &got, &has_usage);
    if (j == NULL)
        return TG_STREAM_FORWARD; /* not ours to judge: relay it untouched */
    enum tg_stream_action a = TG_STREAM_FORWARD;
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (cJSON_IsObject(err)) {
        stream_error(st, err); /* the chunk's other members are not the answer's */
        tg_json_delete(j);
        return a;
    }
    *u = got;
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
    mark_tool_output(u);
    if (st->injected_usage && has_usage && cJSON_IsArray(choices) &&
        cJSON_GetArraySize(choices) == 0)
        a = TG_STREAM_DROP;
    tg_json_delete(j);
    return a;
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

/* The members of a Responses stream's events that responses_event reads: a finished
 * response's output text is checked and not built (a chat chunk's delta text too) */
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
    if (st->op != TG_OP_RESPONSES)
        return chat_chunk(st, ev, u);
    cJSON *j = tg_json_parse_keys(ev->data, ev->data_len, responses_event_members);
    if (j == NULL)
        return a; /* not ours to judge: relay it untouched */
    responses_event(st, j, u);
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
