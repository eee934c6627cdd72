/* tests/unit/store/test_journal.c - the crash journal on real files: what a killed process
 * leaves is replayed exactly, in order, once; wrap-around, a full ring, a torn record, a
 * journal of another build and a live journal */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/record.h"
#include "store/journal.h"
#include "tests/unit/store/tmp_dir.h"

#define RING    (64u * 1024)
#define HDR     4096
#define MAX_GOT 64

/* Record i: distinct ids and numbers; every 3rd has full-length text fields. */
static void fill(struct tg_call_record *r, int i)
{
    memset(r, 0, sizeof *r);
    snprintf(r->call_id, sizeof r->call_id, "call-%04d", i);
    snprintf(r->provider, sizeof r->provider, "openai");
    snprintf(r->outcome, sizeof r->outcome, "ok");
    r->started_at_ms = 1780035252345 + i;
    r->usage.input_tokens = 1000 + i;
    r->usage.output_tokens = i;
    r->cost_nanos = 132500LL * i;
    r->is_priced = true;
    if (i % 3 == 0)
        memset(r->tags, 'x', sizeof r->tags - 1);
}

struct got {
    int n, files, fail_at;
    struct tg_call_record rec[MAX_GOT];
};

static int collect(void *ud, const struct tg_call_record *rec)
{
    struct got *g = ud;
    if (rec == NULL) {
        g->files++;
        return 0;
    }
    if (g->n == g->fail_at)
        return -1;
    if (g->n < MAX_GOT)
        g->rec[g->n] = *rec;
    g->n++;
    return 0;
}

/* Recovers every journal beside the ledger into g; the count returned matches g's. */
static void recover_ok(struct got *g)
{
    long n = -1;
    struct tg_errbuf eb;
    memset(g, 0, sizeof *g);
    g->fail_at = -1;
    assert_int_equal(tg_journal_recover(path, collect, g, &n, &eb), 0);
    assert_int_equal(n, g->n);
}

static void assert_got(const struct got *g, int first, int count)
{
    assert_int_equal(g->n, count);
    for (int i = 0; i < count; i++) {
        struct tg_call_record want;
        fill(&want, first + i);
        assert_memory_equal(&g->rec[i], &want, sizeof want);
    }
}

static int journals_left(const char *suffix)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, "ledger.db.journal.", 18) == 0 &&
            (suffix == NULL || strstr(de->d_name, suffix) != NULL))
            n++;
    closedir(d);
    return n;
}

/* In a child that then dies without cleaning up (as kill -9 would leave it): appends
 * records [0, total), marking the first `committed` of them committed. The marks go
 * back through the pipe. */
static void crash_after(int total, int committed, struct tg_journal_mark *marks)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        struct tg_journal *j = NULL;
        struct tg_errbuf eb;
        if (tg_journal_create(path, RING, &j, &eb) != 0)
            _exit(2);
        for (int i = 0; i < total; i++) {
            struct tg_call_record r;
            struct tg_journal_mark m;
            fill(&r, i);
            if (tg_journal_append(j, &r, &m) != 0)
                _exit(3);
            if (i < committed)
                tg_journal_committed(j, &m);
            if (write(p[1], &m, sizeof m) != (ssize_t)sizeof m)
                _exit(4);
        }
        _exit(0);
    }
    close(p[1]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    for (int i = 0; i < total; i++)
        assert_int_equal(read(p[0], &marks[i], sizeof marks[i]), (ssize_t)sizeof marks[i]);
    close(p[0]);
}

/* XORs n bytes of x into the dead process's journal file at offset at. */
static void corrupt(off_t at, const void *x, size_t n)
{
    char jpath[160];
    snprintf(jpath, sizeof jpath, "%s.journal.0", path);
    int fd = open(jpath, O_RDWR);
    assert_true(fd >= 0);
    unsigned char b[8];
    assert_true(n <= sizeof b);
    assert_int_equal(pread(fd, b, n, at), (ssize_t)n);
    for (size_t i = 0; i < n; i++)
        b[i] ^= ((const unsigned char *)x)[i];
    assert_int_equal(pwrite(fd, b, n, at), (ssize_t)n);
    close(fd);
}

static void test_replays_what_a_dead_process_left(void **state)
{
    (void)state;
    struct tg_journal_mark marks[5];
    crash_after(5, 2, marks);
    assert_int_equal(journals_left(NULL), 1);
    struct got g;
    recover_ok(&g);
    assert_got(&g, 2, 3);
    assert_int_equal(g.files, 1);
    assert_int_equal(journals_left(NULL), 0); /* replayed once */
    /* zero-run encoding: a record with empty text fields is far below its 6.9 KB */
    assert_true(marks[2].pos - marks[1].pos < 512);
    assert_true(marks[3].pos - marks[2].pos > 2048); /* record 3 has 2 KB of tags */
}

