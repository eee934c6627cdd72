/* core/csvread.c - the one CSV reader: libcsv fed one physical line at a time
 *
 * Owns the line feeding every CSV table shares (rate cards, alias maps, invoices): the
 * byte-order mark, physical line numbers, comment lines, quote tracking and the fields of
 * the record being read. What a record means is the caller's.
 *
 * The text is fed to libcsv one physical line at a time, so errors name the line a row
 * started on as an editor shows it (libcsv skips blank lines without a callback). With
 * skip_comments, comment lines outside a quoted field are not fed at all: libcsv in
 * strict mode would reject a quote inside them. The quoted state is the parity of '"'
 * (RFC 4180 escapes a quote by doubling it), which also tells where an unterminated quote
 * opened: libcsv finishes an open quote at the end without complaint. */
#include "core/csvread.h"

#include "core/alloc.h"

#include <csv.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reader {
    const char *name;
    const struct tg_csv_opts *o;
    tg_csv_record_fn fn;
    void *ud;
    struct tg_errbuf *eb;
    int err;
    long cur_line; /* the physical line being fed to libcsv */
    long row_line; /* the physical line the current record started on */
    char **fields; /* o->max_fields slots */
    int nfields;
};

static void clear_fields(struct reader *R)
{
    for (int i = 0; i < R->nfields; i++)
        free(R->fields[i]);
    R->nfields = 0;
}

static void on_field(void *s, size_t len, void *ud)
{
    struct reader *R = ud;
    if (R->err != 0)
        return;
    if (R->nfields == 0)
        R->row_line = R->cur_line;
    if (R->nfields == R->o->max_fields) {
        R->err = tg_errf(R->eb, TG_ERR_INVALID, "%s:%ld: more than %d fields", R->name, R->row_line,
                         R->o->max_fields);
        return;
    }
    char *v = tg_strndup(s ? s : "", len);
    /* trim surrounding blanks: hand-edited files are padded for readability */
    size_t a = 0, b = strlen(v);
    while (v[a] == ' ' || v[a] == '\t')
        a++;
    while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t' || v[b - 1] == '\r'))
        b--;
    memmove(v, v + a, b - a);
    v[b - a] = '\0';
    R->fields[R->nfields++] = v;
}

static void on_row(int c, void *ud)
{
    struct reader *R = ud;
    (void)c;
    if (R->err == 0)
        R->err = R->fn(R->ud, R->fields, R->nfields, R->row_line);
    clear_fields(R);
}

/* True when line (n bytes) is a comment: '#' after optional blanks. */
static bool is_comment(const char *line, size_t n)
{
    size_t i = 0;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return i < n && line[i] == '#';
}

int tg_csv_parse(const char *name, const char *text, size_t len, const struct tg_csv_opts *o,
                 tg_csv_record_fn fn, void *ud, struct tg_errbuf *eb)
{
    struct csv_parser p;
    struct reader R;
    bool in_quote = false;
    long quote_line = 0;
    memset(&R, 0, sizeof R);
    R.name = name;
    R.o = o;
    R.fn = fn;
    R.ud = ud;
    R.eb = eb;
    if (csv_init(&p, CSV_APPEND_NULL | CSV_EMPTY_IS_NULL | CSV_STRICT) != 0)
        return tg_errf(eb, TG_ERR_NOMEM, "%s: csv_init failed", name);
    R.fields = tg_calloc((size_t)o->max_fields, sizeof *R.fields);
    size_t pos = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3; /* the byte-order mark spreadsheets write before UTF-8 CSV */
    while (pos < len && R.err == 0) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - line) + 1 : len - pos;
        pos += n;
        R.cur_line++;
        if (o->skip_comments && !in_quote && is_comment(line, n))
            continue;
        for (size_t i = 0; i < n; i++)
            if (line[i] == '"') {
                in_quote = !in_quote;
                if (in_quote)
                    quote_line = R.cur_line;
            }
        if (csv_parse(&p, line, n, on_field, on_row, &R) != n && R.err == 0)
            R.err = tg_errf(eb, TG_ERR_INVALID, "%s:%ld: malformed CSV: %s", name, R.cur_line,
                            csv_strerror(csv_error(&p)));
    }
    if (R.err == 0 && in_quote)
        R.err = tg_errf(eb, TG_ERR_INVALID, "%s:%ld: unterminated quoted field", name, quote_line);
    if (R.err == 0)
        csv_fini(&p, on_field, on_row, &R);
    clear_fields(&R);
    free(R.fields);
    csv_free(&p);
    return R.err;
}

int tg_csv_read_file(const char *path, char **text, size_t *len, const char **name,
                     struct tg_errbuf *eb)
{
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        rc = tg_errf(eb, TG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    for (;;) {
        if (n + 1 >= cap) { /* one spare byte for the NUL */
            cap = cap ? cap * 2 : 16384;
            buf = tg_realloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (got == 0)
            break;
        n += got;
    }
    if (ferror(f)) {
        rc = tg_errf(eb, TG_ERR_IO, "%s: read error", path);
        goto out;
    }
    buf[n] = '\0';
    const char *slash = strrchr(path, '/');
    *name = slash != NULL ? slash + 1 : path;
    *text = buf;
    *len = n;
    buf = NULL;
out:
    if (f != NULL)
        fclose(f);
    free(buf);
    return rc;
}
