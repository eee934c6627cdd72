/* tests/fuzz/fuzz_sse.c - the SSE parser: any bytes, any split, never a crash, and raw ranges that
 * tile */
#include <stdint.h>
#include <stdlib.h>

#include "upstream/sse.h"

struct state {
    uint64_t next_start;
};

static int on_event(void *ud, const struct tg_sse_event *ev)
{
    struct state *s = ud;
    if (ev->raw_start != s->next_start || ev->raw_end < ev->raw_start)
        abort(); /* consecutive events must tile the stream */
    s->next_start = ev->raw_end;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tg_sse_parser p;
    struct state s = {0};
    size_t cut = size > 0 ? data[0] % (size + 1) : 0;
    tg_sse_init(&p, 1 << 16);
    if (tg_sse_feed(&p, (const char *)data, cut, on_event, &s) == 0 &&
        tg_sse_feed(&p, (const char *)data + cut, size - cut, on_event, &s) == 0)
        tg_sse_finish(&p, on_event, &s);
    tg_sse_free(&p);
    return 0;
}
