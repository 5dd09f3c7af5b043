/* n-d iteration with dimension merging. */
#include <string.h>

#include "kernels.h"

void tg_k_iter_init(tg_k_iter *it, int ndim, const int64_t *shape, int nops,
                    const int64_t *const *strides, const size_t *elem_size) {
  int64_t full[TG_K_MAX_OPS][TG_MAX_DIMS];
  for (int k = 0; k < nops; k++) {
    int64_t acc = 1;
    for (int d = ndim - 1; d >= 0; d--) {
      /* A size-1 axis never moves a pointer, and its stride may be huge
       * (a slice with a step past the end): leave it out of the sums. */
      full[k][d] = shape[d] == 1 ? 0
                                 : (strides[k] ? strides[k][d] : acc) *
                                       (int64_t)elem_size[k];
      acc *= shape[d];
    }
  }
  /* Visit the axes from the widest step to the narrowest, so that the
   * innermost run moves through memory in order even when the operands are
   * transposed (a transposed gradient added into a transposed buffer). An
   * axis's step is the first operand's that moves along it: the output's,
   * or for a reduction (output steps 0 along reduced axes) the input's.
   * The sort is stable, so row-major operands keep their order. */
  int order[TG_MAX_DIMS], n_order = 0;
  int64_t key[TG_MAX_DIMS];
  for (int d = 0; d < ndim; d++) {
    key[d] = 0;
    for (int k = 0; k < nops && key[d] == 0; k++)
      key[d] = full[k][d] < 0 ? -full[k][d] : full[k][d];
    int j = n_order++;
    for (; j > 0 && key[order[j - 1]] < key[d]; j--)
      order[j] = order[j - 1];
    order[j] = d;
  }
  it->nops = nops;
  it->ndim = 0;
  for (int o = 0; o < n_order; o++) {
    int d = order[o];
    if (shape[d] == 1) continue; /* size-1 axes never move a pointer */
    int j = it->ndim;
    if (j > 0) {
      /* Merge with the previous kept axis when every operand steps over
       * this axis exactly as one step of the previous one. */
      bool mergeable = true;
      for (int k = 0; k < nops; k++)
        if (it->strides[k][j - 1] != full[k][d] * shape[d]) mergeable = false;
      if (mergeable) {
        it->shape[j - 1] *= shape[d];
        for (int k = 0; k < nops; k++)
          it->strides[k][j - 1] = full[k][d];
        continue;
      }
    }
    it->shape[j] = shape[d];
    for (int k = 0; k < nops; k++)
      it->strides[k][j] = full[k][d];
    it->ndim++;
  }
  if (it->ndim == 0) {
    it->ndim = 1;
    it->shape[0] = 1;
    for (int k = 0; k < nops; k++)
      it->strides[k][0] = 0;
  }
  /* An axis of size 0 anywhere empties the space. */
  for (int d = 0; d < ndim; d++)
    if (shape[d] == 0) it->shape[0] = 0;
}

void tg_k_iter_run(const tg_k_iter *it, char *const *base, tg_k_inner_fn inner,
                   void *ctx) {
  int nd = it->ndim, nops = it->nops;
  for (int d = 0; d < nd; d++)
    if (it->shape[d] == 0) return;
  char *ptr[TG_K_MAX_OPS];
  int64_t inner_strides[TG_K_MAX_OPS];
  for (int k = 0; k < nops; k++) {
    ptr[k] = base[k];
    inner_strides[k] = it->strides[k][nd - 1];
  }
  int64_t idx[TG_MAX_DIMS] = {0};
  int64_t n_inner = it->shape[nd - 1];
  for (;;) {
    inner(n_inner, ptr, inner_strides, ctx);
    /* Advance the outer counter, odometer style. */
    int d = nd - 2;
    for (; d >= 0; d--) {
      idx[d]++;
      for (int k = 0; k < nops; k++)
        ptr[k] += it->strides[k][d];
      if (idx[d] < it->shape[d]) break;
      for (int k = 0; k < nops; k++)
        ptr[k] -= it->strides[k][d] * it->shape[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

/* The common case without the general machinery: every operand either
 * lies contiguously over the shape or is one element broadcast (all strides
 * 0), so the whole space is one run. Small tensors make many calls, and
 * the setup above would cost more than the work. */
static bool one_run(int ndim, const int64_t *shape, int nops,
                    const int64_t *const *strides, const size_t *elem_size,
                    int64_t *n, int64_t *run_strides) {
  int64_t count = 1;
  for (int d = 0; d < ndim; d++)
    count *= shape[d];
  for (int k = 0; k < nops; k++) {
    run_strides[k] = (int64_t)elem_size[k];
    if (!strides[k] || count <= 1) continue;
    bool dense = true, zero = true;
    int64_t acc = 1;
    for (int d = ndim - 1; d >= 0; d--) {
      if (shape[d] == 1) continue;
      if (strides[k][d] != acc) dense = false;
      if (strides[k][d] != 0) zero = false;
      acc *= shape[d];
    }
    if (zero)
      run_strides[k] = 0;
    else if (!dense)
      return false;
  }
  *n = count;
  return true;
}

/* Elements per chunk below which an elementwise map stays on one thread:
 * 4k floats take a microsecond or two, about what handing a chunk to a
 * worker that is still spinning costs (an LSTM step's [32x512] gates are
 * 16k). */
#define MAP_GRAIN (1 << 12)

typedef struct map_job {
  int nops;
  char *base[TG_K_MAX_OPS];
  int64_t strides[TG_K_MAX_OPS];
  tg_k_inner_fn inner;
  void *ctx;
} map_job;

static void map_range(void *ctx, int64_t lo, int64_t hi) {
  const map_job *j = ctx;
  char *ptr[TG_K_MAX_OPS];
  for (int k = 0; k < j->nops; k++)
    ptr[k] = j->base[k] + lo * j->strides[k];
  j->inner(hi - lo, ptr, j->strides, j->ctx);
}

/* One run when the operands allow it (shared out over the threads when
 * `split` and it is long), else the n-d walk. */
static void apply(int ndim, const int64_t *shape, int nops,
                  const int64_t *const *strides, const size_t *elem_size,
                  char *const *base, tg_k_inner_fn inner, void *ctx,
                  bool split) {
  int64_t n;
  map_job j; /* not zeroed: a small op is called millions of times */
  if (one_run(ndim, shape, nops, strides, elem_size, &n, j.strides)) {
    if (n == 0) return;
    for (int k = 0; k < nops; k++)
      j.base[k] = base[k];
    if (split && n >= 2 * MAP_GRAIN && j.strides[0] != 0) {
      j.nops = nops;
      j.inner = inner;
      j.ctx = ctx;
      tg_k_parallel_for(n, MAP_GRAIN, map_range, &j);
    } else {
      inner(n, j.base, j.strides, ctx);
    }
    return;
  }
  tg_k_iter it;
  tg_k_iter_init(&it, ndim, shape, nops, strides, elem_size);
  tg_k_iter_run(&it, base, inner, ctx);
}

void tg_k_iter_apply(int ndim, const int64_t *shape, int nops,
                     const int64_t *const *strides, const size_t *elem_size,
                     char *const *base, tg_k_inner_fn inner, void *ctx) {
  apply(ndim, shape, nops, strides, elem_size, base, inner, ctx, false);
}

void tg_k_iter_map(int ndim, const int64_t *shape, int nops,
                   const int64_t *const *strides, const size_t *elem_size,
                   char *const *base, tg_k_inner_fn inner, void *ctx) {
  apply(ndim, shape, nops, strides, elem_size, base, inner, ctx, true);
}
