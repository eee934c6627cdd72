/* tests/fuzz/journal_dir.h - the journal fuzz targets' ledger path in a directory of their
 * own under /tmp: journal_dir_once() makes it on the first input (and quiets the log, as
 * every replay warns); `file` is the journal a run writes or plants, removed at exit. */
#ifndef TG_TEST_FUZZ_JOURNAL_DIR_H
#define TG_TEST_FUZZ_JOURNAL_DIR_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/log.h"

static char dir[64], ledger[128], file[160];

static void journal_dir_cleanup(void)
{
    unlink(file);
    rmdir(dir);
}

static void journal_dir_once(void)
{
    if (dir[0] != '\0')
        return;
    tg_log_set_level(TG_LOG_ERROR);
    snprintf(dir, sizeof dir, "/tmp/tgfuzzjournalXXXXXX");
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(ledger, sizeof ledger, "%s/l.db", dir);
    snprintf(file, sizeof file, "%s.journal.0", ledger);
    atexit(journal_dir_cleanup);
}

#endif
