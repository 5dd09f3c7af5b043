/* tapegrad: status codes.
 *
 * Nothing in tapegrad aborts or exits. A failing call returns NULL (or a
 * status other than TG_OK) and leaves a message on the tape that names the
 * function and what was wrong. The first error is kept ("sticky") until
 * tg_clear_error, so a whole forward pass can be checked once at the end. */
#ifndef TAPEGRAD_ERROR_H
#define TAPEGRAD_ERROR_H

typedef enum tg_status {
  TG_OK = 0,
  TG_ERR_NULL,    /* a required argument was NULL */
  TG_ERR_DTYPE,   /* dtypes differ, or a dtype is not supported there */
  TG_ERR_SHAPE,   /* shapes are incompatible */
  TG_ERR_AXIS,    /* an axis or permutation is out of range */
  TG_ERR_ARG,     /* another argument is invalid */
  TG_ERR_NOMEM,   /* an allocation failed */
  TG_ERR_STATE,   /* the call does not fit the current state */
  TG_ERR_NUMERIC, /* anomaly mode found a NaN or an Inf */
  TG_ERR_COUNT
} tg_status;

/* A static, one-line description of a status code. */
const char *tg_strerror(tg_status code);

/* --- allocation failures, for testing ------------------------------------

 * Every heap allocation of the library goes through one place. Telling it to
 * fail makes out-of-memory paths testable: after tg_alloc_fail_at(k) the
 * k-th allocation from then on (1 for the next) returns NULL, and so does
 * every later one until tg_alloc_fail_at(0). Process-wide, not thread-safe:
 * for single-threaded tests only. */
#include <stdint.h>
void tg_alloc_fail_at(uint64_t k);
/* Allocations made since the last tg_alloc_fail_at. */
uint64_t tg_alloc_count(void);

#endif
