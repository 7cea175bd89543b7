/* SHA-256 (FIPS 180-4), for the broker to check a fatbin against the manifest's sha256. */
#ifndef TGPU_SHA256_H
#define TGPU_SHA256_H
#include <stddef.h>
#include <stdint.h>
void tgpu_sha256(const void *data, size_t len, uint8_t out[32]);
#endif
