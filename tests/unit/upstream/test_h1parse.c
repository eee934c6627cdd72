/* tests/unit/upstream/test_h1parse.c - HTTP/1.1 response heads and the chunked coding
 * (RFC 9112): framing, refusals, every split of a chunked body */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "upstream/h1parse.h"

struct head_case {
    const char *name, *input;
    long want;         /* parse result: length, 0 (more), -1 */
    int status;        /* when complete */
    int64_t clen;      /* content_length */
    int chunked, keep; /* is_chunked, is_keep_alive */
};

#define OK200 "HTTP/1.1 200 OK\r\n"
static const struct head_case heads[] = {
    {"content-length", OK200 "Content-Type: application/json\r\nContent-Length: 12\r\n\r\n", 71,
     200, 12, 0, 1},
    {"chunked", OK200 "Transfer-Encoding: chunked\r\n\r\n", 47, 200, -1, 1, 1},
    {"chunked wins over content-length",
     OK200 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 66, 200, -1, 1, 1},
    {"neither: until close", OK200 "\r\n", 19, 200, -1, 0, 0},
    {"connection close", OK200 "Connection: close\r\nContent-Length: 0\r\n\r\n", 57, 200, 0, 0, 0},
    {"connection list with close", OK200 "Connection: TE, Close\r\nContent-Length: 0\r\n\r\n", 61,
     200, 0, 0, 0},
    {"http/1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", 38, 200, 2, 0, 0},
    {"http/1.0 keep-alive",
     "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n", 62, 200, 2, 0, 1},
    {"bare LF lines", "HTTP/1.1 429 Too Many\nContent-Length: 3\n\n", 41, 429, 3, 0, 1},
    {"no reason phrase", "HTTP/1.1 204\r\n\r\n", 16, 204, 0, 0, 1},
    {"1xx has no body", "HTTP/1.1 100 Continue\r\n\r\n", 25, 100, 0, 0, 1},
    {"304 has no body", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 49, 304, 0, 0,
     1},
    {"gzip then chunked", OK200 "Transfer-Encoding: gzip, chunked\r\n\r\n", 53, 200, -1, 1, 1},
    {"chunked then gzip: until close", OK200 "Transfer-Encoding: chunked, gzip\r\n\r\n", 53, 200,
     -1, 0, 0},
    {"same length twice", OK200 "Content-Length: 4\r\nContent-Length: 4\r\n\r\n", 57, 200, 4, 0, 1},
    {"value whitespace trimmed", OK200 "Content-Length: \t 7 \r\n\r\n", 41, 200, 7, 0, 1},
    {"incomplete status line", "HTTP/1.1 200", 0, 0, 0, 0, 0},
    {"incomplete headers", OK200 "Content-Length: 4\r\n", 0, 0, 0, 0, 0},
    {"not http", "SSH-2.0-OpenSSH_9.2\r\n\r\n", -1, 0, 0, 0, 0},
    {"http/2 status line", "HTTP/2 200\r\n\r\n", -1, 0, 0, 0, 0},
    {"status of two digits", "HTTP/1.1 20 OK\r\n\r\n", -1, 0, 0, 0, 0},
    {"status 600", "HTTP/1.1 600 X\r\n\r\n", -1, 0, 0, 0, 0},
    {"differing lengths", OK200 "Content-Length: 4\r\nContent-Length: 5\r\n\r\n", -1, 0, 0, 0, 0},
    {"negative length", OK200 "Content-Length: -1\r\n\r\n", -1, 0, 0, 0, 0},
    {"length with sign", OK200 "Content-Length: +4\r\n\r\n", -1, 0, 0, 0, 0},
    {"length list", OK200 "Content-Length: 4, 4\r\n\r\n", -1, 0, 0, 0, 0},
    {"empty length", OK200 "Content-Length:\r\n\r\n", -1, 0, 0, 0, 0},
    {"obsolete folding", OK200 "X-A: 1\r\n  2\r\n\r\n", -1, 0, 0, 0, 0},
    {"space before colon", OK200 "Content-Length : 4\r\n\r\n", -1, 0, 0, 0, 0},
    {"no colon", OK200 "Content-Length 4\r\n\r\n", -1, 0, 0, 0, 0},
};

