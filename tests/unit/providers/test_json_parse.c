/* tests/unit/providers/test_json_parse.c - tg_json_parse: RFC 8259 exactly, the tree cJSON
 * would build, the limits cJSON has */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "providers/json_util.h"
#include "tests/unit/providers/fixture.h"

static cJSON *parse(const char *s)
{
    return tg_json_parse(s, strlen(s));
}

static void test_values_and_escapes(void **state)
{
    (void)state;
    static const char text[] = "\xEF\xBB\xBF {\"s\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\","
                               "\"u\":\"\\u00e9\\u20AC\\ud83d\\ude00\",\"n\":[0,-0,42,-17,"
                               "2.5e-3,1E+2,123456789012345,1234567890123456789,1e999],"
                               "\"t\":true,\"f\":false,\"z\":null,\"e\":[],\"o\":{}} \r\n";
    cJSON *j = parse(text);
    assert_non_null(j);
    assert_true(cJSON_IsObject(j));
    assert_string_equal(cJSON_GetObjectItem(j, "s")->valuestring, "a\"b\\c/d\b\f\n\r\t");
    assert_string_equal(cJSON_GetObjectItem(j, "u")->valuestring,
                        "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
    const cJSON *n = cJSON_GetObjectItem(j, "n");
    assert_int_equal(cJSON_GetArraySize(n), 9);
    assert_true(cJSON_GetArrayItem(n, 0)->valuedouble == 0.0);
    assert_true(signbit(cJSON_GetArrayItem(n, 1)->valuedouble));
    assert_int_equal(cJSON_GetArrayItem(n, 2)->valueint, 42);
    assert_int_equal(cJSON_GetArrayItem(n, 3)->valueint, -17);
    assert_true(cJSON_GetArrayItem(n, 4)->valuedouble == 2.5e-3);
    assert_true(cJSON_GetArrayItem(n, 5)->valuedouble == 100.0);
    assert_true(cJSON_GetArrayItem(n, 6)->valuedouble == 123456789012345.0);
    /* past 15 digits strtod rounds, as cJSON does */
    assert_true(cJSON_GetArrayItem(n, 7)->valuedouble == 1234567890123456789.0);
    assert_true(isinf(cJSON_GetArrayItem(n, 8)->valuedouble));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "t")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "f")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "z")));
    assert_null(cJSON_GetObjectItem(j, "e")->child);
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(j, "o")));
    /* cJSON's links: the first child's prev is the last, so cJSON can append to the tree */
    assert_ptr_equal(j->child->prev, cJSON_GetObjectItem(j, "o"));
    assert_ptr_equal(n->child->prev, cJSON_GetArrayItem(n, 8));
    cJSON_AddNumberToObject(j, "added", 1);
    char *out = cJSON_PrintUnformatted(j);
    cJSON *theirs = cJSON_Parse(text + 3);
    cJSON_AddNumberToObject(theirs, "added", 1);
    char *want = cJSON_PrintUnformatted(theirs);
    assert_string_equal(out, want);
    cJSON_free(out);
    cJSON_free(want);
    cJSON_Delete(theirs);
    cJSON_Delete(j);
}

/* Each of these is not RFC 8259 JSON (cJSON accepts some of them) */
static const char *const bad[] = {"",
                                  " ",
                                  "{",
                                  "}",
                                  "[",
                                  "{\"a\":1}x",
                                  "{\"a\":1} {}",
                                  "[1,]",
                                  "[,1]",
                                  "[1 2]",
                                  "{\"a\":1,}",
                                  "{\"a\" 1}",
                                  "{\"a\":}",
                                  "{1:2}",
                                  "{'a':1}",
                                  "01",
                                  "-01",
                                  "+1",
                                  ".5",
                                  "1.",
                                  "1.e5",
                                  "1e",
                                  "1e+",
                                  "-",
                                  "- 1",
                                  "0x10",
                                  "NaN",
                                  "Infinity",
                                  "tru",
                                  "nul",
                                  "True",
                                  "\"abc",
                                  "\"\\\"",
                                  "\"\\x\"",
                                  "\"\\u12\"",
                                  "\"\\u12G4\"",
                                  "\"\\ud800\"",
                                  "\"\\udc00\"",
                                  "\"\\ud800\\u0041\"",
                                  "\"a\tb\"",
                                  "\"a\nb\"",
                                  "\"\x01\"",
                                  "\f1",
                                  "1\v"};

