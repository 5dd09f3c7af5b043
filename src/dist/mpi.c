/* Data-parallel training over MPI (compiled when meson finds MPI).
 *
 * State lives here, once per process, as MPI's own does: the private
 * communicator (a duplicate of MPI_COMM_WORLD, so tapegrad's collectives
 * never match the program's), rank and size, the last error message, and
 * one pack buffer per dtype. The buffers grow to the largest registry seen
 * and are reused by every later call, so a training step allocates nothing
 * here after its first; tg_dist_finalize frees them.
 *
 * Averaging gradients: the gradients of the trainable parameters are packed
 * in registry order into the buffer of their dtype; the buffer of the
 * "control" dtype (f64 when there are f64 parameters, else f32) carries, after
 * the gradients, one presence flag per trainable parameter (1 when this rank
 * has a gradient for it) and a failure flag. One MPI_Allreduce(SUM) per
 * buffer, in place, then a division by the number of ranks. The flags keep a
 * parameter that no rank reached without a gradient (so the optimizer skips
 * it, as it would in one process) and let fit stop every rank together when
 * one of them failed, instead of leaving the others waiting. */
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../core/internal.h"
#include "dist_internal.h"

/* Elements per MPI call: MPI counts are ints. */
#define CHUNK ((size_t)1 << 30)

static struct {
  bool ready;    /* tg_dist_init done, tg_dist_finalize not yet */
  bool owns_mpi; /* tg_dist_init called MPI_Init */
  MPI_Comm comm;
  int rank, size;
  void *pack[2]; /* one buffer per dtype (TG_F32, TG_F64) */
  size_t cap[2]; /* its capacity in elements */
  char msg[512];
} g = {.size = 1};

static tg_status fail(tg_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g.msg, sizeof g.msg, fmt, ap);
  va_end(ap);
  return st;
}

static tg_status mpi_fail(const char *fname, const char *call, int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
  text[len] = '\0';
  return fail(TG_ERR_STATE, "%s: %s failed: %s", fname, call,
              len ? text : "unknown MPI error");
}

static tg_status not_ready(const char *fname) {
  return fail(TG_ERR_STATE,
              "%s: MPI is not initialised here; call tg_dist_init first",
              fname);
}

bool tg_dist_available(void) { return true; }
bool tg__dist_ready(void) { return g.ready; }
int tg_dist_rank(void) { return g.ready ? g.rank : 0; }
int tg_dist_size(void) { return g.ready ? g.size : 1; }
const char *tg_dist_errmsg(void) { return g.msg; }

tg_status tg_dist_init(int *argc, char ***argv) {
  static const char fn[] = "tg_dist_init";
  if (g.ready) return TG_OK;
  int flag = 0;
  MPI_Finalized(&flag);
  if (flag)
    return fail(TG_ERR_STATE, "%s: MPI was finalized; it cannot start again",
                fn);
  MPI_Initialized(&flag);
  if (!flag) {
    int rc = MPI_Init(argc, argv);
    if (rc != MPI_SUCCESS) return mpi_fail(fn, "MPI_Init", rc);
    g.owns_mpi = true;
  }
  int rc = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  if (rc != MPI_SUCCESS) return mpi_fail(fn, "MPI_Comm_set_errhandler", rc);
  rc = MPI_Comm_dup(MPI_COMM_WORLD, &g.comm); /* inherits the handler */
  if (rc != MPI_SUCCESS) return mpi_fail(fn, "MPI_Comm_dup", rc);
  MPI_Comm_rank(g.comm, &g.rank);
  MPI_Comm_size(g.comm, &g.size);
  g.ready = true;
  return TG_OK;
}

tg_status tg_dist_finalize(void) {
  for (int d = 0; d < 2; d++) {
    tg__free(g.pack[d]);
    g.pack[d] = NULL;
    g.cap[d] = 0;
  }
  if (!g.ready) return TG_OK;
  g.ready = false;
  g.rank = 0;
  g.size = 1;
  int finalized = 0;
  MPI_Finalized(&finalized); /* the program may have finalized MPI itself */
  if (finalized) return TG_OK;
  MPI_Comm_free(&g.comm);
  if (g.owns_mpi) {
    g.owns_mpi = false;
    int rc = MPI_Finalize();
    if (rc != MPI_SUCCESS)
      return mpi_fail("tg_dist_finalize", "MPI_Finalize", rc);
  }
  return TG_OK;
}

/* --- pack buffers ---------------------------------------------------------
 */

static bool reserve(tg_dtype d, size_t count) {
  if (count <= g.cap[d]) return true;
  size_t es = tg_dtype_size(d);
  if (count > SIZE_MAX / es) return false;
  void *p = tg__malloc(count * es);
  if (!p) return false;
  tg__free(g.pack[d]);
  g.pack[d] = p;
  g.cap[d] = count;
  return true;
}

static void *at(tg_dtype d, size_t i) {
  return (char *)g.pack[d] + i * tg_dtype_size(d);
}

