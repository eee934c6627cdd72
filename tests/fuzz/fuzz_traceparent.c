/* tests/fuzz/fuzz_traceparent.c - traceparent parsing and formatting round trip on arbitrary input
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "accounting/tracectx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tg_traceparent tp;
    if (!tg_trace_parse((const char *)data, size, &tp))
        return 0;
    /* whatever parses must format into a version-00 value that parses to the same ids */
    char out[56];
    struct tg_traceparent again;
    tg_trace_format(tp.trace_id, tp.span_id, tp.flags, out);
    if (!tg_trace_parse(out, strlen(out), &again) || strcmp(again.trace_id, tp.trace_id) != 0 ||
        strcmp(again.span_id, tp.span_id) != 0 || again.flags != tp.flags)
        abort();
    return 0;
}
