/* providers/provider.h - the ops table every API family implements (one shape for all, as
 * nginx modules): request inspection, usage extraction from bodies and streams, errors in
 * the caller's dialect. Pure code: no I/O, no clock. */
#ifndef TG_PROVIDERS_PROVIDER_H
#define TG_PROVIDERS_PROVIDER_H

#include "core/buf.h"
#include "core/err.h"
#include "core/record.h"
#include "upstream/sse.h"

#include <stdbool.h>
#include <stddef.h>

enum tg_op {
    TG_OP_CHAT,       /* OpenAI /v1/chat/completions */
    TG_OP_COMPLETION, /* OpenAI /v1/completions */
    TG_OP_EMBEDDINGS, /* OpenAI /v1/embeddings */
    TG_OP_RESPONSES,  /* OpenAI /v1/responses */
    TG_OP_MODELS,     /* OpenAI GET /v1/models */
    TG_OP_MESSAGES,   /* Anthropic /v1/messages */
};

/** Ledger `operation` value for op ("chat", "text_completion", "embeddings", "responses", "models",
 * "chat"). */
const char *tg_op_name(enum tg_op op);

/* What the gateway learnt from the client's request body. */
struct tg_request_info {
    char model[128];
    bool is_stream;
    bool injected_usage; /* we added stream_options.include_usage: drop the usage-only chunk */
    int64_t
        max_output_tokens; /* max_tokens / max_completion_tokens / max_output_tokens; -1 absent */
    int64_t input_bytes;   /* size of the prompt-bearing JSON (for budget estimates) */
};

/* Per-call stream state, zero-initialised by the caller, owned by the provider functions. */
struct tg_stream_state {
    enum tg_op op;
    bool injected_usage;
    bool saw_terminal; /* [DONE], message_stop, response.completed/incomplete/failed */
    bool saw_error;    /* an error event arrived mid-stream */
    char error_type[64];
    int64_t tool_calls_seen; /* distinct tool call indexes / tool_use blocks */
    /* Anthropic: the raw cumulative counters, overwritten field by field by message_delta,
     * from which the normalized usage is recomputed after every event */
    struct {
        int64_t input, cache_read, cache_creation, cache_5m, cache_1h;
        bool has_split;
    } anthropic;
};

/* What the relay does with a stream event. */
enum tg_stream_action { TG_STREAM_FORWARD = 0, TG_STREAM_DROP = 1 };

enum tg_dialect { TG_DIALECT_OPENAI, TG_DIALECT_ANTHROPIC };

struct tg_provider {
    const char *name; /* "openai", "anthropic" */
    enum tg_dialect dialect;
    /** Parses the request body (JSON) for op. On success fills info; when the request
     *  streams a chat completion without stream_options.include_usage, writes a rewritten
     *  body into rewritten (left empty otherwise) and sets info->injected_usage.
     *  Returns TG_ERR_INVALID with a message naming the problem for malformed JSON or a
     *  body that is not an object. */
    int (*inspect_request)(enum tg_op op, const char *body, size_t len,
                           struct tg_request_info *info, struct tg_buf *rewritten,
                           struct tg_errbuf *eb);
    /** Extracts usage, model, id, finish reason and tool calls from a complete
     *  (non-streaming) JSON response body. TG_ERR_INVALID when the body is not JSON. */
    int (*parse_response)(enum tg_op op, const char *body, size_t len, struct tg_usage *u);
    /** Consumes one SSE event of a streaming response, updating u and st; returns
     *  TG_STREAM_DROP for an event the client must not see (the injected usage chunk). */
    enum tg_stream_action (*stream_event)(struct tg_stream_state *st, const struct tg_sse_event *ev,
                                          struct tg_usage *u);
    /** Writes a gateway error body in this dialect: OpenAI
     *  {"error":{"message","type","code","param":null},"tollgate":{...}}, Anthropic
     *  {"type":"error","error":{"type","message"},"tollgate":{...}}. type is the
     *  dialect-neutral kind (invalid_request_error, authentication_error,
     *  permission_error, not_found_error, request_too_large, rate_limit_error, api_error,
     *  timeout_error); tollgate_json is a JSON object text or NULL. */
    void (*format_error)(struct tg_buf *out, const char *type, const char *code,
                         const char *message, const char *tollgate_json);
};

/** Parses a request body that must be a JSON object, reading the members take lists
 *  into target and building only those keep lists (the rest, the messages, are checked
 *  and left out: tg_json_parse_into); *out is owned by the caller (cJSON_Delete).
 *  TG_ERR_INVALID with "request body is not valid JSON" or "request body must be a JSON
 *  object". Shared by the adapters. */
struct cJSON;
struct tg_json_keep;
struct tg_json_take;
int tg_provider_parse_body(const char *body, size_t len, const struct tg_json_keep *keep,
                           const struct tg_json_take *take, void *target, struct cJSON **out,
                           struct tg_errbuf *eb);
/** Appends the optional ,"tollgate":{...} member and closes the error object. */
void tg_provider_close_error(struct tg_buf *out, const char *tollgate_json);

extern const struct tg_provider tg_provider_openai;
extern const struct tg_provider tg_provider_anthropic;

#endif