static void test_wraps_around_and_reports_full(void **state)
{
    (void)state;
    struct tg_journal *j = NULL;
    struct tg_errbuf eb;
    assert_int_equal(tg_journal_create(path, RING, &j, &eb), 0);
    struct tg_call_record r;
    struct tg_journal_mark marks[1024];
    int appended = 0;
    fill(&r, 1);
    while (appended < 1024 && tg_journal_append(j, &r, &marks[appended]) == 0)
        appended++; /* nothing committed: the ring fills */
    print_message("%d records of %llu bytes fill the 64 KB ring\n", appended,
                  (unsigned long long)marks[0].pos);
    assert_true(appended > 100 && appended < 1024);
    assert_int_equal(tg_journal_append(j, &r, &marks[0]), TG_ERR_AGAIN);
    /* the store took the first half: that room is used again, across the end of the ring */
    tg_journal_committed(j, &marks[appended / 2 - 1]);
    struct tg_journal_mark m;
    for (int i = 0; i < appended / 2 - 2; i++)
        assert_int_equal(tg_journal_append(j, &r, &m), 0);
    tg_journal_committed(j, &m);
    for (int i = 0; i < 1000; i++) { /* and round and round */
        assert_int_equal(tg_journal_append(j, &r, &m), 0);
        tg_journal_committed(j, &m);
    }
    assert_true(m.pos > 2 * RING);
    tg_journal_destroy(j);
    assert_int_equal(journals_left(NULL), 0);
}

/* Every record reads back by its mark, exactly, across the end of the ring, until its
 * room is committed and used again; a damaged one does not read */
static void test_reads_back_by_mark(void **state)
{
    (void)state;
    struct tg_journal *j = NULL;
    struct tg_errbuf eb;
    assert_int_equal(tg_journal_create(path, RING, &j, &eb), 0);
    static struct tg_call_record want[48];
    static struct tg_journal_slot got; /* one slot for all: each read clears what the last set */
    struct tg_journal_mark marks[48];
    int wrapped = 0;
    for (int lap = 0; lap < 40; lap++) {
        for (int i = 0; i < 48; i++) {
            fill(&want[i], lap * 48 + i);
            if (tg_journal_append(j, &want[i], &marks[i]) != 0)
                fail_msg("lap %d record %d: no room", lap, i);
            wrapped += i > 0 && marks[i].at < marks[i - 1].at;
        }
        for (int i = 0; i < 48; i++) {
            assert_true(tg_journal_read(j, &marks[i], &got));
            assert_memory_equal(&got.rec, &want[i], sizeof got.rec);
        }
        tg_journal_committed(j, &marks[47]);
    }
    assert_true(wrapped > 0);
    struct tg_journal_mark bad = marks[5];
    bad.at += 8; /* not where a record starts */
    assert_false(tg_journal_read(j, &bad, &got));
    bad.at = RING; /* past the ring */
    assert_false(tg_journal_read(j, &bad, &got));
    tg_journal_destroy(j);
}

/* What follows a text's NUL (a shorter text set over a longer one) is not carried: the
 * record reads back with the same texts and every other byte the same, into a slot that
 * held a fuller record before. The journal relies on the table of texts being in order. */
static void test_text_past_its_nul_is_not_carried(void **state)
{
    (void)state;
    for (int t = 1; t < tg_record_n_texts; t++)
        assert_true(tg_record_texts[t].off >=
                    tg_record_texts[t - 1].off + tg_record_texts[t - 1].size);
    struct tg_journal *j = NULL;
    struct tg_errbuf eb;
    assert_int_equal(tg_journal_create(path, RING, &j, &eb), 0);
    static struct tg_journal_slot got;
    static struct tg_call_record full, want, dirty, cmp;
    struct tg_journal_mark m;
    memset(&full, 'f', sizeof full);
    assert_int_equal(tg_journal_append(j, &full, &m), 0);
    assert_true(tg_journal_read(j, &m, &got)); /* the slot is full of 'f' */
    for (int i = 6; i < 8; i++) {              /* with 2 KB of tags, and without */
        fill(&want, i);
        dirty = want;
        char *d = (char *)&dirty, *c = (char *)&cmp;
        for (int t = 0; t < tg_record_n_texts; t++) {
            const struct tg_record_text *f = &tg_record_texts[t];
            size_t len = strlen(d + f->off);
            memset(d + f->off + len + 1, 'g', f->size - len - 1);
        }
        assert_int_equal(tg_journal_append(j, &dirty, &m), 0);
        assert_true(tg_journal_read(j, &m, &got));
        cmp = got.rec;
        for (int t = 0; t < tg_record_n_texts; t++) {
            const struct tg_record_text *f = &tg_record_texts[t];
            assert_string_equal(c + f->off, (const char *)&want + f->off);
            size_t len = strlen(c + f->off);
            memset(c + f->off + len, 0, f->size - len); /* the word that holds the NUL may
                                                           carry some of the rest */
        }
        assert_memory_equal(&cmp, &want, sizeof want);
        tg_journal_committed(j, &m);
    }
    tg_journal_destroy(j);
}

