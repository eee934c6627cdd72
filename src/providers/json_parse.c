/* providers/json_parse.c - RFC 8259 JSON text into a cJSON tree, for the request path
 *
 * cJSON's own parser spent about 40 instructions a byte on a provider payload (two
 * passes over every string, strtod for every number, a bounds check per character), a
 * fifth of a proxied call's instructions. This one scans strings 16 bytes at a time
 * (SSE2; 8 elsewhere) and digits 8 at a time, converts integers of up to 15 digits
 * without strtod, and allocates through cJSON's hooks, so the tree is an ordinary cJSON
 * tree: every cJSON function reads it and cJSON_Delete frees it, and on the request path
 * it lands in json_util.c's arena. tg_json_parse_keys builds only the members a spec
 * names, at any depth, and skims the rest: the same grammar checked, nothing built (a
 * request's conversation, an embedding's vectors, a completion's text).
 * tg_json_parse_into also reads the members a take table names straight into a struct
 * (a chat answer's usage counts, its model and id), building no node for them.
 *
 * It accepts exactly RFC 8259's grammar, which is stricter than cJSON_ParseWithLength:
 * nothing but whitespace (space, tab, CR, LF) after the value, no leading zeros or '+',
 * no raw control characters in strings, no unknown escapes. As in cJSON: a leading UTF-8
 * BOM is skipped, nesting is limited to CJSON_NESTING_LIMIT (1000) levels, a \u escape
 * must be a character or a surrogate pair, and \u0000 ends the C string. A number longer
 * than NUMBER_MAX characters is refused (no provider sends one). Numbers other than short
 * integers go through strtod, which reads '.' in the C locale the gateway runs in. */
#include "providers/json_util.h"

#include "core/buf.h"
#include "core/record.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define NUMBER_MAX 511

struct parser {
    const char *p, *end;
    int depth;
    const struct tg_json_keep *spec; /* build only these members of the object at hand (of
                                        each object of the array at hand); NULL: all */
    const struct tg_json_take *take; /* read these members of the object at hand into target */
    unsigned char *target;
    bool skim;  /* inside a member not kept: check the grammar, build nothing */
    cJSON sink; /* what a value not built is parsed into: written, never read */
};

/* A spec that keeps nothing: inside an object read into the target, nothing is built */
static const struct tg_json_keep keep_none[] = {{NULL, NULL}};

/* What a string parsed while skimming is: not NULL (it parsed), nothing allocated */
static char skimmed[1];

static bool parse_value(struct parser *P, cJSON *it);

static cJSON *new_item(void)
{
    cJSON *it = cJSON_malloc(sizeof *it);
    if (it != NULL)
        memset(it, 0, sizeof *it);
    return it;
}

