/* accounting/tracectx.c - W3C Trace Context and Baggage parsing (SPECS.md §3-4)
 *
 * Both parsers take untrusted header bytes: they never read past n, never allocate, and
 * answer "invalid" or drop the offending baggage member rather than guess. The trace
 * parser follows the spec's strict Level 2 rules and its conformance cases (uppercase,
 * all-zero ids, version ff, trailing data on version 00 are invalid; a higher version may
 * carry more fields); the caller treats two traceparent headers as invalid. */
#include "accounting/tracectx.h"

#include "core/buf.h"

#include <stdio.h>
#include <string.h>

static bool lowhex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool all_zero(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != '0')
            return false;
    return true;
}

static uint8_t hexbyte(const char *s)
{
    int hi = s[0] <= '9' ? s[0] - '0' : s[0] - 'a' + 10;
    int lo = s[1] <= '9' ? s[1] - '0' : s[1] - 'a' + 10;
    return (uint8_t)(hi * 16 + lo);
}

bool tg_trace_parse(const char *v, size_t n, struct tg_traceparent *out)
{
    /* spaces and tabs around the value are tolerated */
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n < 55 || !lowhex(v, 2) || v[2] != '-')
        return false;
    uint8_t version = hexbyte(v);
    if (version == 0xff)
        return false;
    if (version == 0 && n != 55)
        return false;
    if (version != 0 && n > 55 && v[55] != '-')
        return false;
    const char *tid = v + 3, *pid = v + 36, *fl = v + 53;
    if (!lowhex(tid, 32) || v[35] != '-' || !lowhex(pid, 16) || v[52] != '-' || !lowhex(fl, 2))
        return false;
    if (all_zero(tid, 32) || all_zero(pid, 16))
        return false;
    out->version = version;
    memcpy(out->trace_id, tid, 32);
    out->trace_id[32] = '\0';
    memcpy(out->span_id, pid, 16);
    out->span_id[16] = '\0';
    /* only the defined bits are propagated (sampled 0x01, random-trace-id 0x02) */
    out->flags = hexbyte(fl) & 0x03;
    return true;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void tg_trace_continue(const struct tg_traceparent *caller, bool valid, const uint8_t random[24],
                       struct tg_trace_ctx *out)
{
    uint8_t span[8];
    memcpy(span, random + 16, 8);
    if (span[0] == 0) /* an all-zero span id is invalid; make that impossible */
        span[0] = 1;
    hex(span, 8, out->span_id);
    if (valid && caller != NULL) {
        memcpy(out->trace_id, caller->trace_id, 33);
        memcpy(out->parent_span_id, caller->span_id, 17);
        out->flags = caller->flags;
        out->continued = true;
        return;
    }
    uint8_t tid[16];
    memcpy(tid, random, 16);
    tid[0] |= 1; /* never all zero */
    hex(tid, 16, out->trace_id);
    out->parent_span_id[0] = '\0';
    out->flags = 0x03; /* sampled, and a fully random trace id (Level 2) */
    out->continued = false;
}

void tg_trace_format(const char *trace_id, const char *span_id, uint8_t flags, char out[56])
{
    /* "00-%.32s-%.16s-%02x", by hand: two of these per call */
    static const char hex[] = "0123456789abcdef";
    size_t t = strnlen(trace_id, 32), s = strnlen(span_id, 16);
    char *o = out;
    memcpy(o, "00-", 3);
    o += 3;
    memcpy(o, trace_id, t);
    o += t;
    *o++ = '-';
    memcpy(o, span_id, s);
    o += s;
    *o++ = '-';
    *o++ = hex[flags >> 4];
    *o++ = hex[flags & 15];
    *o = '\0';
}

/* --- baggage ------------------------------------------------------------------------ */

