/* accounting/tracectx.h - W3C Trace Context (traceparent, tracestate) and W3C Baggage */
#ifndef TG_ACCOUNTING_TRACECTX_H
#define TG_ACCOUNTING_TRACECTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tg_traceparent {
    uint8_t version;
    char trace_id[33]; /* 32 lowercase hex */
    char span_id[17];  /* 16 lowercase hex (the caller's span: our parent) */
    uint8_t flags;
};

/** Parses one traceparent value with the spec's strict rules (lowercase hex, version ff
 *  invalid, all-zero ids invalid, version 00 exactly 55 characters, a higher version may
 *  carry more fields after a '-'). Returns true when valid. Pure. */
bool tg_trace_parse(const char *v, size_t n, struct tg_traceparent *out);

/* The gateway's own span in the caller's trace (or a new trace). */
struct tg_trace_ctx {
    char trace_id[33], span_id[17], parent_span_id[17]; /* parent "" for a new trace */
    uint8_t flags;
    bool continued;
};

/** Continues a valid caller context (same trace id and flags, new span id, the caller's
 *  span as parent) or starts a new trace (random trace id, no parent, flags sampled and
 *  random-trace-id 0x03) from 24 random bytes. Pure. */
void tg_trace_continue(const struct tg_traceparent *caller, bool valid, const uint8_t random[24],
                       struct tg_trace_ctx *out);

/** Formats "00-<trace>-<span>-<flags>" into out (56 bytes). */
void tg_trace_format(const char *trace_id, const char *span_id, uint8_t flags, char out[56]);

#define TG_BAGGAGE_MAX_MEMBERS 64
#define TG_BAGGAGE_MAX_BYTES   8192

struct tg_baggage_member {
    char key[64];
    char value[256]; /* percent-decoded UTF-8 (invalid sequences become U+FFFD) */
};

struct tg_baggage {
    struct tg_baggage_member m[TG_BAGGAGE_MAX_MEMBERS];
    int n;
    int dropped; /* malformed or over-limit members skipped */
};

/** Parses one baggage header value into b (appending, so several headers combine). A
 *  malformed member is dropped and the rest kept; properties (";k=v") are accepted and
 *  ignored; members past 64, or past 8192 bytes of header in total, are dropped. Pure. */
void tg_baggage_parse(const char *v, size_t n, struct tg_baggage *b);

/** The decoded value of key, or NULL. The first occurrence wins. */
const char *tg_baggage_get(const struct tg_baggage *b, const char *key);

#endif
