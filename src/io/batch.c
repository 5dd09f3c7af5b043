/* Mini-batches: index orders over a data set, and gathering rows.
 *
 * A shuffled epoch is a Fisher-Yates shuffle (Knuth, TAOCP vol. 2,
 * Algorithm 3.4.2P) of 0..n-1 driven by tg_rng, with each bound drawn by
 * rejection from 64-bit integers: integer arithmetic only, so a seed gives
 * the same orders on every machine. Every epoch shuffles the identity
 * afresh with the generator's next numbers, so epoch k's order depends only
 * on the seed and k. */
#include "../kernels/kernels.h"
#include "io_internal.h"

struct tg_batcher {
  int64_t n, batch_size, pos;
  bool shuffle;
  tg_rng rng;
  int64_t *order;
};

/* Uniform in [0, bound) without modulo bias: the draws below 2^64 mod bound
 * would make the small residues likelier, so they are drawn again. */
static uint64_t below(tg_rng *rng, uint64_t bound) {
  uint64_t threshold = (0 - bound) % bound; /* 2^64 mod bound */
  for (;;) {
    uint64_t r = tg_rng_u64(rng);
    if (r >= threshold) return r % bound;
  }
}

static void new_epoch(tg_batcher *b) {
  for (int64_t i = 0; i < b->n; i++)
    b->order[i] = i;
  if (b->shuffle)
    for (int64_t i = b->n - 1; i > 0; i--) {
      int64_t j = (int64_t)below(&b->rng, (uint64_t)i + 1);
      int64_t tmp = b->order[i];
      b->order[i] = b->order[j];
      b->order[j] = tmp;
    }
  b->pos = 0;
}

tg_batcher *tg_batcher_new(int64_t n, int64_t batch_size, bool shuffle,
                           uint64_t seed) {
  if (n < 1 || batch_size < 1 || (uint64_t)n > SIZE_MAX / sizeof(int64_t))
    return NULL;
  tg_batcher *b = tg__malloc(sizeof *b);
  if (!b) return NULL;
  b->order = tg__malloc((size_t)n * sizeof(int64_t));
  if (!b->order) {
    tg__free(b);
    return NULL;
  }
  b->n = n;
  b->batch_size = batch_size;
  b->shuffle = shuffle;
  tg_rng_seed(&b->rng, seed);
  new_epoch(b);
  return b;
}

void tg_batcher_free(tg_batcher *b) {
  if (!b) return;
  tg__free(b->order);
  tg__free(b);
}

void tg_batcher_reset(tg_batcher *b) {
  if (b) new_epoch(b);
}

bool tg_batcher_next(tg_batcher *b, const int64_t **indices, int64_t *count) {
  if (!b || b->pos >= b->n) {
    if (indices) *indices = NULL;
    if (count) *count = 0;
    return false;
  }
  int64_t k = b->n - b->pos < b->batch_size ? b->n - b->pos : b->batch_size;
  if (indices) *indices = b->order + b->pos;
  if (count) *count = k;
  b->pos += k;
  return true;
}

tg_tensor *tg_take_rows(tg_tape *tp, const tg_tensor *data, const int64_t *idx,
                        int64_t n) {
  static const char *const FN = "tg_take_rows";
  if (!tp) return NULL;
  if (!data) return tg__fail(tp, TG_ERR_NULL, "%s: data is NULL", FN);
  if (n > 0 && !idx) return tg__fail(tp, TG_ERR_NULL, "%s: idx is NULL", FN);
  if (n < 0)
    return tg__fail(tp, TG_ERR_ARG, "%s: negative row count %lld", FN,
                    (long long)n);
  if (data->ndim < 1)
    return tg__fail(tp, TG_ERR_SHAPE, "%s: data is 0-d; it has no rows", FN);
  for (int64_t i = 0; i < n; i++)
    if (idx[i] < 0 || idx[i] >= data->shape[0])
      return tg__fail(tp, TG_ERR_ARG,
                      "%s: index %lld (at position %lld) is out of range for "
                      "%lld rows",
                      FN, (long long)idx[i], (long long)i,
                      (long long)data->shape[0]);
  int64_t shape[TG_MAX_DIMS];
  shape[0] = n;
  for (int d = 1; d < data->ndim; d++)
    shape[d] = data->shape[d];
  tg_tensor *out = tg__new_tensor(tp, FN, data->dtype, data->ndim, shape);
  if (!out) return NULL;
  size_t es = tg_dtype_size(data->dtype);
  int64_t row = out->numel / (n ? n : 1); /* elements per row */
  for (int64_t i = 0; i < n; i++) {
    /* Row idx[i] of data is a (ndim-1)-d block with data's other strides. */
    const char *src =
        (const char *)data->data + idx[i] * data->strides[0] * (int64_t)es;
    char *dst = (char *)out->data + i * row * (int64_t)es;
    tg_k_copy(data->dtype, data->ndim - 1, data->shape + 1, dst, NULL, src,
              data->strides + 1);
  }
  return out;
}
