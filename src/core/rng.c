/* xoshiro256** (Blackman and Vigna), seeded through splitmix64: integer
 * arithmetic only, so every machine draws the same bits. */
#include <math.h>

#include "internal.h"

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void tg_rng_seed(tg_rng *rng, uint64_t seed) {
  if (!rng) return;
  uint64_t x = seed;
  for (int i = 0; i < 4; i++)
    rng->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t tg_rng_u64(tg_rng *rng) {
  uint64_t *s = rng->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double tg_rng_uniform(tg_rng *rng) {
  return (double)(tg_rng_u64(rng) >> 11) * 0x1.0p-53;
}

/* Marsaglia's polar method. Only sqrt (exact in IEEE arithmetic) and log
 * are involved, so the stream matches wherever log is correctly rounded
 * (glibc's is, to within its documented error). */
double tg_rng_normal(tg_rng *rng) {
  double u, v, s;
  do {
    u = 2.0 * tg_rng_uniform(rng) - 1.0;
    v = 2.0 * tg_rng_uniform(rng) - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  return u * sqrt(-2.0 * log(s) / s);
}