static void test_refuses_what_is_not_json(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *j = parse(bad[i]);
        if (j != NULL)
            fail_msg("accepted: %s", bad[i]);
    }
    /* a NUL byte is not whitespace; NULL text is the empty text */
    assert_null(tg_json_parse("1\0", 2));
    assert_null(tg_json_parse(NULL, 0));
    /* the length bounds the text: what follows it is not read */
    cJSON *j = tg_json_parse("[12]garbage", 4);
    assert_non_null(j);
    assert_int_equal(j->child->valueint, 12);
    cJSON_Delete(j);
}

/* The string scan reads 8 bytes at a time: an escape, a quote or a control character is
 * found at every position of a word, and a byte >= 0x80 is plain */
static void test_every_position_in_a_long_string(void **state)
{
    (void)state;
    for (int k = 0; k < 24; k++) {
        char text[64], want[32];
        memset(want, 'a', 24);
        want[24] = '\0';
        want[k] = '\n';
        snprintf(text, sizeof text, "\"%.*s\\n%s\"", k, want, want + k + 1);
        cJSON *j = parse(text);
        assert_non_null(j);
        assert_string_equal(j->valuestring, want);
        cJSON_Delete(j);
        want[k] = '\x1f'; /* raw: refused */
        snprintf(text, sizeof text, "\"%s\"", want);
        assert_null(parse(text));
        want[k] = '\xc3'; /* UTF-8 bytes are plain */
        snprintf(text, sizeof text, "\"%s\"", want);
        j = parse(text);
        assert_non_null(j);
        assert_string_equal(j->valuestring, want);
        cJSON_Delete(j);
        snprintf(text, sizeof text, "[\"%.*s\",1]", k, want); /* the quote at k ends it */
        j = parse(text);
        assert_non_null(j);
        assert_int_equal(strlen(j->child->valuestring), k);
        assert_int_equal(j->child->next->valueint, 1);
        cJSON_Delete(j);
    }
}

/* After an escape the scan goes on 8 bytes at a time and the copy in runs up to the next
 * backslash: a second escape, an escaped quote or a raw control character at every
 * distance after the first one */
static void test_every_position_after_an_escape(void **state)
{
    (void)state;
    for (int i = 0; i < 20; i++) {
        for (int k = i + 1; k < 40; k++) {
            char raw[48], text[128], want[48];
            memset(raw, 'b', 40);
            raw[40] = '\0';
            memcpy(want, raw, sizeof raw);
            want[i] = '\t';
            want[k] = '"';
            int n = snprintf(text, sizeof text, "\"%.*s\\t%.*s\\\"%s\"", i, raw, k - i - 1,
                             raw + i + 1, raw + k + 1);
            assert_true(n < (int)sizeof text);
            cJSON *j = parse(text);
            assert_non_null(j);
            assert_string_equal(j->valuestring, want);
            cJSON_Delete(j);
            snprintf(text, sizeof text, "\"%.*s\\t%.*s\x01%s\"", i, raw, k - i - 1, raw + i + 1,
                     raw + k + 1);
            assert_null(parse(text)); /* raw control characters are refused past an escape too */
        }
    }
}

/* Digits are scanned 8 at a time: a number of every length up to 24 digits, ended by each
 * byte that may follow one, and by the bytes just outside '0'..'9' (refused there) */
