/* tests/fuzz/fuzz_h1parse.c - HTTP/1.1 response heads and chunked bodies: any bytes, any
 * split, never a crash, never a pointer or a length outside the input */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upstream/h1parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct tg_h1_head h;
    long r = tg_h1_parse_head(p, size, &h);
    if (r > (long)size || r < -1)
        abort();
    for (size_t i = 0; r > 0 && i < h.n_headers; i++)
        if (h.headers[i].name < p || h.headers[i].value + h.headers[i].value_len > p + r)
            abort();
    /* the same bytes as a chunked body, fed in two parts split at data[0] */
    size_t cut = size > 0 ? data[0] % (size + 1) : 0, off = 0, held = 0;
    struct tg_h1_chunked d;
    memset(&d, 0, sizeof d);
    for (int part = 0; part < 2; part++) {
        held += part == 0 ? cut : size - cut;
        for (;;) {
            size_t skip = 0, len = 0;
            enum tg_h1_chunk c = tg_h1_chunked_next(&d, p + off, held, &skip, &len);
            if (skip > held || (c == TG_H1_CHUNK_DATA && (len == 0 || skip + len > held)))
                abort();
            off += skip;
            held -= skip;
            if (c != TG_H1_CHUNK_DATA) {
                if (c == TG_H1_CHUNK_END || c == TG_H1_CHUNK_BAD)
                    return 0;
                break;
            }
            off += len;
            held -= len;
            tg_h1_chunked_took(&d, len);
        }
    }
    return 0;
}
