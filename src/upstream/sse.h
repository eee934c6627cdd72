/* upstream/sse.h - incremental Server-Sent Events parser (WHATWG HTML "event stream
 * interpretation") */
#ifndef TG_UPSTREAM_SSE_H
#define TG_UPSTREAM_SSE_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

/* One dispatched event. Pointers borrow the parser's buffers and are valid only during
 * the callback. raw_start/raw_end are absolute byte offsets into the stream fed so far:
 * the bytes [raw_start, raw_end) are exactly this event's lines including comments and
 * the terminating blank line, and consecutive events tile the stream without gaps, so a
 * relay can forward or drop an event's original bytes untouched. */
struct tg_sse_event {
    const char *event;
    size_t event_len; /* "" when no event: field (type "message") */
    const char *data;
    size_t data_len; /* data lines joined with '\n', no trailing '\n' */
    const char *id;
    size_t id_len;
    uint64_t raw_start, raw_end;
};

/* Return 0 to continue, non-zero to stop parsing (tg_sse_feed returns that value). */
typedef int (*tg_sse_cb)(void *ud, const struct tg_sse_event *ev);

struct tg_sse_parser {
    struct tg_buf line; /* current incomplete line */
    struct tg_buf data, event, id;
    uint64_t offset; /* absolute bytes consumed */
    uint64_t event_start;
    size_t max_event;     /* limit on one event's size in bytes */
    int has_data;         /* at least one data: line seen in the current event */
    int last_was_cr;      /* previous chunk ended in CR (CRLF split across feeds) */
    int pending_dispatch; /* a blank line ended in that CR: dispatch once the next byte is seen */
    int bom_checked;
};

/** Initialises p; max_event_bytes bounds memory for one event (TG_ERR_LIMIT beyond). */
void tg_sse_init(struct tg_sse_parser *p, size_t max_event_bytes);
/** Feeds n bytes; calls cb for each completed event (blank-line terminated; CR, LF and
 *  CRLF line ends; a leading UTF-8 BOM ignored). Events with no data lines are
 *  still reported (data_len 0) so raw offsets stay contiguous. Returns 0, the callback's
 *  non-zero value, or TG_ERR_LIMIT. */
int tg_sse_feed(struct tg_sse_parser *p, const char *buf, size_t n, tg_sse_cb cb, void *ud);
/** End of stream: dispatches an event whose blank line ended in a lone CR (which could
 *  not be told apart from the first half of CRLF before). Returns like tg_sse_feed. */
int tg_sse_finish(struct tg_sse_parser *p, tg_sse_cb cb, void *ud);
/** True when bytes of an unterminated event are pending (a stream cut mid-event). */
int tg_sse_has_partial(const struct tg_sse_parser *p);
void tg_sse_free(struct tg_sse_parser *p);

#endif