static void test_every_length_of_digits(void **state)
{
    (void)state;
    static const char *const ends[] = {"]", ",7]", ".25]", "e2]", "E-1]", " ]"};
    static const char *const not_after[] = {"/]", ":]", "\x80]", "\xff]", "a]"};
    for (int len = 1; len <= 24; len++) {
        char digits[32], text[64];
        for (int i = 0; i < len; i++)
            digits[i] = (char)('1' + (i * 7) % 9);
        digits[len] = '\0';
        for (size_t k = 0; k < sizeof ends / sizeof ends[0]; k++) {
            snprintf(text, sizeof text, "[-%s%s", digits, ends[k]);
            cJSON *j = parse(text);
            assert_non_null(j);
            assert_true(j->child->valuedouble == strtod(text + 1, NULL));
            cJSON_Delete(j);
        }
        for (size_t k = 0; k < sizeof not_after / sizeof not_after[0]; k++) {
            snprintf(text, sizeof text, "[%s%s", digits, not_after[k]);
            if (parse(text) != NULL)
                fail_msg("accepted: %s", text);
            snprintf(text, sizeof text, "{\"x\":[%s%s}", digits, not_after[k]);
            static const struct tg_json_keep none[] = {{NULL, NULL}};
            if (tg_json_parse_keys(text, strlen(text), none) != NULL)
                fail_msg("accepted when skimmed: %s", text);
        }
    }
}

static void test_limits(void **state)
{
    (void)state;
    char *s = malloc(2 * 1001 + 1);
    /* CJSON_NESTING_LIMIT levels parse, one more does not */
    for (int depth = 1000; depth <= 1001; depth++) {
        memset(s, '[', (size_t)depth);
        memset(s + depth, ']', (size_t)depth);
        s[2 * depth] = '\0';
        cJSON *j = parse(s);
        if (depth == 1000)
            assert_non_null(j);
        else
            assert_null(j);
        cJSON_Delete(j);
    }
    /* a number of 511 characters parses, of 512 does not */
    for (int len = 511; len <= 512; len++) {
        memset(s, '1', (size_t)len);
        s[len] = '\0';
        cJSON *j = parse(s);
        if (len == 511)
            assert_true(isinf(j->valuedouble));
        else
            assert_null(j);
        cJSON_Delete(j);
    }
    free(s);
}

/* j printed compactly is want; j is freed */
static void assert_prints_and_free(cJSON *j, const char *want)
{
    assert_non_null(j);
    char *got = cJSON_PrintUnformatted(j);
    assert_string_equal(got, want);
    cJSON_free(got);
    cJSON_Delete(j);
}

/* Only the kept members of the top-level object are built, in their order, duplicates
 * too; the others are checked, not built */
static void test_keys_builds_only_the_kept_members(void **state)
{
    (void)state;
    static const struct tg_json_keep keep[] = {{"model", NULL}, {"stream", NULL}, {NULL, NULL}};
    static const char text[] =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\nb \\u00e9 \\ud83d\\ude00\"}],"
        "\"model\":\"gpt-4o\",\"x\":{\"y\":[1,2.5e3,-0.5,true,false,null,{}]},\"stream\":true,"
        "\"n\":123456789012345678901234567890,\"model\":\"second\"}";
    cJSON *j = tg_json_parse_keys(text, sizeof text - 1, keep);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "model")->valuestring, "gpt-4o");
    assert_prints_and_free(j, "{\"model\":\"gpt-4o\",\"stream\":true,\"model\":\"second\"}");
    /* below the top level every member is kept; a text that is not an object is whole */
    static const char nested[] = "{\"stream_options\":{\"a\":1,\"include_usage\":false}}";
    static const struct tg_json_keep so[] = {{"stream_options", NULL}, {NULL, NULL}};
    assert_prints_and_free(tg_json_parse_keys(nested, sizeof nested - 1, so),
                           "{\"stream_options\":{\"a\":1,\"include_usage\":false}}");
    assert_prints_and_free(tg_json_parse_keys("[{\"model\":1}]", 13, keep), "[{\"model\":1}]");
}