static void skip_ws(struct parser *P)
{
    while (P->p < P->end && (*P->p == ' ' || *P->p == '\n' || *P->p == '\r' || *P->p == '\t'))
        P->p++;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The four hex digits at r (r + 4 <= end), or -1. */
static long hex4(const char *r, const char *end)
{
    long v = 0;
    if (end - r < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int h = tg_hexval(r[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

static size_t put_utf8(unsigned long cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* How many of the 8 bytes, from the first, are plain: not '"', '\\' or a control character.
 * The "any byte is zero" and "any byte is less than n" word tricks: the lowest byte they
 * flag always matches (a borrow only spoils the bytes above a match), and bytes >= 0x80
 * never do. */
static unsigned plain_bytes(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t quote = v ^ (ones * '"'), bslash = v ^ (ones * '\\');
    uint64_t hit =
        ((quote - ones) & ~quote) | ((bslash - ones) & ~bslash) | ((v - ones * 0x20) & ~v);
    hit &= highs;
    if (hit == 0)
        return 8;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (unsigned)__builtin_ctzll(hit) >> 3; /* the word was loaded first byte lowest */
#else
    return 0; /* the byte loop of plain_run finds it */
#endif
}

/* The first byte from q on that is '"', '\\' or a control character, or end: 16 bytes at a
 * time where SSE2 is (every x86-64), then 8, then one. */
static const char *plain_run(const char *q, const char *end)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i ctl = _mm_set1_epi8(0x1f); /* v <= 0x1f unsigned: max(v, 0x1f) == 0x1f */
    while (end - q >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
        __m128i hit =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                         _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        if (m != 0)
            return q + __builtin_ctz(m);
        q += 16;
    }
#endif
    while (end - q >= 8) {
        uint64_t v;
        memcpy(&v, q, 8);
        unsigned n = plain_bytes(v);
        q += n;
        if (n < 8)
            break;
    }
    while (q < end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
        q++;
    return q;
}

/* The escape whose backslash is at r, before end: its character in *cp and the byte past
 * it, or NULL when it is not one of RFC 8259's (a \\u escape must be a character or a
 * surrogate pair). No byte of an escape is '"' or a control character, so it never
 * runs past the string's closing quote. */
static inline const char *escape(const char *r, const char *end, unsigned long *cp)
{
    if (++r == end)
        return NULL;
    switch (*r++) {
    case '"': *cp = '"'; return r;
    case '\\': *cp = '\\'; return r;
    case '/': *cp = '/'; return r;
    case 'b': *cp = '\b'; return r;
    case 'f': *cp = '\f'; return r;
    case 'n': *cp = '\n'; return r;
    case 'r': *cp = '\r'; return r;
    case 't': *cp = '\t'; return r;
    case 'u': {
        long c = hex4(r, end);
        if (c < 0 || (c >= 0xDC00 && c <= 0xDFFF))
            return NULL;
        r += 4;
        if (c >= 0xD800 && c <= 0xDBFF) { /* a high surrogate: its low one follows */
            long lo = end - r >= 6 && r[0] == '\\' && r[1] == 'u' ? hex4(r + 2, end) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF)
                return NULL;
            r += 6;
            c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
        }
        *cp = (unsigned long)c;
        return r;
    }
    default: return NULL;
    }
}

/* The string whose opening quote is at P->p, as a new NUL-terminated copy, or NULL.
 * Skimmed (P->skim), it is checked in the one pass that finds its end, and not copied. */
static char *parse_string(struct parser *P)
{
    const char *s = ++P->p, *q = plain_run(s, P->end); /* q: the first escape or the end */
    const char *e = q;                                 /* the closing quote */
    while (e < P->end && *e == '\\') {
        unsigned long cp;
        if (P->skim)
            e = escape(e, P->end, &cp);
        else
            e = e + 1 < P->end ? e + 2 : NULL; /* checked while copying */
        if (e == NULL)
            return NULL;
        e = plain_run(e, P->end);
    }
    if (e == P->end || *e != '"') /* the end, or a control character */
        return NULL;
    P->p = e + 1;
    if (P->skim)
        return skimmed;
    /* an escape never decodes to more bytes than it takes: the raw length is enough */
    char *out = cJSON_malloc((size_t)(e - s) + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, s, (size_t)(q - s));
    char *o = out + (q - s);
    for (const char *r = q; r < e;) {
        const char *b = memchr(r, '\\', (size_t)(e - r)); /* the plain run up to the next escape */
        size_t n = (size_t)((b != NULL ? b : e) - r);
        memcpy(o, r, n);
        o += n;
        r += n;
        if (r == e)
            break;
        unsigned long cp;
        if ((r = escape(r, e, &cp)) == NULL) {
            cJSON_free(out);
            return NULL;
        }
        o += put_utf8(cp, o);
    }
    *o = '\0';
    return out;
}

/* The first byte from q on that is not a decimal digit, or end: 8 bytes at a time, as
 * plain_bytes (x - '0' borrows below '0', x + 0x46 passes 0x7f above '9', and bytes >=
 * 0x80 have their high bit: the lowest byte flagged is the first that is not a digit). An
 * embedding's vector is thousands of 10- to 12-digit numbers. */
static const char *digit_run(const char *q, const char *end)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    while (end - q >= 8) {
        uint64_t v;
        memcpy(&v, q, 8);
        uint64_t m = ((v - ones * '0') | (v + ones * (0x7f - '9')) | v) & highs;
        if (m != 0)
            return q + (__builtin_ctzll(m) >> 3);
        q += 8;
    }
#endif
    while (q < end && is_digit(*q))
        q++;
    return q;
}

static bool parse_number(struct parser *P, cJSON *it)
{
    const char *s = P->p, *q = s, *end = P->end;
    if (q < end && *q == '-')
        q++;
    const char *digits = q;
    if (q < end && *q == '0')
        q++;
    else if (q < end && *q >= '1' && *q <= '9')
        q = digit_run(q, end);
    else
        return false;
    bool is_int = true;
    if (q < end && *q == '.') {
        if (++q == end || !is_digit(*q))
            return false;
        q = digit_run(q, end);
        is_int = false;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        if (++q < end && (*q == '+' || *q == '-'))
            q++;
        if (q == end || !is_digit(*q))
            return false;
        q = digit_run(q, end);
        is_int = false;
    }
    bool is_short = is_int && q - digits <= 15; /* exact in a double: no rounding to get right */
    if (!is_short && q - s > NUMBER_MAX)
        return false;
    P->p = q;
    if (P->skim)
        return true;
    double v;
    if (is_short) {
        int64_t n = 0;
        for (const char *d = digits; d < q; d++)
            n = n * 10 + (*d - '0');
        v = s < digits ? -(double)n : (double)n;
    } else {
        char buf[NUMBER_MAX + 1];
        size_t n = (size_t)(q - s);
        memcpy(buf, s, n);
        buf[n] = '\0';
        v = strtod(buf, NULL);
    }
    it->type = cJSON_Number;
    it->valuedouble = v;
    it->valueint = v >= INT_MAX ? INT_MAX : v <= (double)INT_MIN ? INT_MIN : (int)v;
    return true;
}

static bool literal(struct parser *P, const char *word, size_t n)
{
    if ((size_t)(P->end - P->p) < n || memcmp(P->p, word, n) != 0)
        return false;
    P->p += n;
    return true;
}

static void free_key(char *key)
{
    if (key != NULL && key != skimmed) /* an array's members have no key */
        cJSON_free(key);
}

/* The entry of spec for the key of n bytes at key (not NUL-terminated), or NULL */
static const struct tg_json_keep *spec_entry(const struct tg_json_keep *spec, const char *key,
                                             size_t n)
{
    for (; spec->key != NULL; spec++)
        if (spec->key[0] == key[0] && strncmp(spec->key, key, n) == 0 && spec->key[n] == '\0')
            return spec;
    return NULL;
}

/* The entry of take for the key, unless a member of this object took it already (*taken:
 * one bit an entry, of the first 64), or NULL */
static const struct tg_json_take *take_entry(const struct tg_json_take *take, uint64_t *taken,
                                             const char *key, size_t n)
{
    for (const struct tg_json_take *t = take; t->key != NULL; t++) {
        if (t->key_len != n || memcmp(t->key, key, n) != 0)
            continue;
        size_t bit = (size_t)(t - take);
        if (bit < 64 && (*taken >> bit & 1))
            return NULL; /* a later member of the same key: skimmed, as lookups skip it */
        *taken |= bit < 64 ? 1ull << bit : 0;
        return t;
    }
    return NULL;
}

/* The key whose opening quote is at P->p, of an object a spec or a take covers: the
 * member's take entry in *te, or else its spec entry in *entry and, for a member that is
 * built (listed, or every member when there is no spec), its copy in *key. A key
 * without escapes (every key a provider sends) is matched where it lies, so a member that
 * is skimmed or read into the target costs no copy. False when the key is not a string. */
static bool member_key(struct parser *P, uint64_t *taken, const struct tg_json_take **te,
                       const struct tg_json_keep **entry, char **key)
{
    const char *s = P->p + 1, *q = plain_run(s, P->end);
    char *decoded = NULL;
    size_t n;
    if (q < P->end && *q == '"') {
        n = (size_t)(q - s);
        P->p = q + 1;
    } else {
        if ((decoded = parse_string(P)) == NULL) /* escapes: decoded first */
            return false;
        s = decoded;
        n = strlen(decoded);
    }
    *te = P->take != NULL ? take_entry(P->take, taken, s, n) : NULL;
    *entry = *te == NULL && P->spec != NULL ? spec_entry(P->spec, s, n) : NULL;
    *key = NULL;
    if (*te != NULL || (P->spec != NULL && *entry == NULL)) {
        if (decoded != NULL)
            cJSON_free(decoded);
        return true;
    }
    if (decoded != NULL) {
        *key = decoded;
        return true;
    }
    if ((*key = cJSON_malloc(n + 1)) == NULL)
        return false;
    memcpy(*key, s, n);
    (*key)[n] = '\0';
    return true;
}

static bool parse_members(struct parser *P, cJSON *it, bool is_object);

/* Checks the value at P->p and builds nothing. */
static bool skim_value(struct parser *P)
{
    bool was = P->skim;
    P->skim = true;
    bool ok = parse_value(P, &P->sink);
    P->skim = was;
    return ok;
}

/* The value at P->p of a member t takes: into the target, or checked and left out when it
 * is of another kind. */
static bool take_value(struct parser *P, const struct tg_json_take *t)
{
    unsigned char *dst = P->target + t->off;
    switch (t->kind) {
    case TG_JSON_INT: {
        if (P->p == P->end || (*P->p != '-' && !is_digit(*P->p)))
            return skim_value(P);
        const char *q = P->p, *e = digit_run(q, P->end);
        int64_t v = 0;
        if (e > q && e - q <= 15 && (*q != '0' || e - q == 1) &&
            (e == P->end || (*e != '.' && *e != 'e' && *e != 'E'))) {
            for (; q < e; q++) /* a plain count, as nearly all are: no double on the way */
                v = v * 10 + (*q - '0');
            P->p = e;
        } else {
            if (!parse_number(P, &P->sink))
                return false;
            v = tg_json_count_value(&P->sink);
        }
        memcpy(dst, &v, sizeof v);
        return true;
    }
    case TG_JSON_STR: {
        if (P->p == P->end || *P->p != '"')
            return skim_value(P);
        const char *s = P->p + 1, *q = plain_run(s, P->end);
        if (q < P->end && *q == '"') { /* no escape: copied from where it lies */
            tg_field_set((char *)dst, t->cap, s, (unsigned long)(q - s));
            P->p = q + 1;
            return true;
        }
        char *v = parse_string(P);
        if (v == NULL)
            return false;
        tg_field_set((char *)dst, t->cap, v, strlen(v));
        cJSON_free(v);
        return true;
    }
    case TG_JSON_TRUE:
        if (P->end - P->p >= 4 && memcmp(P->p, "true", 4) == 0) {
            bool yes = true;
            memcpy(dst, &yes, sizeof yes);
        }
        return skim_value(P);
    case TG_JSON_INTO: {
        if (P->p == P->end || *P->p != '{' || t->sub == NULL)
            return skim_value(P);
        if (t->cap == 1) {
            bool yes = true;
            memcpy(dst, &yes, sizeof yes);
        }
        const struct tg_json_keep *spec = P->spec;
        const struct tg_json_take *take = P->take;
        P->spec = keep_none;
        P->take = t->sub;
        bool ok = parse_members(P, &P->sink, true); /* builds nothing: keep_none */
        P->spec = spec;
        P->take = take;
        return ok;
    }
    }
    return skim_value(P);
}

/* An array or an object (is_object) whose opening bracket is at P->p. Each member is
 * linked into the tree before it is parsed, so cJSON_Delete of the root frees a tree
 * that failed half-way. Like cJSON's, the first child's prev is the last child. */
static bool parse_members(struct parser *P, cJSON *it, bool is_object)
{
    const char close = is_object ? '}' : ']';
    it->type = is_object ? cJSON_Object : cJSON_Array;
    if (++P->depth > CJSON_NESTING_LIMIT)
        return false;
    if (!is_object && P->depth == 1) { /* a spec is of objects: a top-level array is built whole */
        P->spec = NULL;
        P->take = NULL;
    }
    P->p++;
    skip_ws(P);
    if (P->p < P->end && *P->p == close) {
        P->p++;
        P->depth--;
        return true;
    }
    uint64_t taken = 0; /* the take entries this object's members have been read into */
    for (cJSON *tail = NULL;;) {
        /* a member that is not kept (of an object a spec covers) is skimmed; a kept one's
         * value is built under that member's own spec; one a take lists is read into the
         * target. Takes are of the object at hand only: not of the values below. */
        const struct tg_json_keep *spec = P->spec, *entry = NULL;
        const struct tg_json_take *take = P->take, *te = NULL;
        bool by_spec = !P->skim && is_object && (spec != NULL || take != NULL), skip = false;
        char *key = NULL;
        if (is_object) {
            if (P->p == P->end || *P->p != '"')
                return false;
            if (by_spec ? !member_key(P, &taken, &te, &entry, &key)
                        : (key = parse_string(P)) == NULL)
                return false;
            skip_ws(P);
            if (P->p == P->end || *P->p != ':') {
                free_key(key);
                return false;
            }
            P->p++;
            skip_ws(P);
        }
        bool ok;
        if (te != NULL) {
            ok = take_value(P, te);
        } else {
            if (by_spec) {
                skip = spec != NULL && entry == NULL;
                P->spec = entry != NULL ? entry->sub : NULL;
            }
            P->take = NULL;
            cJSON *m = &P->sink;
            if (P->skim || skip) {
                free_key(key);
            } else {
                if ((m = new_item()) == NULL) {
                    free_key(key);
                    return false;
                }
                if (tail == NULL) {
                    it->child = m;
                } else {
                    tail->next = m;
                    m->prev = tail;
                }
                tail = it->child->prev = m;
                m->string = key;
            }
            P->skim = P->skim || skip;
            ok = parse_value(P, m);
            if (skip)
                P->skim = false;
            P->spec = spec;
            P->take = take;
        }
        if (!ok)
            return false;
        skip_ws(P);
        if (P->p == P->end)
            return false;
        if (*P->p == close)
            break;
        if (*P->p != ',')
            return false;
        P->p++;
        skip_ws(P);
    }
    P->p++;
    P->depth--;
    return true;
}

static bool parse_value(struct parser *P, cJSON *it)
{
    if (P->p == P->end)
        return false;
    switch (*P->p) {
    case '{': return parse_members(P, it, true);
    case '[': return parse_members(P, it, false);
    case '"': it->type = cJSON_String; return (it->valuestring = parse_string(P)) != NULL;
    case 't':
        it->type = cJSON_True;
        it->valueint = 1;
        return literal(P, "true", 4);
    case 'f': it->type = cJSON_False; return literal(P, "false", 5);
    case 'n': it->type = cJSON_NULL; return literal(P, "null", 4);
    default: return parse_number(P, it);
    }
}

cJSON *tg_json_parse(const char *text, size_t len)
{
    return tg_json_parse_keys(text, len, NULL);
}

cJSON *tg_json_parse_keys(const char *text, size_t len, const struct tg_json_keep *spec)
{
    return tg_json_parse_into(text, len, spec, NULL, NULL);
}

cJSON *tg_json_parse_into(const char *text, size_t len, const struct tg_json_keep *spec,
                          const struct tg_json_take *take, void *target)
{
    if (text == NULL)
        text = "";
    struct parser P = {text, text + len, 0, spec, target != NULL ? take : NULL, target, false, {0}};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        P.p += 3;
    cJSON *root = new_item();
    if (root == NULL)
        return NULL;
    skip_ws(&P);
    bool ok = parse_value(&P, root);
    skip_ws(&P);
    if (ok && P.p == P.end)
        return root;
    cJSON_Delete(root);
    return NULL;
}
