/* tapegrad: a seeded random generator that gives the same numbers on every
 * machine (xoshiro256** seeded through splitmix64). */
#ifndef TAPEGRAD_RNG_H
#define TAPEGRAD_RNG_H

#include <stdint.h>

typedef struct tg_rng {
  uint64_t s[4];
} tg_rng;

void tg_rng_seed(tg_rng *rng, uint64_t seed);
uint64_t tg_rng_u64(tg_rng *rng);
/* Uniform in [0, 1), 53 random bits. */
double tg_rng_uniform(tg_rng *rng);
/* Standard normal (Marsaglia's polar method). */
double tg_rng_normal(tg_rng *rng);

#endif