static bool tchar(char c)
{
    /* c != 0: strchr would find the set's own terminator */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool baggage_octet(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) ||
           (c >= 0x3C && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

/* Appends U+FFFD (EF BF BD). */
static size_t put_replacement(char *out, size_t o, size_t cap)
{
    if (o + 3 < cap) {
        out[o++] = (char)0xEF;
        out[o++] = (char)0xBF;
        out[o++] = (char)0xBD;
    }
    return o;
}

/* Percent-decodes s into out as UTF-8; sequences that are not valid UTF-8 become U+FFFD
 * (SPECS §4.2). Returns false when the result does not fit. */
static bool percent_decode(const char *s, size_t n, char *out, size_t cap)
{
    unsigned char raw[512];
    size_t r = 0, o = 0;
    for (size_t i = 0; i < n; i++) {
        if (r == sizeof raw)
            return false;
        if (s[i] == '%' && i + 2 < n && tg_hexval(s[i + 1]) >= 0 && tg_hexval(s[i + 2]) >= 0) {
            raw[r++] = (unsigned char)(tg_hexval(s[i + 1]) * 16 + tg_hexval(s[i + 2]));
            i += 2;
        } else {
            raw[r++] = (unsigned char)s[i];
        }
    }
    /* validate UTF-8 (RFC 3629: no overlongs, no surrogates, at most U+10FFFF) */
    for (size_t i = 0; i < r;) {
        unsigned char c = raw[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
        bool ok = len > 0 && i + len <= r;
        for (size_t k = 1; ok && k < len; k++)
            ok = (raw[i + k] & 0xC0) == 0x80;
        if (ok && len == 2)
            ok = c >= 0xC2;
        if (ok && len == 3)
            ok = !(c == 0xE0 && raw[i + 1] < 0xA0) && !(c == 0xED && raw[i + 1] >= 0xA0);
        if (ok && len == 4)
            ok = c <= 0xF4 && !(c == 0xF0 && raw[i + 1] < 0x90) &&
                 !(c == 0xF4 && raw[i + 1] >= 0x90);
        if (!ok) {
            o = put_replacement(out, o, cap);
            i++;
            continue;
        }
        if (o + len >= cap)
            return false;
        memcpy(out + o, raw + i, len);
        o += len;
        i += len;
    }
    out[o] = '\0';
    return true;
}

static void add_member(struct tg_baggage *b, const char *item, size_t n)
{
    /* key OWS "=" OWS value *( OWS ";" OWS property ) */
    size_t i = 0;
    while (i < n && (item[i] == ' ' || item[i] == '\t'))
        i++;
    size_t k0 = i;
    while (i < n && tchar(item[i]))
        i++;
    size_t k1 = i;
    while (i < n && (item[i] == ' ' || item[i] == '\t'))
        i++;
    if (k1 == k0 || i == n || item[i] != '=' || k1 - k0 >= sizeof b->m[0].key) {
        b->dropped++;
        return;
    }
    i++;
    while (i < n && (item[i] == ' ' || item[i] == '\t'))
        i++;
    size_t v0 = i;
    while (i < n && baggage_octet((unsigned char)item[i]))
        i++;
    size_t v1 = i;
    while (i < n && (item[i] == ' ' || item[i] == '\t'))
        i++;
    if (i < n && item[i] != ';') { /* junk after the value */
        b->dropped++;
        return;
    }
    if (b->n == TG_BAGGAGE_MAX_MEMBERS) {
        b->dropped++;
        return;
    }
    struct tg_baggage_member *m = &b->m[b->n];
    memcpy(m->key, item + k0, k1 - k0);
    m->key[k1 - k0] = '\0';
    if (!percent_decode(item + v0, v1 - v0, m->value, sizeof m->value)) {
        b->dropped++;
        return;
    }
    b->n++; /* properties (after ';') are tolerated and ignored */
}

void tg_baggage_parse(const char *v, size_t n, struct tg_baggage *b)
{
    if (n > TG_BAGGAGE_MAX_BYTES) { /* never keep a partial member: cut at the last comma */
        size_t cut = TG_BAGGAGE_MAX_BYTES;
        while (cut > 0 && v[cut] != ',')
            cut--;
        b->dropped++;
        n = cut;
    }
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || v[i] == ',') {
            size_t len = i - start;
            bool blank = true;
            for (size_t k = start; k < i; k++)
                if (v[k] != ' ' && v[k] != '\t')
                    blank = false;
            if (!blank)
                add_member(b, v + start, len);
            start = i + 1;
        }
    }
}

const char *tg_baggage_get(const struct tg_baggage *b, const char *key)
{
    for (int i = 0; i < b->n; i++)
        if (strcmp(b->m[i].key, key) == 0)
            return b->m[i].value;
    return NULL;
}
