/* core/csvread.h - the one CSV reader: libcsv fed one physical line at a time */
#ifndef TG_CORE_CSVREAD_H
#define TG_CORE_CSVREAD_H

#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>

/** Called once per record. fields[0..nfields) are NUL-terminated, trimmed of blanks (and
 *  a trailing '\r') and borrowed until the call returns; line is the physical line
 *  (1-based, as an editor shows it) the record starts on, or, when its first field is
 *  quoted across lines, the line that field ends on (libcsv reports fields as they end).
 *  Returns 0, or a negative enum tg_err (with eb filled) that stops the reading and is
 *  returned by tg_csv_parse. */
typedef int (*tg_csv_record_fn)(void *ud, char *const *fields, int nfields, long line);

struct tg_csv_opts {
    int max_fields;     /* a record with more is "NAME:LINE: more than N fields" */
    bool skip_comments; /* lines starting with '#' (after blanks) outside a quote are not CSV */
};

/** Parses text (len bytes, need not be NUL-terminated) as RFC 4180 CSV in libcsv's strict
 *  mode, skipping a leading UTF-8 byte-order mark, and calls fn per record. name prefixes
 *  every message ("pricing.csv:12: malformed CSV: ...", "...: unterminated quoted
 *  field"). Blank lines give no record. Returns 0, fn's error, TG_ERR_INVALID for
 *  malformed CSV or TG_ERR_NOMEM. Borrows everything; any thread. */
int tg_csv_parse(const char *name, const char *text, size_t len, const struct tg_csv_opts *o,
                 tg_csv_record_fn fn, void *ud, struct tg_errbuf *eb);

/** Reads the whole file at path into *text (returned owned, NUL-terminated, never NULL on
 *  success; the caller frees it) and *len, and points *name at the file name without
 *  its directories (inside path), the name CSV messages carry. TG_ERR_IO with
 *  "PATH: cannot open: ..." or "PATH: read error". */
int tg_csv_read_file(const char *path, char **text, size_t *len, const char **name,
                     struct tg_errbuf *eb);

#endif