/* A spec keeps members at every depth: under a kept member only its sub's members are
 * built, in each object of an array as well; an empty sub builds empty objects (a count
 * survives); a member without sub is whole; a top-level array is whole; and what is
 * left out is checked as strictly as what is built */
static void test_spec_builds_only_the_kept_members_at_every_depth(void **state)
{
    (void)state;
    static const struct tg_json_keep none[] = {{NULL, NULL}};
    static const struct tg_json_keep message[] = {{"tool_calls", none}, {NULL, NULL}};
    static const struct tg_json_keep choice[] = {
        {"finish_reason", NULL}, {"message", message}, {NULL, NULL}};
    static const struct tg_json_keep spec[] = {
        {"id", NULL}, {"choices", choice}, {"usage", NULL}, {NULL, NULL}};
    static const char text[] =
        "{\"id\":\"c1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":"
        "{\"role\":\"assistant\",\"content\":\"long text \\u00e9\",\"tool_calls\":[{\"id\":\"t1\","
        "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},{\"id\":\"t2\"}]},"
        "\"finish_reason\":\"tool_calls\"},{\"message\":\"not an "
        "object\",\"finish_reason\":null},7],"
        "\"usage\":{\"prompt_tokens\":3,\"details\":{\"x\":[1]}}}";
    cJSON *j = tg_json_parse_keys(text, sizeof text - 1, spec);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(tg_json_path(
                         cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0),
                         "message.tool_calls")),
                     2);
    assert_prints_and_free(j, "{\"id\":\"c1\",\"choices\":[{\"message\":{\"tool_calls\":[{},{}]},"
                              "\"finish_reason\":\"tool_calls\"},{\"message\":\"not an object\","
                              "\"finish_reason\":null},7],"
                              "\"usage\":{\"prompt_tokens\":3,\"details\":{\"x\":[1]}}}");
    assert_prints_and_free(tg_json_parse_keys("[{\"index\":1,\"id\":2}]", 20, spec),
                           "[{\"index\":1,\"id\":2}]");
    char bad_text[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(bad_text, sizeof bad_text,
                 "{\"id\":\"c\",\"choices\":[{\"message\":{\"content\":%s}}]}", bad[i]);
        if (tg_json_parse_keys(bad_text, strlen(bad_text), spec) != NULL)
            fail_msg("accepted when skimmed under a spec: %s", bad[i]);
    }
}

struct taken {
    int64_t a, b, c;
    bool has_u, on;
    char name[8];
};

/* Members a take lists are read into the struct, not built: the first of a key only, a
 * count by tg_json_count's rules, a string decoded and cut to fit; a value of another
 * kind is checked and leaves its field alone; takes are of the object at hand, not of
 * the values below it (nor of a kept member's); keys with escapes are matched decoded */
