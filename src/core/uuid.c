/* core/uuid.c - UUIDv7 and random ids from getrandom(2)
 *
 * A call takes ~52 random bytes (call id, request id, trace and span ids); one system
 * call for each costs more than the rest of the id work on a VM. Each thread draws
 * POOL bytes at a time from the kernel CSPRNG and hands them out once, front to back.
 * The process never forks (a child would repeat its parent's pool). */
#include "core/uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define POOL 512

static void fill(unsigned char *q, unsigned n)
{
    while (n > 0) {
        ssize_t r = getrandom(q, n, 0);
        if (r <= 0)
            abort(); /* the kernel CSPRNG does not fail on Linux >= 3.17 once seeded */
        q += r;
        n -= (unsigned)r;
    }
}

void tg_random_bytes(void *p, unsigned n)
{
    static _Thread_local unsigned char pool[POOL];
    static _Thread_local unsigned left;
    if (n > POOL) {
        fill(p, n);
        return;
    }
    if (left < n) {
        fill(pool, POOL);
        left = POOL;
    }
    memcpy(p, pool + POOL - left, n);
    memset(pool + POOL - left, 0, n); /* handed out once */
    left -= n;
}

void tg_random_hex(char *out, unsigned n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[64];
    if (n > sizeof b)
        n = sizeof b;
    tg_random_bytes(b, n);
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void tg_uuid7(int64_t epoch_ms, char out[37])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    tg_random_bytes(b + 6, 10);
    uint64_t t = (uint64_t)epoch_ms;
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(t >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    char *o = out;
    for (int i = 0; i < 16; i++) { /* 8-4-4-4-12 */
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o = '\0';
}
