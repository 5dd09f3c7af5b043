/* What fit needs of src/dist beyond the public dist.h (not installed). Both
 * mpi.c and none.c define these. */
#ifndef TG_DIST_INTERNAL_H
#define TG_DIST_INTERNAL_H

#include "tapegrad/dist.h"

/* Whether collectives can run: tg_dist_init succeeded and
 * tg_dist_finalize has not run since. */
bool tg__dist_ready(void);
/* tg_dist_broadcast_params with fname in messages; with buffers_only only
 * the registry's buffers are sent and the layout is not checked again (fit
 * checks it once, at its start). */
tg_status tg__dist_broadcast(tg_params *ps, int root, bool buffers_only,
                             const char *fname);
/* One 64-bit value from root to every rank. */
tg_status tg__dist_broadcast_u64(uint64_t *value, int root, const char *fname);
/* tg_dist_average_grads with a failure flag riding along in the same
 * reduction. On entry *failed says whether this rank failed (its gradients
 * are then meaningless); on return it is the number of ranks that failed,
 * and when that is not zero no gradient was changed. */
tg_status tg__dist_average(tg_params *ps, const char *fname, int *failed);

#endif