static void test_takes_read_members_into_a_struct(void **state)
{
    (void)state;
    static const struct tg_json_take u_takes[] = {TG_JSON_TAKE_INT("b", struct taken, b),
                                                  TG_JSON_TAKE_INT("c", struct taken, c),
                                                  TG_JSON_TAKE_END};
    static const struct tg_json_take takes[] = {
        TG_JSON_TAKE_INT("a", struct taken, a), TG_JSON_TAKE_STR("name", struct taken, name),
        TG_JSON_TAKE_INTO_FLAG("u", struct taken, has_u, u_takes),
        TG_JSON_TAKE_TRUE("on", struct taken, on), TG_JSON_TAKE_END};
    static const struct tg_json_keep keep[] = {{"k", NULL}, {NULL, NULL}};
    static const char text[] = "{\"a\":12,\"name\":\"ab\\u00e9cdefghij\",\"k\":{\"a\":5,\"name\":"
                               "\"inner\"},\"u\":{\"b\":3,\"x\":[1,{\"c\":9}],\"c\":-1},\"a\":99,"
                               "\"z\":1,\"on\":true}";
    struct taken t = {.c = 7};
    assert_prints_and_free(tg_json_parse_into(text, sizeof text - 1, keep, takes, &t),
                           "{\"k\":{\"a\":5,\"name\":\"inner\"}}");
    assert_int_equal(t.a, 12);
    assert_string_equal(t.name, "ab\xc3\xa9"
                                "cde");
    assert_true(t.has_u);
    assert_int_equal(t.b, 3);
    assert_int_equal(t.c, 0); /* -1 is not a count; the 9 below is not u's */
    assert_true(t.on);

    static const char other_kinds[] =
        "{\"a\":\"12\",\"name\":7,\"u\":[1],\"u\":{\"b\":4},\"on\":\"true\",\"on\":true}";
    struct taken o = {.a = 5, .b = 1, .name = "keep"};
    assert_prints_and_free(tg_json_parse_into(other_kinds, sizeof other_kinds - 1, keep, takes, &o),
                           "{}");
    assert_int_equal(o.a, 5);
    assert_string_equal(o.name, "keep");
    assert_false(o.has_u); /* the first u was not an object; the second is not read */
    assert_int_equal(o.b, 1);
    assert_false(o.on);

    static const char escaped_key[] = "{\"n\\u0061me\":\"esc\",\"u\":{\"\\u0062\":8}}";
    struct taken e = {0};
    assert_prints_and_free(tg_json_parse_into(escaped_key, sizeof escaped_key - 1, keep, takes, &e),
                           "{}");
    assert_string_equal(e.name, "esc");
    assert_int_equal(e.b, 8);

    struct taken w = {0};
    assert_prints_and_free(tg_json_parse_into("[{\"a\":1}]", 9, keep, takes, &w), "[{\"a\":1}]");
    assert_int_equal(w.a, 0); /* a top-level array is built whole */
    /* a count by tg_json_count's rules, whatever the number's form */
    static const struct {
        const char *text;
        int64_t want;
    } counts[] = {{"{\"a\":0}", 0},
                  {"{\"a\":7,\"z\":1}", 7},
                  {"{\"a\":-5}", 0},
                  {"{\"a\":1e2}", 100},
                  {"{\"a\":12.0}", 12},
                  {"{\"a\":12.5}", 0},
                  {"{\"a\":123456789012345}", 123456789012345},
                  {"{\"a\":1234567890123456}", 1234567890123456},
                  {"{\"a\":9999999999999999}", 0}};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        struct taken c = {.a = -1};
        cJSON *j = tg_json_parse_into(counts[i].text, strlen(counts[i].text), keep, takes, &c);
        assert_non_null(j);
        cJSON_Delete(j);
        if (c.a != counts[i].want)
            fail_msg("%s: %lld", counts[i].text, (long long)c.a);
    }
    /* what a take reads is checked as strictly as the rest */
    static const char *const refused[] = {"{\"a\":1,\"name\":\"x\",",
                                          "{\"u\":{\"b\":01}}",
                                          "{\"a\":1.}",
                                          "{\"name\":\"\\x\"}",
                                          "{\"u\":{\"b\":1,}}",
                                          "{\"a\":007}",
                                          "{\"a\":-}",
                                          "{\"a\":1x}",
                                          "{\"a\":-01}"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        struct taken r = {0};
        if (tg_json_parse_into(refused[i], strlen(refused[i]), keep, takes, &r) != NULL)
            fail_msg("accepted: %s", refused[i]);
    }
}

/* A member left out is checked as strictly as a built one: each text that is not JSON,
 * as the value of a member that is not kept, is refused; so are the limits */
