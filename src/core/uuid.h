/* core/uuid.h - UUIDv7 (RFC 9562) and random hex ids */
#ifndef TG_CORE_UUID_H
#define TG_CORE_UUID_H

#include <stdint.h>

/** Writes a lowercase UUIDv7 for time epoch_ms into out (37 bytes with NUL). Any thread. */
void tg_uuid7(int64_t epoch_ms, char out[37]);
/** Fills p with n bytes from the kernel CSPRNG (drawn through a per-thread pool). */
void tg_random_bytes(void *p, unsigned n);
/** Writes n random bytes as 2n lowercase hex chars plus NUL. */
void tg_random_hex(char *out, unsigned n);

#endif