static void put(tg_dtype d, size_t i, double v) {
  if (d == TG_F32)
    ((float *)g.pack[d])[i] = (float)v;
  else
    ((double *)g.pack[d])[i] = v;
}

static double get(tg_dtype d, size_t i) {
  return d == TG_F32 ? (double)((float *)g.pack[d])[i]
                     : ((double *)g.pack[d])[i];
}

static MPI_Datatype mpi_type(tg_dtype d) {
  return d == TG_F32 ? MPI_FLOAT : MPI_DOUBLE;
}

/* In place, in calls of at most CHUNK elements. */
static int allreduce_sum(tg_dtype d, size_t count) {
  char *p = g.pack[d];
  while (count) {
    int n = (int)(count < CHUNK ? count : CHUNK);
    int rc = MPI_Allreduce(MPI_IN_PLACE, p, n, mpi_type(d), MPI_SUM, g.comm);
    if (rc != MPI_SUCCESS) return rc;
    p += (size_t)n * tg_dtype_size(d);
    count -= (size_t)n;
  }
  return MPI_SUCCESS;
}

static int bcast(tg_dtype d, size_t count, int root) {
  char *p = g.pack[d];
  while (count) {
    int n = (int)(count < CHUNK ? count : CHUNK);
    int rc = MPI_Bcast(p, n, mpi_type(d), root, g.comm);
    if (rc != MPI_SUCCESS) return rc;
    p += (size_t)n * tg_dtype_size(d);
    count -= (size_t)n;
  }
  return MPI_SUCCESS;
}

/* --- broadcast ------------------------------------------------------------
 */

/* FNV-1a over the registry's names, dtypes, shapes and kinds. */
static uint64_t layout_hash(const tg_params *ps) {
  uint64_t h = 0xcbf29ce484222325ull;
#define MIX(byte) (h = (h ^ (uint8_t)(byte)) * 0x100000001b3ull)
  int n = tg_params_count(ps);
  for (int i = 0; i < n; i++) {
    const tg_tensor *t = tg_params_at(ps, i);
    for (const char *c = tg_params_name(ps, i); *c; c++)
      MIX(*c);
    MIX(0);
    MIX(t->dtype);
    MIX(t->ndim);
    MIX(tg_params_trainable(ps, i));
    for (int d = 0; d < t->ndim; d++)
      for (int b = 0; b < 64; b += 8)
        MIX((uint64_t)t->shape[d] >> b);
  }
#undef MIX
  return h ^ (uint64_t)n;
}

tg_status tg__dist_broadcast(tg_params *ps, int root, bool buffers_only,
                             const char *fname) {
  if (!g.ready) return not_ready(fname);
  if (!ps) return fail(TG_ERR_NULL, "%s: registry is NULL", fname);
  if (root < 0 || root >= g.size)
    return fail(TG_ERR_ARG, "%s: root %d is not a rank of %d", fname, root,
                g.size);
  if (!buffers_only) {
    /* max(h) and max(~h) = ~min(h) agree only when every h is the same. */
    uint64_t h = layout_hash(ps), mm[2] = {h, ~h};
    int rc = MPI_Allreduce(MPI_IN_PLACE, mm, 2, MPI_UINT64_T, MPI_MAX, g.comm);
    if (rc != MPI_SUCCESS) return mpi_fail(fname, "MPI_Allreduce", rc);
    if (mm[0] != ~mm[1])
      return fail(TG_ERR_SHAPE,
                  "%s: the ranks' registries differ (names, dtypes or "
                  "shapes); every rank must build the same model",
                  fname);
  }
  int n = tg_params_count(ps);
  size_t count[2] = {0, 0};
  for (int i = 0; i < n; i++) {
    if (buffers_only && tg_params_trainable(ps, i)) continue;
    const tg_tensor *t = tg_params_at(ps, i);
    count[t->dtype] += (size_t)t->numel;
  }
  for (int d = 0; d < 2; d++)
    if (!reserve((tg_dtype)d, count[d]))
      return fail(TG_ERR_NOMEM, "%s: out of memory for %zu elements", fname,
                  count[d]);
  size_t off[2] = {0, 0};
  if (g.rank == root)
    for (int i = 0; i < n; i++) {
      if (buffers_only && tg_params_trainable(ps, i)) continue;
      const tg_tensor *t = tg_params_at(ps, i);
      tg_copy_out(t, at(t->dtype, off[t->dtype]));
      off[t->dtype] += (size_t)t->numel;
    }
  for (int d = 0; d < 2; d++) {
    if (!count[d]) continue;
    int rc = bcast((tg_dtype)d, count[d], root);
    if (rc != MPI_SUCCESS) return mpi_fail(fname, "MPI_Bcast", rc);
  }
  if (g.rank != root)
    for (int i = 0; i < n; i++) {
      if (buffers_only && tg_params_trainable(ps, i)) continue;
      tg_tensor *t = tg_params_at(ps, i);
      tg_copy_in(t, at(t->dtype, off[t->dtype])); /* counts as a write */
      off[t->dtype] += (size_t)t->numel;
    }
  return TG_OK;
}