static void test_heads(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        const struct head_case *c = &heads[i];
        struct tg_h1_head h;
        long r = tg_h1_parse_head(c->input, strlen(c->input), &h);
        if (r != c->want)
            fail_msg("%s: parse returned %ld, want %ld", c->name, r, c->want);
        if (r <= 0)
            continue;
        if (h.status != c->status || h.content_length != c->clen ||
            h.is_chunked != (c->chunked != 0) || h.is_keep_alive != (c->keep != 0))
            fail_msg("%s: status %d clen %lld chunked %d keep %d", c->name, h.status,
                     (long long)h.content_length, h.is_chunked, h.is_keep_alive);
    }
}

static void test_head_fields(void **state)
{
    (void)state;
    const char *in = OK200 "X-Request-Id: req_123\r\ncontent-type:text/event-stream\r\n\r\nBODY";
    struct tg_h1_head h;
    long r = tg_h1_parse_head(in, strlen(in), &h);
    assert_int_equal(r, (long)strlen(in) - 4);
    assert_int_equal(h.n_headers, 2);
    assert_int_equal(h.headers[0].name_len, 12);
    assert_memory_equal(h.headers[0].name, "X-Request-Id", 12);
    assert_int_equal(h.headers[0].value_len, 7);
    assert_memory_equal(h.headers[0].value, "req_123", 7);
    assert_int_equal(h.headers[1].value_len, 17);
    assert_memory_equal(h.headers[1].value, "text/event-stream", 17);
}

/* A header name is RFC 9110 tokens only: each byte but the colon, inside a name, is
 * accepted exactly when it is a tchar */
static void test_head_name_bytes(void **state)
{
    (void)state;
    for (int ch = 0; ch < 256; ch++) {
        if (ch == ':')
            continue;
        bool tchar = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch));
        char in[64];
        int n = snprintf(in, sizeof in, OK200 "X%cY: 1\r\nContent-Length: 0\r\n\r\n", ch);
        if (ch == 0)
            in[18] = '\0';
        struct tg_h1_head h;
        long r = tg_h1_parse_head(in, (size_t)n, &h);
        if (tchar ? r != n || h.n_headers != 2 || h.headers[0].name_len != 3 : r != -1)
            fail_msg("byte 0x%02x in a name: %ld", ch, r);
    }
}

static void test_head_limits(void **state)
{
    (void)state;
    /* too many header lines */
    struct tg_buf b = {0};
    tg_buf_appends(&b, OK200);
    for (int i = 0; i <= TG_H1_MAX_HEADERS; i++)
        tg_buf_appendf(&b, "X-%d: v\r\n", i);
    tg_buf_appends(&b, "\r\n");
    struct tg_h1_head h;
    assert_int_equal(tg_h1_parse_head(b.base, b.len, &h), -1);
    /* a head that never ends: more wanted until the limit, then refused */
    tg_buf_reset(&b);
    tg_buf_appends(&b, OK200 "X-Big: ");
    while (b.len < TG_H1_MAX_HEAD - 1)
        tg_buf_appends(&b, "a");
    assert_int_equal(tg_h1_parse_head(b.base, b.len, &h), 0);
    tg_buf_appends(&b, "aa");
    assert_int_equal(tg_h1_parse_head(b.base, b.len, &h), -1);
    tg_buf_free(&b);
}

/* Feeds body[0..n) in two parts split at cut, the way a socket buffer fills: the decoder
 * sees everything held so far; whatever it skipped or delivered is dropped from the
 * front. Returns the result at the end; the data goes to out. */
