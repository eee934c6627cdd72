/* providers/anthropic.c - the Anthropic Messages API (SPECS.md §6.3)
 *
 * Usage normalization: Anthropic's input_tokens EXCLUDE cache reads and cache writes;
 * the OTel rule (and the ledger) counts all input, so input = input_tokens +
 * cache_read_input_tokens + cache_creation_input_tokens. Cache writes split by TTL from
 * cache_creation.ephemeral_5m/1h_input_tokens (all in 5m when the split is absent).
 * Streams: message_start carries the initial usage; each message_delta carries
 * CUMULATIVE counters that overwrite the previous value field by field — never summed. */
#include "providers/json_util.h"
#include "providers/provider.h"

#include <cjson/cJSON.h>
#include <string.h>

static int inspect_request(enum tg_op op, const char *body, size_t len,
                           struct tg_request_info *info, struct tg_buf *rewritten,
                           struct tg_errbuf *eb)
{
    (void)op;
    (void)rewritten;
    static const struct tg_json_keep none[] = {{NULL, NULL}};
    static const struct tg_json_take takes[] = {
        TG_JSON_TAKE_STR("model", struct tg_request_info, model),
        TG_JSON_TAKE_TRUE("stream", struct tg_request_info, is_stream),
        TG_JSON_TAKE_INT("max_tokens", struct tg_request_info, max_output_tokens),
        TG_JSON_TAKE_END};
    struct tg_request_info r = {.max_output_tokens = -1}; /* -1: absent */
    cJSON *j = NULL;
    int rc = tg_provider_parse_body(body, len, none, takes, &r, &j, eb);
    if (rc != 0)
        return rc;
    r.input_bytes = (int64_t)len;
    tg_json_delete(j);
    *info = r;
    return 0;
}

/* Overwrites the raw counters present in a usage object (message, message_start or a
 * cumulative message_delta), then recomputes the normalized fields. */
static void apply_usage(struct tg_stream_state *st, const cJSON *usage, struct tg_usage *u)
{
    if (!cJSON_IsObject(usage))
        return;
    u->has_usage = true;
    const cJSON *split = NULL, *out = NULL, *tools = NULL;
    const struct tg_json_field top[] = {
        {"input_tokens", &st->anthropic.input, NULL},
        {"cache_read_input_tokens", &st->anthropic.cache_read, NULL},
        {"cache_creation_input_tokens", &st->anthropic.cache_creation, NULL},
        {"output_tokens", &u->output_tokens, NULL},
        {"cache_creation", NULL, &split},
        {"output_tokens_details", NULL, &out},
        {"server_tool_use", NULL, &tools}};
    tg_json_counts(usage, top, sizeof top / sizeof top[0]);
    if (cJSON_IsObject(split)) { /* the split replaces the one before it: absent is 0 */
        st->anthropic.has_split = true;
        st->anthropic.cache_5m = st->anthropic.cache_1h = 0;
        const struct tg_json_field ttl[] = {
            {"ephemeral_5m_input_tokens", &st->anthropic.cache_5m, NULL},
            {"ephemeral_1h_input_tokens", &st->anthropic.cache_1h, NULL}};
        tg_json_counts(split, ttl, 2);
    }
    const struct tg_json_field out_f[] = {{"thinking_tokens", &u->reasoning_tokens, NULL}};
    const struct tg_json_field tools_f[] = {{"web_search_requests", &u->web_search_requests, NULL},
                                            {"web_fetch_requests", &u->web_fetch_requests, NULL}};
    tg_json_counts(out, out_f, 1);
    tg_json_counts(tools, tools_f, 2);
    tg_json_copy_str(usage, "service_tier", u->service_tier, sizeof u->service_tier);

    u->input_tokens = st->anthropic.input + st->anthropic.cache_read + st->anthropic.cache_creation;
    u->cached_input_tokens = st->anthropic.cache_read;
    if (st->anthropic.has_split) {
        u->cache_write_5m_tokens = st->anthropic.cache_5m;
        u->cache_write_1h_tokens = st->anthropic.cache_1h;
    } else {
        u->cache_write_5m_tokens = st->anthropic.cache_creation;
        u->cache_write_1h_tokens = 0;
    }
}

static void finish_tools(struct tg_stream_state *st, struct tg_usage *u)
{
    u->tool_calls = st->tool_calls_seen;
    u->tool_call_output_tokens = strcmp(u->finish_reason, "tool_use") == 0 ? u->output_tokens : 0;
}