tg_status tg_dist_broadcast_params(tg_params *ps, int root) {
  return tg__dist_broadcast(ps, root, false, "tg_dist_broadcast_params");
}

tg_status tg__dist_broadcast_u64(uint64_t *value, int root, const char *fname) {
  if (!g.ready) return not_ready(fname);
  int rc = MPI_Bcast(value, 1, MPI_UINT64_T, root, g.comm);
  return rc == MPI_SUCCESS ? TG_OK : mpi_fail(fname, "MPI_Bcast", rc);
}

/* --- averaging gradients --------------------------------------------------
 */

tg_status tg__dist_average(tg_params *ps, const char *fname, int *failed) {
  if (!g.ready) return not_ready(fname);
  if (!ps) return fail(TG_ERR_NULL, "%s: registry is NULL", fname);
  bool local_failed = failed && *failed;
  int n = tg_params_count(ps), trainable = 0;
  size_t count[2] = {0, 0};
  for (int i = 0; i < n; i++)
    if (tg_params_trainable(ps, i)) {
      const tg_tensor *t = tg_params_at(ps, i);
      count[t->dtype] += (size_t)t->numel;
      trainable++;
    }
  /* The flags ride in one buffer: f64's when there is one. */
  tg_dtype ctl = count[TG_F64] || !count[TG_F32] ? TG_F64 : TG_F32;
  size_t total[2] = {count[0], count[1]};
  total[ctl] += (size_t)trainable + 1;
  for (int d = 0; d < 2; d++)
    if (!reserve((tg_dtype)d, total[d]))
      return fail(TG_ERR_NOMEM, "%s: out of memory for %zu elements", fname,
                  total[d]);

  size_t off[2] = {0, 0}, flag = count[ctl];
  for (int i = 0; i < n; i++) {
    if (!tg_params_trainable(ps, i)) continue;
    const tg_tensor *t = tg_params_at(ps, i);
    void *dst = at(t->dtype, off[t->dtype]);
    if (t->grad && !local_failed)
      tg_copy_out(t->grad, dst);
    else
      memset(dst, 0, (size_t)t->numel * tg_dtype_size(t->dtype));
    off[t->dtype] += (size_t)t->numel;
    put(ctl, flag++, t->grad && !local_failed ? 1.0 : 0.0);
  }
  put(ctl, flag, local_failed ? 1.0 : 0.0);

  for (int d = 0; d < 2; d++) {
    if (!total[d]) continue;
    int rc = allreduce_sum((tg_dtype)d, total[d]);
    if (rc != MPI_SUCCESS) return mpi_fail(fname, "MPI_Allreduce", rc);
  }
  int ranks_failed = (int)get(ctl, flag);
  if (failed) *failed = ranks_failed;
  if (ranks_failed) return TG_OK;

  if (count[TG_F32]) {
    float *p = g.pack[TG_F32], s = (float)g.size;
    for (size_t j = 0; j < count[TG_F32]; j++)
      p[j] /= s;
  }
  if (count[TG_F64]) {
    double *p = g.pack[TG_F64], s = (double)g.size;
    for (size_t j = 0; j < count[TG_F64]; j++)
      p[j] /= s;
  }
  off[0] = off[1] = 0;
  flag = count[ctl];
  for (int i = 0; i < n; i++) {
    if (!tg_params_trainable(ps, i)) continue;
    tg_tensor *t = tg_params_at(ps, i);
    const void *src = at(t->dtype, off[t->dtype]);
    off[t->dtype] += (size_t)t->numel;
    if (get(ctl, flag++) == 0) continue; /* no rank has a gradient */
    if (!t->grad) {
      t->grad = tg_tensor_new(NULL, t->dtype, t->ndim, t->shape);
      if (!t->grad)
        return fail(TG_ERR_NOMEM, "%s: out of memory for the gradient of %s",
                    fname, tg_params_name(ps, i));
    }
    tg_copy_in(t->grad, src);
  }
  return TG_OK;
}

tg_status tg_dist_average_grads(tg_params *ps) {
  return tg__dist_average(ps, "tg_dist_average_grads", NULL);
}

tg_status tg_dist_sum(double *values, int n) {
  static const char fn[] = "tg_dist_sum";
  if (!g.ready) return not_ready(fn);
  if (n < 0) return fail(TG_ERR_ARG, "%s: negative count %d", fn, n);
  if (n && !values) return fail(TG_ERR_NULL, "%s: values is NULL", fn);
  if (!n) return TG_OK;
  int rc = MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_SUM, g.comm);
  return rc == MPI_SUCCESS ? TG_OK : mpi_fail(fn, "MPI_Allreduce", rc);
}
