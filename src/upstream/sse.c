/* upstream/sse.c - incremental Server-Sent Events parser
 *
 * Follows the WHATWG HTML "event stream interpretation": lines end in CRLF, LF or CR; a
 * line starting with ':' is a comment; "field: value" drops one leading space from the
 * value; data lines are joined with '\n'; a blank line dispatches. A CR at the end of one
 * feed followed by LF at the start of the next is one line end. Unlike a browser, every
 * blank-line-terminated block is reported, even one without data, so that the raw byte
 * ranges of consecutive events tile the stream and a relay can forward or drop each
 * event's original bytes. Lines are found with memchr, never byte by byte. */
#include "upstream/sse.h"

#include "core/err.h"

#include <stdbool.h>
#include <string.h>

void tg_sse_init(struct tg_sse_parser *p, size_t max_event_bytes)
{
    memset(p, 0, sizeof *p);
    p->max_event = max_event_bytes;
}

void tg_sse_free(struct tg_sse_parser *p)
{
    tg_buf_free(&p->line);
    tg_buf_free(&p->data);
    tg_buf_free(&p->event);
    tg_buf_free(&p->id);
}

static int on_line(struct tg_sse_parser *p, const char *s, size_t n, tg_sse_cb cb, void *ud);

int tg_sse_finish(struct tg_sse_parser *p, tg_sse_cb cb, void *ud)
{
    p->last_was_cr = 0;
    if (!p->pending_dispatch)
        return 0;
    p->pending_dispatch = 0;
    return on_line(p, "", 0, cb, ud);
}

int tg_sse_has_partial(const struct tg_sse_parser *p)
{
    return p->offset > p->event_start;
}

static void reset_event(struct tg_sse_parser *p)
{
    tg_buf_reset(&p->data);
    tg_buf_reset(&p->event);
    p->has_data = 0;
}

/* One complete line (without its terminator). Returns the callback's value or 0. */
static int on_line(struct tg_sse_parser *p, const char *s, size_t n, tg_sse_cb cb, void *ud)
{
    if (n == 0) {
        struct tg_sse_event ev;
        ev.event = p->event.base ? p->event.base : "";
        ev.event_len = p->event.len;
        ev.data = p->data.base ? p->data.base : "";
        ev.data_len = p->data.len;
        ev.id = p->id.base ? p->id.base : "";
        ev.id_len = p->id.len;
        ev.raw_start = p->event_start;
        ev.raw_end = p->offset;
        p->event_start = p->offset;
        int rc = cb(ud, &ev);
        reset_event(p);
        return rc;
    }
    if (s[0] == ':')
        return 0;
    const char *colon = memchr(s, ':', n);
    size_t fl = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    size_t vl = colon ? n - fl - 1 : 0;
    if (vl > 0 && v[0] == ' ') {
        v++;
        vl--;
    }
    if (fl == 4 && memcmp(s, "data", 4) == 0) {
        if (p->has_data)
            tg_buf_append(&p->data, "\n", 1);
        tg_buf_append(&p->data, v, vl);
        p->has_data = 1;
    } else if (fl == 5 && memcmp(s, "event", 5) == 0) {
        tg_buf_reset(&p->event);
        tg_buf_append(&p->event, v, vl);
    } else if (fl == 2 && memcmp(s, "id", 2) == 0) {
        if (memchr(v, '\0', vl) == NULL) {
            tg_buf_reset(&p->id);
            tg_buf_append(&p->id, v, vl);
        }
    }
    return 0; /* retry and unknown fields are ignored */
}

int tg_sse_feed(struct tg_sse_parser *p, const char *buf, size_t n, tg_sse_cb cb, void *ud)
{
    size_t i = 0;
    if (!p->bom_checked && n > 0) {
        /* a UTF-8 BOM may only open the stream; it may arrive split across feeds */
        static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
        size_t have = p->line.len, k = 0;
        while (have + k < 3 && k < n && (unsigned char)buf[k] == bom[have + k])
            k++;
        if (have + k == 3) {
            tg_buf_reset(&p->line);
            p->offset += k;
            i = k;
            p->bom_checked = 1;
        } else if (k == n && have + k < 3) {
            tg_buf_append(&p->line, buf, n); /* still could be a BOM */
            p->offset += n;
            return 0;
        } else {
            p->bom_checked = 1; /* not a BOM: what was held is ordinary text */
        }
    }
    if (p->last_was_cr && i < n) {
        p->last_was_cr = 0;
        if (buf[i] == '\n') { /* the LF of a CRLF split across feeds */
            i++;
            p->offset++;
            if (p->pending_dispatch) {
                p->pending_dispatch = 0;
                int rc = on_line(p, "", 0, cb, ud);
                if (rc != 0)
                    return rc;
            }
        } else if (p->pending_dispatch) {
            p->pending_dispatch = 0;
            int rc = on_line(p, "", 0, cb, ud);
            if (rc != 0)
                return rc;
        }
    }
    while (i < n) {
        const char *s = buf + i;
        size_t left = n - i;
        const char *lf = memchr(s, '\n', left);
        const char *cr = memchr(s, '\r', lf ? (size_t)(lf - s) : left);
        const char *end = cr ? cr : lf;
        if (end == NULL) {
            if (p->line.len + left > p->max_event)
                return TG_ERR_LIMIT;
            tg_buf_append(&p->line, s, left);
            p->offset += left;
            break;
        }
        size_t len = (size_t)(end - s);
        size_t term = 1;
        bool cr_at_end = false;
        if (end == cr) {
            if (len + 1 < left && s[len + 1] == '\n')
                term = 2;
            else if (len + 1 == left)
                cr_at_end = true; /* maybe the CR of a CRLF split across feeds */
        }
        const char *line = s;
        size_t line_len = len;
        if (p->line.len > 0) {
            if (p->line.len + len > p->max_event)
                return TG_ERR_LIMIT;
            tg_buf_append(&p->line, s, len);
            line = p->line.base;
            line_len = p->line.len;
        }
        if (p->data.len + line_len > p->max_event)
            return TG_ERR_LIMIT;
        p->offset += len + term;
        i += len + term;
        if (cr_at_end) {
            p->last_was_cr = 1;
            if (line_len == 0) {
                /* a blank line ended by CR: the event's range must include a following LF */
                p->pending_dispatch = 1;
                tg_buf_reset(&p->line);
                break;
            }
        }
        int rc = on_line(p, line, line_len, cb, ud);
        tg_buf_reset(&p->line);
        if (rc != 0)
            return rc;
    }
    return 0;
}
