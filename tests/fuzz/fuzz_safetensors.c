/* Fuzzes tg_load_safetensors: the bytes are a safetensors file, loaded into
 * a small registry of fixed names, dtypes and shapes.
 *
 * Properties checked:
 *   - the load succeeds, or fails with an error and a message on the tape
 *     and the same status returned;
 *   - a failed load leaves every parameter byte for byte as it was (the
 *     loader promises all-or-nothing);
 *   - a successful load keeps the registry's shapes, and saving the
 *     registry and loading the result into a fresh registry gives the same
 *     bytes (the saver and the loader agree);
 *   - a registry with no entries accepts only files that hold no tensor;
 *   - (once per process, whatever the input) what tg_save_safetensors
 *     writes for the registry and for an empty one loads back;
 *   - nothing leaks (LeakSanitizer) and nothing reads out of bounds. */
#include "fuzz_common.h"

typedef struct spec {
  const char *name;
  bool buffer;
  tg_dtype dtype;
  int ndim;
  int64_t shape[2];
} spec;

/* A dense layer's weight and bias, a batch norm's buffer, a 0-d and an
 * empty parameter: every case the loader distinguishes. */
static const spec SPECS[] = {
    {"0.weight", false, TG_F32, 2, {2, 3}},
    {"0.bias", false, TG_F32, 1, {3, 0}},
    {"bn.running_mean", true, TG_F64, 1, {2, 0}},
    {"scale", false, TG_F64, 0, {0, 0}},
    {"empty", false, TG_F32, 2, {0, 4}},
};
#define N_SPECS ((int)(sizeof SPECS / sizeof SPECS[0]))
#define SNAP_MAX 256 /* bytes of every parameter together */

/* The registry of SPECS, every byte of its data set from a pattern that
 * depends on salt (so two registries can be told apart). */
static tg_params *make_registry(tg_tape *tp, unsigned salt) {
  tg_params *ps = tg_params_new();
  if (!ps) fuzz_fail("tg_params_new failed");
  for (int i = 0; i < N_SPECS; i++) {
    const spec *s = &SPECS[i];
    tg_tensor *t =
        s->buffer ? tg_buffer_new(ps, tp, s->name, s->dtype, s->ndim, s->shape)
                  : tg_param_new(ps, tp, s->name, s->dtype, s->ndim, s->shape);
    if (!t) fuzz_fail("cannot make parameter %s: %s", s->name, tg_errmsg(tp));
    unsigned char *p = t->data;
    size_t bytes = (size_t)t->numel * tg_dtype_size(t->dtype);
    for (size_t k = 0; k < bytes; k++)
      p[k] = (unsigned char)(salt * 31u + k * 7u + (unsigned)i);
  }
  return ps;
}

/* Every parameter's bytes, in registry order, into buf; returns the count. */
static size_t snapshot(const tg_params *ps, unsigned char *buf) {
  size_t at = 0;
  for (int i = 0; i < tg_params_count(ps); i++) {
    const tg_tensor *t = tg_params_at(ps, i);
    size_t bytes = (size_t)t->numel * tg_dtype_size(t->dtype);
    if (at + bytes > SNAP_MAX) fuzz_fail("snapshot buffer too small");
    memcpy(buf + at, t->data, bytes);
    at += bytes;
  }
  return at;
}

/* The registry still has SPECS' names, dtypes and shapes. */
static void check_layout(const tg_params *ps, const char *when) {
  if (tg_params_count(ps) != N_SPECS)
    fuzz_fail("%s: the registry has %d entries, not %d", when,
              tg_params_count(ps), N_SPECS);
  for (int i = 0; i < N_SPECS; i++) {
    const spec *s = &SPECS[i];
    const tg_tensor *t = tg_params_at(ps, i);
    bool same = !strcmp(tg_params_name(ps, i), s->name) &&
                t->dtype == s->dtype && t->ndim == s->ndim;
    for (int d = 0; same && d < s->ndim; d++)
      same = t->shape[d] == s->shape[d];
    if (!same)
      fuzz_fail("%s: entry %d (%s) changed its layout", when, i, s->name);
    fuzz_check_tensor(t, s->name);
  }
}

/* The saver's files load back: for the registry, and for an empty one
 * (a header of "{}"). */
static void check_saver_once(const char *copy) {
  static bool done;
  if (done) return;
  done = true;
  tg_tape *tp = tg_tape_new();
  if (!tp) fuzz_fail("tg_tape_new failed");
  tg_params *ps = make_registry(tp, 3), *none = tg_params_new();
  if (!none) fuzz_fail("tg_params_new failed");
  if (tg_save_safetensors(tp, ps, copy) != TG_OK ||
      tg_load_safetensors(tp, ps, copy) != TG_OK)
    fuzz_fail("the registry does not save and load back: %s", tg_errmsg(tp));
  if (tg_save_safetensors(tp, none, copy) != TG_OK ||
      tg_load_safetensors(tp, none, copy) != TG_OK)
    fuzz_fail("an empty registry does not save and load back: %s",
              tg_errmsg(tp));
  tg_params_free(none);
  tg_params_free(ps);
  tg_tape_free(tp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_tmp_path(0, "safetensors", "");
  const char *copy = fuzz_tmp_path(1, "safetensors", ".saved");
  check_saver_once(copy);
  fuzz_write_file(path, data, size);

  tg_tape *tp = tg_tape_new();
  if (!tp) fuzz_fail("tg_tape_new failed");
  tg_params *ps = make_registry(tp, 1);
  unsigned char before[SNAP_MAX], after[SNAP_MAX];
  size_t n = snapshot(ps, before);

  tg_status st = tg_load_safetensors(tp, ps, path);
  check_layout(ps, "after tg_load_safetensors");
  if (st != TG_OK) {
    fuzz_expect_error(tp, "tg_load_safetensors");
    if (tg_error(tp) != st)
      fuzz_fail("tg_load_safetensors returned %d but the tape holds %d",
                (int)st, (int)tg_error(tp));
    if (snapshot(ps, after) != n || memcmp(before, after, n))
      fuzz_fail("a failed tg_load_safetensors changed the parameters (%s)",
                tg_errmsg(tp));
  } else {
    fuzz_expect_no_error(tp, "tg_load_safetensors");
    /* Round trip: what was loaded saves and loads back bit for bit. */
    if (tg_save_safetensors(tp, ps, copy) != TG_OK)
      fuzz_fail("tg_save_safetensors of a loaded registry failed: %s",
                tg_errmsg(tp));
    tg_params *again = make_registry(tp, 2);
    if (tg_load_safetensors(tp, again, copy) != TG_OK)
      fuzz_fail("the registry saved after a load does not load back: %s",
                tg_errmsg(tp));
    check_layout(again, "after the round trip");
    n = snapshot(ps, before);
    if (snapshot(again, after) != n || memcmp(before, after, n))
      fuzz_fail("the round trip through tg_save_safetensors changed data");
    tg_params_free(again);
  }
  tg_clear_error(tp);

  /* A registry with no entries: only a file without tensors fits it. */
  tg_params *none = tg_params_new();
  if (!none) fuzz_fail("tg_params_new failed");
  st = tg_load_safetensors(tp, none, path);
  if (st != TG_OK)
    fuzz_expect_error(tp, "tg_load_safetensors (empty registry)");
  else
    fuzz_expect_no_error(tp, "tg_load_safetensors (empty registry)");
  if (tg_params_count(none) != 0)
    fuzz_fail("loading changed the size of an empty registry");
  tg_params_free(none);

  tg_params_free(ps);
  tg_tape_free(tp);
  return 0;
}
