/* tests/fuzz/fuzz_audit_trace.c - `audit trace` on arbitrary OTLP/JSON lines: no crash, no
 * leak; a success writes a report (the JSON one parses), a failure names the file */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "finops/audit_trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tg_identity_config ic;
    static int ready;
    if (!ready) {
        tg_identity_config_defaults(&ic);
        ready = 1;
    }
    static const enum tg_audit_format formats[] = {TG_AUDIT_TABLE, TG_AUDIT_JSON};
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        struct tg_buf out = {0};
        struct tg_errbuf eb;
        int n_breaks = -1;
        int rc = tg_audit_trace_run("fuzz.jsonl", (const char *)data, size, &ic, formats[f], &out,
                                    &n_breaks, &eb);
        if (rc != 0 && strncmp(eb.msg, "fuzz.jsonl", 10) != 0)
            abort(); /* every error names the file */
        if (rc == 0 && (out.len == 0 || n_breaks < 0))
            abort();
        if (rc == 0 && formats[f] == TG_AUDIT_JSON) {
            cJSON *j = cJSON_ParseWithLength(out.base, out.len);
            if (j == NULL)
                abort(); /* the JSON report is JSON, whatever the input */
            cJSON_Delete(j);
        }
        tg_buf_free(&out);
    }
    return 0;
}