static void test_wrapped_ring_replays_only_the_uncommitted_tail(void **state)
{
    (void)state;
    struct tg_journal_mark marks[400];
    crash_after(400, 397, marks); /* ~160 KB through a 64 KB ring */
    assert_true(marks[399].pos > 2 * RING);
    struct got g;
    recover_ok(&g);
    assert_got(&g, 397, 3);
}

static void test_torn_record_ends_the_replay(void **state)
{
    (void)state;
    struct tg_journal_mark marks[3];
    crash_after(3, 0, marks);
    const unsigned char flip = 0x5a;
    corrupt(HDR + (off_t)marks[1].pos + 24, &flip, 1); /* a payload byte of the third record */
    struct got g;
    recover_ok(&g);
    assert_got(&g, 0, 2);
}

static void test_journal_of_another_build_is_kept_aside(void **state)
{
    (void)state;
    struct tg_journal_mark marks[2];
    crash_after(2, 0, marks);
    const uint32_t other = 0x400; /* the record_size field no longer matches this build */
    corrupt(8, &other, sizeof other);
    struct got g;
    recover_ok(&g);
    assert_int_equal(g.n, 0);
    assert_int_equal(journals_left(".unreadable"), 1);
    assert_int_equal(journals_left(NULL), 1); /* renamed, never deleted */
}

static void test_store_failure_keeps_the_file(void **state)
{
    (void)state;
    struct tg_journal_mark marks[3];
    crash_after(3, 0, marks);
    struct got g = {.fail_at = 1};
    long n = 0;
    struct tg_errbuf eb;
    assert_int_equal(tg_journal_recover(path, collect, &g, &n, &eb), TG_ERR_IO);
    assert_non_null(strstr(eb.msg, "could not be written to the ledger"));
    assert_int_equal(journals_left(NULL), 1);
    struct got again; /* the next start replays it all */
    recover_ok(&again);
    assert_got(&again, 0, 3);
    assert_int_equal(journals_left(NULL), 0);
}

static void test_live_journal_is_left_alone(void **state)
{
    (void)state;
    struct tg_journal *j = NULL, *j2 = NULL;
    struct tg_errbuf eb;
    assert_int_equal(tg_journal_create(path, RING, &j, &eb), 0);
    assert_int_equal(tg_journal_create(path, RING, &j2, &eb), 0); /* the next free name */
    struct tg_call_record r;
    struct tg_journal_mark m;
    fill(&r, 7);
    assert_int_equal(tg_journal_append(j, &r, &m), 0);
    struct got g;
    recover_ok(&g);
    assert_int_equal(g.n, 0);
    assert_int_equal(journals_left(NULL), 2);
    tg_journal_committed(j, &m);
    tg_journal_destroy(j);
    tg_journal_destroy(j2);
    assert_int_equal(journals_left(NULL), 0);
}

static void test_uncommitted_rows_outlive_a_clean_close(void **state)
{
    (void)state;
    struct tg_journal *j = NULL;
    struct tg_errbuf eb;
    struct tg_call_record r;
    struct tg_journal_mark m;
    assert_int_equal(tg_journal_create(path, RING, &j, &eb), 0);
    fill(&r, 4);
    assert_int_equal(tg_journal_append(j, &r, &m), 0);
    tg_journal_destroy(j); /* the store never took it (a failing disk, say) */
    assert_int_equal(journals_left(NULL), 1);
    struct got g;
    recover_ok(&g);
    assert_got(&g, 4, 1);
}

/* Bytes read back are made safe: every text field terminated, every flag 0 or 1. */
static void test_replayed_record_is_sanitized(void **state)
{
    (void)state;
    struct tg_journal *j = NULL;
    struct tg_errbuf eb;
    struct tg_call_record r;
    struct tg_journal_mark m;
    assert_int_equal(tg_journal_create(path, RING, &j, &eb), 0);
    memset(&r, 0xff, sizeof r); /* no NUL anywhere, flags 0xff */
    assert_int_equal(tg_journal_append(j, &r, &m), 0);
    tg_journal_destroy(j); /* uncommitted: kept */
    struct got g;
    recover_ok(&g);
    assert_int_equal(g.n, 1);
    const struct tg_call_record *x = &g.rec[0];
    assert_int_equal(strlen(x->call_id), sizeof x->call_id - 1);
    assert_int_equal(strlen(x->tags), sizeof x->tags - 1);
    assert_int_equal(strlen(x->usage.service_tier), sizeof x->usage.service_tier - 1);
    unsigned char b;
    memcpy(&b, &x->is_priced, 1);
    assert_int_equal(b, 1);
    memcpy(&b, &x->usage.has_usage, 1);
    assert_int_equal(b, 1);
    assert_int_equal(x->usage.input_tokens, -1); /* numbers are kept as written */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replays_what_a_dead_process_left, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wraps_around_and_reports_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_back_by_mark, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_past_its_nul_is_not_carried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrapped_ring_replays_only_the_uncommitted_tail, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_torn_record_ends_the_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_of_another_build_is_kept_aside, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_failure_keeps_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_journal_is_left_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uncommitted_rows_outlive_a_clean_close, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replayed_record_is_sanitized, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