static void test_keys_refuses_what_is_not_json(void **state)
{
    (void)state;
    static const struct tg_json_keep keep[] = {{"model", NULL}, {NULL, NULL}};
    char text[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "{\"model\":\"m\",\"messages\":%s}", bad[i]);
        assert_null(tg_json_parse(text, strlen(text)));
        if (tg_json_parse_keys(text, strlen(text), keep) != NULL)
            fail_msg("accepted when skimmed: %s", bad[i]);
        snprintf(text, sizeof text, "{\"messages\":[{\"content\":%s}],\"model\":\"m\"}", bad[i]);
        if (tg_json_parse_keys(text, strlen(text), keep) != NULL)
            fail_msg("accepted when skimmed, nested: %s", bad[i]);
    }
    /* a skimmed key that is not a valid string */
    static const char badkey[] = "{\"model\":\"m\",\"x\":{\"\\q\":1}}";
    assert_null(tg_json_parse_keys(badkey, sizeof badkey - 1, keep));
    char *s = malloc(2 * 1001 + 64);
    for (int depth = 1000 - 1; depth <= 1000; depth++) { /* the object is one level */
        int n = snprintf(s, 16, "{\"x\":");
        memset(s + n, '[', (size_t)depth);
        memset(s + n + depth, ']', (size_t)depth);
        strcpy(s + n + 2 * depth, "}");
        cJSON *j = tg_json_parse_keys(s, strlen(s), keep);
        if (depth == 999)
            assert_non_null(j);
        else
            assert_null(j);
        cJSON_Delete(j);
    }
    for (int len = 509; len <= 510; len++) { /* a number of 511 characters, then 512 */
        int n = snprintf(s, 16, "{\"x\":");
        memset(s + n, '1', (size_t)len);
        strcpy(s + n + len, ".5}"); /* not a short integer: the length limit applies */
        cJSON *j = tg_json_parse_keys(s, strlen(s), keep);
        if (len == 509)
            assert_non_null(j);
        else
            assert_null(j);
        cJSON_Delete(j);
    }
    free(s);
}

/* Every provider fixture: the same tree as cJSON's */
static void test_fixtures_match_cjson(void **state)
{
    (void)state;
    static const char *const files[] = {
        "openai/chat_cached_reasoning_audio.json",
        "openai/chat_tool_calls.json",
        "openai/embeddings.json",
        "openai/responses.json",
        "anthropic/message_cache_5m_1h_websearch.json",
        "anthropic/message_tool_use.json",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        size_t len = 0;
        char *text = fixture_load(files[i], &len);
        cJSON *ours = tg_json_parse(text, len), *theirs = cJSON_ParseWithLength(text, len);
        assert_non_null(ours);
        char *a = cJSON_PrintUnformatted(ours), *b = cJSON_PrintUnformatted(theirs);
        assert_string_equal(a, b);
        cJSON_free(a);
        cJSON_free(b);
        cJSON_Delete(ours);
        cJSON_Delete(theirs);
        free(text);
    }
}

