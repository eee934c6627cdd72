/* tests/unit/core/test_csvread.c - the shared CSV reader: physical line numbers, BOM, CRLF,
 * blank and comment lines, trimming, quotes, limits, callback errors, whole-file reading */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/csvread.h"

/* Records as "LINE:f1|f2;..." so a case is one line of the table. */
struct seen {
    char text[512];
    long fail_at; /* the callback fails on the record starting on this line (0: never) */
};

static int record(void *ud, char *const *fields, int nfields, long line)
{
    struct seen *s = ud;
    size_t n = strlen(s->text);
    n += (size_t)snprintf(s->text + n, sizeof s->text - n, "%ld:", line);
    for (int i = 0; i < nfields; i++)
        n += (size_t)snprintf(s->text + n, sizeof s->text - n, "%s%s", i ? "|" : "", fields[i]);
    snprintf(s->text + n, sizeof s->text - n, ";");
    if (line == s->fail_at)
        return TG_ERR_LIMIT;
    return 0;
}

static const struct {
    const char *text;
    bool skip_comments;
    int rc;
    const char *records, *msg;
} cases[] = {
    {"a,b\nc,d\n", false, 0, "1:a|b;2:c|d;", ""},
    {"a,b\nc,d", false, 0, "1:a|b;2:c|d;", ""}, /* no final newline */
    {"\xEF\xBB\xBF"
     "a,b\r\nc,d\r\n",
     false, 0, "1:a|b;2:c|d;", ""},            /* BOM, CRLF */
    {"a\n\n\nb\n", false, 0, "1:a;4:b;", ""},  /* blank lines: no record */
    {"  a  ,\tb\t\n", false, 0, "1:a|b;", ""}, /* trimmed */
    {"a,,b\n", false, 0, "1:a||b;", ""},       /* empty field */
    /* a record's line is where its first field ends (libcsv reports fields as they end):
     * the first physical line unless that field holds a line break */
    {"\"x\ny\",z\nw\n", false, 0, "2:x\ny|z;3:w;", ""},
    {"a,\"x\ny\"\nw\n", false, 0, "1:a|x\ny;3:w;", ""},
    {"\"say \"\"hi\"\"\",b\n", false, 0, "1:say \"hi\"|b;", ""},
    {"# a \"note\nx\n", true, 0, "2:x;", ""}, /* comment lines never reach libcsv */
    {"  # note\nx\n", true, 0, "2:x;", ""},
    {"#a,b\nx\n", false, 0, "1:#a|b;2:x;", ""}, /* without skip_comments: a record */
    {"\"a\n# not a comment\",b\n", true, 0, "2:a\n# not a comment|b;", ""},
    {"a,b\nc,\"d\n\ne\n", false, TG_ERR_INVALID, "1:a|b;", "t.csv:2: unterminated quoted field"},
    {"a\nb\"c\n", false, TG_ERR_INVALID, "1:a;",
     "t.csv:2: malformed CSV: error parsing data while strict checking enabled"},
    {"1,2,3,4\n1,2,3,4,5\n", false, TG_ERR_INVALID, "1:1|2|3|4;", "t.csv:2: more than 4 fields"},
    {"a\nb\nc\n", false, TG_ERR_LIMIT, "1:a;2:b;", ""}, /* the callback's error stops it */
    {"", false, 0, "", ""},
    {"\xEF\xBB\xBF", false, 0, "", ""},
};

static void test_cases(void **state)
{
    (void)state;
    const struct tg_csv_opts o[2] = {{.max_fields = 4, .skip_comments = false},
                                     {.max_fields = 4, .skip_comments = true}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct seen s;
        struct tg_errbuf eb;
        memset(&s, 0, sizeof s);
        memset(&eb, 0, sizeof eb);
        s.fail_at = cases[i].rc == TG_ERR_LIMIT ? 2 : 0;
        int rc = tg_csv_parse("t.csv", cases[i].text, strlen(cases[i].text),
                              &o[cases[i].skip_comments], record, &s, &eb);
        if (rc != cases[i].rc || strcmp(s.text, cases[i].records) != 0 ||
            strcmp(eb.msg, cases[i].msg) != 0)
            fail_msg("case %zu: rc %d, records '%s', message '%s'", i, rc, s.text, eb.msg);
    }
}

static void test_read_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/tgcsvXXXXXX", path[64], cmd[96];
    struct tg_errbuf eb;
    char *text = NULL;
    size_t len = 0;
    const char *name = NULL;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/card.csv", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("a,b\n", f);
    fclose(f);
    assert_int_equal(tg_csv_read_file(path, &text, &len, &name, &eb), 0);
    assert_int_equal(len, 4);
    assert_string_equal(text, "a,b\n");
    assert_string_equal(name, "card.csv");
    free(text);
    text = NULL;
    assert_int_equal(tg_csv_read_file(dir, &text, &len, &name, &eb), TG_ERR_IO);
    snprintf(cmd, sizeof cmd, "%s: read error", dir);
    assert_string_equal(eb.msg, cmd);
    assert_null(text);
    assert_int_equal(tg_csv_read_file("/nonexistent/x.csv", &text, &len, &name, &eb), TG_ERR_IO);
    assert_string_equal(eb.msg, "/nonexistent/x.csv: cannot open: No such file or directory");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cases),
                                       cmocka_unit_test(test_read_file)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