/* A whole Message object (non-streaming body, or message_start's message). */
static void apply_message(struct tg_stream_state *st, const cJSON *msg, struct tg_usage *u)
{
    tg_json_copy_str(msg, "model", u->response_model, sizeof u->response_model);
    tg_json_copy_str(msg, "id", u->response_id, sizeof u->response_id);
    tg_json_copy_str(msg, "stop_reason", u->finish_reason, sizeof u->finish_reason);
    const cJSON *block;
    cJSON_ArrayForEach(block, cJSON_GetObjectItemCaseSensitive(msg, "content"))
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(block, "type");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "tool_use") == 0)
            st->tool_calls_seen++;
    }
    apply_usage(st, cJSON_GetObjectItemCaseSensitive(msg, "usage"), u);
    finish_tools(st, u);
}

/* What apply_message reads of a Message: a content block's text, a tool call's input,
 * are checked and not built */
static const struct tg_json_keep block_type[] = {{"type", NULL}, {NULL, NULL}};
static const struct tg_json_keep message_members[] = {
    {"model", NULL},         {"id", NULL},    {"stop_reason", NULL},
    {"content", block_type}, {"usage", NULL}, {NULL, NULL}};
/* ... and what stream_event reads of an event: a delta's text is not built */
static const struct tg_json_keep delta_stop[] = {{"stop_reason", NULL}, {NULL, NULL}};
static const struct tg_json_keep event_members[] = {
    {"type", NULL},  {"message", message_members},  {"delta", delta_stop}, {"usage", NULL},
    {"error", NULL}, {"content_block", block_type}, {NULL, NULL}};

static int parse_response(enum tg_op op, const char *body, size_t len, struct tg_usage *u)
{
    (void)op;
    struct tg_stream_state st;
    cJSON *j = tg_json_parse_keys(body, len, message_members);
    if (j == NULL || !cJSON_IsObject(j)) {
        tg_json_delete(j);
        return TG_ERR_INVALID;
    }
    memset(&st, 0, sizeof st);
    apply_message(&st, j, u);
    tg_json_delete(j);
    return 0;
}

static enum tg_stream_action stream_event(struct tg_stream_state *st, const struct tg_sse_event *ev,
                                          struct tg_usage *u)
{
    if (ev->data_len == 0)
        return TG_STREAM_FORWARD;
    cJSON *j = tg_json_parse_keys(ev->data, ev->data_len, event_members);
    if (j == NULL)
        return TG_STREAM_FORWARD;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "";
    if (strcmp(t, "message_start") == 0) {
        apply_message(st, cJSON_GetObjectItemCaseSensitive(j, "message"), u);
    } else if (strcmp(t, "message_delta") == 0) {
        tg_json_copy_str(j, "delta.stop_reason", u->finish_reason, sizeof u->finish_reason);
        apply_usage(st, cJSON_GetObjectItemCaseSensitive(j, "usage"), u);
        finish_tools(st, u);
    } else if (strcmp(t, "content_block_start") == 0) {
        const cJSON *bt = tg_json_path(j, "content_block.type");
        if (cJSON_IsString(bt) && strcmp(bt->valuestring, "tool_use") == 0) {
            st->tool_calls_seen++;
            finish_tools(st, u);
        }
    } else if (strcmp(t, "message_stop") == 0) {
        st->saw_terminal = true;
    } else if (strcmp(t, "error") == 0) {
        st->saw_error = true;
        const cJSON *et = tg_json_path(j, "error.type");
        const char *v = cJSON_IsString(et) ? et->valuestring : "stream_error";
        tg_field_set(st->error_type, sizeof st->error_type, v, strlen(v));
    }
    tg_json_delete(j);
    return TG_STREAM_FORWARD;
}

/* Anthropic's error types (its API reference, "Errors"): invalid_request_error (400),
 * authentication_error (401), permission_error (403), not_found_error (404),
 * request_too_large (413), rate_limit_error (429), api_error (500), overloaded_error
 * (529). A gateway timeout (504) has no own type there: timeout_error is used, and the
 * SDKs classify by HTTP status anyway. */
static void format_error(struct tg_buf *out, const char *type, const char *code,
                         const char *message, const char *tollgate_json)
{
    (void)code; /* not part of Anthropic's shape: the caller puts it in the tollgate object */
    const char *t = strcmp(type, "budget_exceeded") == 0 ? "rate_limit_error" : type;
    tg_buf_appends(out, "{\"type\":\"error\",\"error\":{\"type\":");
    tg_buf_append_json_str(out, t, strlen(t));
    tg_buf_appends(out, ",\"message\":");
    tg_buf_append_json_str(out, message, strlen(message));
    tg_buf_appends(out, "}");
    tg_provider_close_error(out, tollgate_json);
}

const struct tg_provider tg_provider_anthropic = {
    .name = "anthropic",
    .dialect = TG_DIALECT_ANTHROPIC,
    .inspect_request = inspect_request,
    .parse_response = parse_response,
    .stream_event = stream_event,
    .format_error = format_error,
};