/* tg_json_path: dotted segments, each an exact key; the first equal key wins */
static void test_paths(void **state)
{
    (void)state;
    const char *text = "{\"prompt_tokens\":1,\"prompt_tokens_details\":{\"cached_tokens\":2},"
                       "\"a.b\":3,\"a\":{\"b\":4,\"\":{\"c\":5}},\"\":6,\"x\":7,\"x\":8,"
                       "\"s\":\"str\"}";
    cJSON *j = tg_json_parse(text, strlen(text));
    assert_non_null(j);
    static const struct {
        const char *path;
        int64_t want; /* -1: no number there */
    } cases[] = {
        {"prompt_tokens", 1},
        {"prompt_tokens_details.cached_tokens", 2},
        {"prompt_token", -1},                /* a prefix of a key is not the key */
        {"prompt_tokens_d", -1},             /* nor a key's prefix of the segment */
        {"prompt_tokens.cached_tokens", -1}, /* a number has no members */
        {"a.b", 4},                          /* segments, never the key "a.b" */
        {"a..c", 5},                         /* an empty segment is the empty key */
        {"", -1},                            /* no segment: the object itself */
        {".", 6},                            /* the empty key, at the top */
        {"x", 7},                            /* the first of equal keys */
        {"s.len", -1},
        {"missing.b", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const cJSON *v = tg_json_path(j, cases[i].path);
        if (cases[i].want < 0) {
            assert_false(cJSON_IsNumber(v));
        } else {
            assert_true(cJSON_IsNumber(v));
            assert_int_equal(tg_json_count(j, cases[i].path), cases[i].want);
        }
    }
    assert_ptr_equal(tg_json_path(j, ""), j);
    assert_ptr_equal(tg_json_path(j, "a."), cJSON_GetObjectItemCaseSensitive(j, "a"));
    assert_ptr_equal(tg_json_path(j, "."), cJSON_GetObjectItemCaseSensitive(j, ""));
    assert_null(tg_json_path(j, "a.b.c"));
    assert_null(tg_json_path(NULL, "a"));
    tg_json_delete(j);
}

/* tg_json_counts reads what tg_json_path and tg_json_count read, in one pass: the first
 * of equal keys, counts by the same rules, and nothing written for an absent member or
 * one that is not a number. */
static void test_counts(void **state)
{
    (void)state;
    const char *text = "{\"p\":\"str\",\"prompt_tokens\":12,\"prompt_tokens_details\":{\"c\":2},"
                       "\"prompt_tokens\":99,\"neg\":-3,\"frac\":1.5,\"big\":1e300,\"s\":\"7\","
                       "\"d\":{\"x\":1},\"d\":{\"x\":2},\"\":5}";
    cJSON *j = tg_json_parse(text, strlen(text));
    assert_non_null(j);
    int64_t pt = -1, neg = -1, frac = -1, big = -1, s = -1, absent = -1, empty = -1, x = -1;
    const cJSON *details = NULL, *d = NULL, *none = NULL, *sn = NULL;
    const struct tg_json_field f[] = {
        {"prompt_tokens", &pt, NULL},
        {"neg", &neg, NULL},
        {"frac", &frac, NULL},
        {"big", &big, NULL},
        {"s", &s, &sn},
        {"absent", &absent, &none},
        {"prompt_tokens_details", NULL, &details},
        {"d", NULL, &d},
        {"", &empty, NULL},
    };
    tg_json_counts(j, f, sizeof f / sizeof f[0]);
    assert_int_equal(pt, 12); /* the first of the two, not 99 */
    assert_int_equal(neg, 0); /* numbers, but not counts: 0, as tg_json_count says */
    assert_int_equal(frac, 0);
    assert_int_equal(big, 0);
    assert_int_equal(s, -1); /* a string is not a number: left alone */
    assert_ptr_equal(sn, tg_json_path(j, "s"));
    assert_int_equal(absent, -1);
    assert_null(none);
    assert_ptr_equal(details, tg_json_path(j, "prompt_tokens_details"));
    assert_ptr_equal(d, cJSON_GetObjectItemCaseSensitive(j, "d")); /* the first "d" */
    assert_int_equal(empty, 5);
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].count != NULL && cJSON_IsNumber(tg_json_path(j, f[i].key)))
            assert_int_equal(*f[i].count, tg_json_count(j, f[i].key));
    const struct tg_json_field fx[] = {{"x", &x, NULL}};
    tg_json_counts(d, fx, 1);
    assert_int_equal(x, 1);
    x = -1;
    tg_json_counts(tg_json_path(j, "s"), fx, 1); /* not an object: nothing */
    tg_json_counts(NULL, fx, 1);
    assert_int_equal(x, -1);
    tg_json_delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_escapes),
        cmocka_unit_test(test_refuses_what_is_not_json),
        cmocka_unit_test(test_every_position_in_a_long_string),
        cmocka_unit_test(test_every_position_after_an_escape),
        cmocka_unit_test(test_every_length_of_digits),
        cmocka_unit_test(test_keys_builds_only_the_kept_members),
        cmocka_unit_test(test_keys_refuses_what_is_not_json),
        cmocka_unit_test(test_spec_builds_only_the_kept_members_at_every_depth),
        cmocka_unit_test(test_takes_read_members_into_a_struct),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_fixtures_match_cjson),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
