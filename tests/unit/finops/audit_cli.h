/* tests/unit/finops/audit_cli.h - run `tollgate audit ...` in-process for its exit code */
#ifndef TG_TEST_AUDIT_CLI_H
#define TG_TEST_AUDIT_CLI_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/cli.h"

/* Runs tg_cmd_audit on args[0..argc) (at most 16) with stdout sent to /dev/null: the
 * command prints its findings; the test log keeps to the assertions. Returns the exit
 * code. */
static inline int audit_cli_run(int argc, const char **args)
{
    char *argv[16];
    for (int i = 0; i < argc; i++)
        argv[i] = (char *)args[i];
    fflush(stdout);
    int saved = dup(1);
    assert_non_null(freopen("/dev/null", "w", stdout));
    int rc = tg_cmd_audit(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    return rc;
}

#endif
