/* core/record.h - types shared by providers, accounting, store and server: normalized
 * usage and the ledger record of one call (one row of the `calls` table, docs/LEDGER.md) */
#ifndef TG_CORE_RECORD_H
#define TG_CORE_RECORD_H

#include <stdbool.h>
#include <stdint.h>

/* Normalized usage of one call, all providers (SPECS.md §6). Token counts follow the
 * OTel rule: input_tokens counts ALL input tokens, cached reads and cache writes
 * included (Anthropic's input_tokens is converted by adding its cache fields);
 * output_tokens includes reasoning, audio and rejected prediction tokens. Every other
 * count is a subset of one of those two. A count the provider did not report is 0. */
struct tg_usage {
    int64_t input_tokens;
    int64_t cached_input_tokens;   /* cache reads, subset of input */
    int64_t cache_write_5m_tokens; /* cache writes with the 5-minute TTL (OpenAI's untyped
                                      cache_write_tokens land here) */
    int64_t cache_write_1h_tokens; /* cache writes with the 1-hour TTL */
    int64_t audio_input_tokens;
    int64_t output_tokens;
    int64_t reasoning_tokens;
    int64_t audio_output_tokens;
    int64_t rejected_prediction_tokens; /* billed as output (OpenAI) */
    int64_t tool_call_output_tokens;    /* output_tokens of a response that ended in tool calls */
    int64_t tool_calls;                 /* number of tool calls in the response */
    int64_t web_search_requests;
    int64_t web_fetch_requests;
    bool has_usage; /* the provider reported a usage object */
    char response_model[128];
    char response_id[128];
    char finish_reason[48];
    char service_tier[32];
};

#define TG_FIELD_LEN      128
#define TG_JSON_FIELD_LEN 2048

/* One row of the ledger. Empty strings are stored as NULL. Plain data with fixed-size
 * fields so it can be copied into the ledger queue without ownership questions. */
struct tg_call_record {
    char call_id[37];
    char request_id[TG_FIELD_LEN];
    char trace_id[33], span_id[17], parent_span_id[17];
    int64_t started_at_ms, ended_at_ms;
    int64_t ttft_ms;     /* time to first byte of the upstream body; -1 unknown */
    int64_t upstream_ms; /* time spent waiting on the provider; -1 unknown */
    char provider[32];   /* openai | anthropic | <configured upstream name> */
    char operation[32];  /* chat | text_completion | embeddings | responses | models | messages */
    char endpoint[64];   /* the route path, e.g. /v1/chat/completions */
    char request_model[TG_FIELD_LEN];
    char provider_request_id[TG_FIELD_LEN];
    int status_code;
    char outcome[24]; /* ok | upstream_error | refused | incomplete | client_aborted | gateway_error
                       */
    char error_type[64];
    bool is_stream;
    int attempt;
    int64_t request_bytes, response_bytes;
    struct tg_usage usage;
    bool usage_estimated;
    /* pricing (filled by accounting/pricing) */
    bool is_priced; /* false: cost columns are NULL (never 0 for unknown) */
    int64_t cost_nanos, input_cost_nanos, cached_input_cost_nanos, cache_write_cost_nanos,
        output_cost_nanos, other_cost_nanos, list_cost_nanos, cache_savings_nanos;
    char price_ref[TG_FIELD_LEN];
    /* attribution (filled by accounting/identity) */
    char tenant_id[TG_FIELD_LEN], team[TG_FIELD_LEN], cost_center[TG_FIELD_LEN],
        feature_id[TG_FIELD_LEN], workflow_id[TG_FIELD_LEN], actor_id[TG_FIELD_LEN], actor_type[16],
        environment[64], service[TG_FIELD_LEN], conversation_id[TG_FIELD_LEN];
    char tags[TG_JSON_FIELD_LEN];                /* JSON object text, "" = NULL */
    char attribution_sources[TG_JSON_FIELD_LEN]; /* JSON object text, "" = NULL */
    char key_id[64];
    char budget_scope[160], budget_decision[32];
    /* what the call counts against budgets: cost_nanos when priced, the fallback price of
     * its usage when unpriced, the reservation on a begin row; NULL when none applies */
    bool has_budget_charge;
    int64_t budget_charge_nanos;
};

/** A text field of struct tg_call_record: its offset and array size in bytes. */
struct tg_record_text {
    unsigned short off, size;
};

/** Every text field of a record, in the order of their offsets (the crash journal skips
 *  what follows each one's NUL). */
extern const struct tg_record_text tg_record_texts[];
extern const int tg_record_n_texts;

/** Makes a record read back from bytes (the crash journal) safe to use: every text field
 *  NUL-terminated within its array, every flag 0 or 1. */
void tg_record_sanitize(struct tg_call_record *r);

/** Copies at most dstlen-1 bytes of s (length n) into dst and NUL-terminates. */
void tg_field_set(char *dst, unsigned dstlen, const char *s, unsigned long n);
#define TG_SET(field, s, n) tg_field_set((field), (unsigned)sizeof(field), (s), (n))
#define TG_SETS(field, s)                                                                          \
    tg_field_set((field), (unsigned)sizeof(field), (s), (unsigned long)strlen(s))

#endif