static enum tg_h1_chunk decode_split(const char *body, size_t n, size_t cut, struct tg_buf *out,
                                     size_t *left_over)
{
    struct tg_h1_chunked d = {0};
    struct tg_buf held = {0};
    enum tg_h1_chunk r = TG_H1_CHUNK_MORE;
    size_t parts[2][2] = {{0, cut}, {cut, n - cut}}, fed = 0;
    for (int p = 0; p < 2 && r != TG_H1_CHUNK_END && r != TG_H1_CHUNK_BAD; p++) {
        tg_buf_append(&held, body + parts[p][0], parts[p][1]);
        fed += parts[p][1];
        for (;;) {
            size_t skip = 0, len = 0;
            r = tg_h1_chunked_next(&d, held.base ? held.base : "", held.len, &skip, &len);
            tg_buf_consume(&held, skip);
            if (r != TG_H1_CHUNK_DATA)
                break;
            size_t take = len > 3 ? len - 3 : len; /* a consumer that takes part of it */
            tg_buf_append(out, held.base, take);
            tg_buf_consume(&held, take);
            tg_h1_chunked_took(&d, take);
        }
    }
    *left_over = held.len + (n - fed);
    tg_buf_free(&held);
    return r;
}

struct chunk_case {
    const char *name, *input, *want;
    enum tg_h1_chunk result;
    size_t left_over; /* bytes after the body (END) */
};

static const struct chunk_case chunks[] = {
    {"two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", TG_H1_CHUNK_END, 0},
    {"hex sizes, either case", "a\r\n0123456789\r\nB\r\nabcdefghijk\r\n0\r\n\r\n",
     "0123456789abcdefghijk", TG_H1_CHUNK_END, 0},
    {"extensions ignored", "3;name=v\r\nabc\r\n0;x\r\n\r\n", "abc", TG_H1_CHUNK_END, 0},
    {"trailers skipped", "3\r\nabc\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n", "abc", TG_H1_CHUNK_END, 0},
    {"bare LF", "3\nabc\n0\n\n", "abc", TG_H1_CHUNK_END, 0},
    {"bytes after the end", "1\r\nz\r\n0\r\n\r\nHTTP", "z", TG_H1_CHUNK_END, 4},
    {"unfinished", "5\r\nhel", "hel", TG_H1_CHUNK_MORE, 0},
    {"no size", "\r\nabc\r\n", "", TG_H1_CHUNK_BAD, 0},
    {"not hex", "zz\r\nabc\r\n", "", TG_H1_CHUNK_BAD, 0},
    {"junk after size", "3 x\r\nabc\r\n0\r\n\r\n", "", TG_H1_CHUNK_BAD, 0},
    {"no CRLF after data", "3\r\nabcX\r\n0\r\n\r\n", "abc", TG_H1_CHUNK_BAD, 0},
    {"size too large", "fffffffffffffffff\r\n", "", TG_H1_CHUNK_BAD, 0},
};

static void test_chunked_every_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        const struct chunk_case *c = &chunks[i];
        size_t n = strlen(c->input);
        for (size_t cut = 0; cut <= n; cut++) {
            struct tg_buf out = {0};
            size_t left = 0;
            enum tg_h1_chunk r = decode_split(c->input, n, cut, &out, &left);
            if (r != c->result || (r == TG_H1_CHUNK_END && left != c->left_over) ||
                out.len != strlen(c->want) || memcmp(out.base ? out.base : "", c->want, out.len))
                fail_msg("%s (cut %zu): result %d left %zu data '%.*s'", c->name, cut, r, left,
                         (int)out.len, out.base ? out.base : "");
            tg_buf_free(&out);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heads),
        cmocka_unit_test(test_head_fields),
        cmocka_unit_test(test_head_name_bytes),
        cmocka_unit_test(test_head_limits),
        cmocka_unit_test(test_chunked_every_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
