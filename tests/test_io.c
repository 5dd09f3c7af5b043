/* tapegrad: files and data (include/tapegrad/io.h).
 *
 * Every test writes into one temporary directory made by main (mkdtemp
 * under /tmp) and removed when the suite ends.
 *
 * - safetensors: round trips are bitwise; files whose every byte is
 *   written here (the layout of PyTorch's writer, which is the reference
 *   Rust writer) load; the writer's own bytes are pinned; every rejected
 *   load leaves every parameter byte unchanged and names the tensor or the
 *   problem and the file; saving is atomic.
 * - npy: round trips of 0-d to 3-d tensors of both dtypes and of a
 *   transposed view; hand-made headers of versions 1.0 to 3.0; rejects.
 * - IDX: files made here, plain and gzipped, of several type codes; the
 *   gzip members are built by hand with stored deflate blocks (RFC 1951
 *   and 1952) so that the tests need no zlib of their own; truncation and
 *   malformed headers are rejected. The Fashion-MNIST test labels are
 *   checked when the file is installed (the test is registered only then).
 * - CSV, the batcher and tg_take_rows. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"
#include "tapegrad.h"

static char g_dir[256]; /* the temporary directory, set by main */

static const char *FASHION_LABELS =
    "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";

/* --- helpers -------------------------------------------------------------- */

/* "<g_dir>/name" in a static buffer of its own (four in rotation). */
static const char *tmp_path(const char *name) {
  static char bufs[4][512];
  static int next;
  char *b = bufs[next++ % 4];
  snprintf(b, sizeof bufs[0], "%s/%s", g_dir, name);
  return b;
}

static void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "cannot create %s", path);
  ck_assert_uint_eq(fwrite(data, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
}

/* The whole file (malloc'd; free it) and its size. */
static unsigned char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  size_t cap = 1 << 16, len = 0;
  unsigned char *buf = malloc(cap);
  ck_assert_ptr_nonnull(buf);
  size_t got;
  while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
    len += got;
    if (len == cap) {
      cap *= 2;
      buf = realloc(buf, cap);
      ck_assert_ptr_nonnull(buf);
    }
  }
  fclose(f);
  *n = len;
  return buf;
}

/* Number of entries of g_dir whose name contains ".tmp.". */
static int temp_files(void) {
  DIR *d = opendir(g_dir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strstr(e->d_name, ".tmp.")) n++;
  closedir(d);
  return n;
}

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      remove_tree(p);
    else
      remove(p);
  }
  closedir(d);
  rmdir(dir);
}

/* A byte string built piece by piece. */
typedef struct bytes {
  unsigned char b[8192];
  size_t n;
} bytes;

static void put(bytes *bs, const void *p, size_t n) {
  ck_assert_uint_le(bs->n + n, sizeof bs->b);
  memcpy(bs->b + bs->n, p, n);
  bs->n += n;
}

static void put_str(bytes *bs, const char *s) { put(bs, s, strlen(s)); }

static void put_le(bytes *bs, uint64_t v, int n) {
  for (int i = 0; i < n; i++, v >>= 8) {
    unsigned char c = (unsigned char)(v & 0xff);
    put(bs, &c, 1);
  }
}

static void put_be(bytes *bs, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--) {
    unsigned char c = (unsigned char)((v >> (8 * i)) & 0xff);
    put(bs, &c, 1);
  }
}

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static uint64_t f64_bits(double d) {
  uint64_t u;
  memcpy(&u, &d, 8);
  return u;
}

/* Asserts the tape's error code and that its message holds every given
 * string (a NULL ends the list); then clears the error. */
static void expect_error(tg_tape *tp, tg_status code, const char *s1,
                         const char *s2, const char *s3) {
  const char *msg = tg_errmsg(tp);
  ck_assert_msg(tg_error(tp) == code, "expected status %d, got %d: %s",
                (int)code, (int)tg_error(tp), msg);
  const char *want[3] = {s1, s2, s3};
  for (int i = 0; i < 3; i++)
    ck_assert_msg(!want[i] || strstr(msg, want[i]), "message lacks \"%s\": %s",
                  want[i], msg);
  tg_clear_error(tp);
}

/* --- safetensors ---------------------------------------------------------- */

/* The entries of the model used by the safetensors tests. */
typedef struct spec {
  const char *name;
  tg_dtype dtype;
  int ndim;
  int64_t shape[4];
  bool buffer;
} spec;

static const spec MODEL[] = {
    {"fc1.weight", TG_F32, 2, {3, 4}, false},
    {"fc1.bias", TG_F32, 1, {4}, false},
    {"bn.running_mean", TG_F64, 1, {4}, true},
    {"scale", TG_F64, 0, {0}, false},
    {"empty", TG_F32, 2, {0, 3}, true},
    {"conv.weight", TG_F64, 4, {2, 1, 3, 3}, false},
};
enum { N_MODEL = sizeof MODEL / sizeof MODEL[0] };

/* A registry of the given entries, filled with normal values from seed
 * (left at zero when seed is 0). */
static tg_params *make_params(tg_tape *tp, const spec *sp, int n,
                              uint64_t seed) {
  tg_params *ps = tg_params_new();
  ck_assert_ptr_nonnull(ps);
  tg_rng rng;
  tg_rng_seed(&rng, seed);
  for (int i = 0; i < n; i++) {
    tg_tensor *t = sp[i].buffer ? tg_buffer_new(ps, tp, sp[i].name, sp[i].dtype,
                                                sp[i].ndim, sp[i].shape)
                                : tg_param_new(ps, tp, sp[i].name, sp[i].dtype,
                                               sp[i].ndim, sp[i].shape);
    ck_assert_msg(t != NULL, "%s", tg_errmsg(tp));
    if (seed) tg_fill_normal(t, &rng, 0.0, 1.0);
  }
  return ps;
}

static tg_params *make_model(tg_tape *tp, uint64_t seed) {
  return make_params(tp, MODEL, N_MODEL, seed);
}

/* A copy of every entry's bytes, to compare with later. */
typedef struct snapshot {
  int n;
  unsigned char *data[16];
  size_t size[16];
} snapshot;

static size_t nbytes(const tg_tensor *t) {
  return (size_t)t->numel * tg_dtype_size(t->dtype);
}

static snapshot take_snapshot(const tg_params *ps) {
  snapshot s = {.n = tg_params_count(ps)};
  ck_assert_int_le(s.n, 16);
  for (int i = 0; i < s.n; i++) {
    const tg_tensor *t = tg_params_at(ps, i);
    s.size[i] = nbytes(t);
    s.data[i] = malloc(s.size[i] + 1);
    memcpy(s.data[i], t->data, s.size[i]);
  }
  return s;
}

static bool same_as_snapshot(const tg_params *ps, const snapshot *s) {
  if (tg_params_count(ps) != s->n) return false;
  for (int i = 0; i < s->n; i++) {
    const tg_tensor *t = tg_params_at(ps, i);
    if (nbytes(t) != s->size[i] || memcmp(t->data, s->data[i], s->size[i]))
      return false;
  }
  return true;
}

static void free_snapshot(snapshot *s) {
  for (int i = 0; i < s->n; i++)
    free(s->data[i]);
}

/* Writes a safetensors file: the header text padded with spaces to a
 * multiple of 8, its length before it, the data after it. */
static void write_st(const char *path, const char *header, const void *data,
                     size_t n) {
  static bytes bs;
  bs.n = 0;
  size_t hlen = strlen(header);
  size_t padded = (hlen + 7) / 8 * 8;
  put_le(&bs, padded, 8);
  put_str(&bs, header);
  for (size_t i = hlen; i < padded; i++)
    put_str(&bs, " ");
  if (n) put(&bs, data, n);
  write_file(path, bs.b, bs.n);
}

START_TEST(test_st_round_trip) {
  tg_tape *tp = tg_tape_new();
  tg_params *a = make_model(tp, 11);
  /* Values that a conversion would lose: -0, NaN, Inf, a subnormal. */
  float *bias = tg_params_find(a, "fc1.bias")->data;
  bias[0] = -0.0f;
  bias[1] = NAN;
  bias[2] = -INFINITY;
  bias[3] = 1e-40f;
  const char *path = tmp_path("round.safetensors");
  ck_assert_int_eq(tg_save_safetensors(tp, a, path), TG_OK);
  ck_assert_int_eq(temp_files(), 0);

  /* The header length keeps the data 8-byte aligned. */
  size_t n;
  unsigned char *file = read_file(path, &n);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--)
    hlen = hlen << 8 | file[i];
  ck_assert_uint_eq(hlen % 8, 0);
  size_t data = 0;
  for (int i = 0; i < N_MODEL; i++)
    data += nbytes(tg_params_at(a, i));
  ck_assert_uint_eq(n, 8 + hlen + data);
  free(file);

  tg_params *b = make_model(tp, 0);
  ck_assert_int_eq(tg_load_safetensors(tp, b, path), TG_OK);
  ck_assert_int_eq(tg_error(tp), TG_OK);
  for (int i = 0; i < N_MODEL; i++) {
    const tg_tensor *x = tg_params_at(a, i), *y = tg_params_at(b, i);
    ck_assert_msg(!memcmp(x->data, y->data, nbytes(x)), "%s differs",
                  MODEL[i].name);
  }
  tg_params_free(a);
  tg_params_free(b);
  tg_tape_free(tp);
}
END_TEST

/* The layout PyTorch's writer (safetensors.torch.save_file) produces:
 * compact JSON with "__metadata__" first, data little-endian, every byte
 * written out here. The second file is pretty-printed JSON with escapes. */
START_TEST(test_st_known_bytes_load) {
  static const spec SP[] = {
      {"b", TG_F64, 1, {2}, true},
      {"w\xc3\xa9", TG_F32, 2, {2, 2}, false}, /* "wé" */
  };
  const unsigned char data[] = {
      /* b: 1.5, -0.25 as F64 little-endian */
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F, /* 1.5 */
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xD0, 0xBF, /* -0.25 */
      /* wé: 1, -2, 0.5, 3 as F32 little-endian */
      0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0, /* 1, -2 */
      0x00, 0x00, 0x00, 0x3F, 0x00, 0x00, 0x40, 0x40, /* 0.5, 3 */
  };
  const char *headers[2] = {
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
      "\"w\\u00e9\":{\"dtype\":\"F32\",\"shape\":[2,2],"
      "\"data_offsets\":[16,32]}}",
      "{\n  \"w\xc3\xa9\": {\n    \"shape\": [ 2, 2 ],\n"
      "    \"data_offsets\": [16, 32], \"dtype\": \"F32\"\n  },\n"
      "  \"b\": {\"dtype\": \"F64\", \"shape\": [2], \"data_offsets\": "
      "[0, 16]},\n  \"__metadata__\": {\"a\\\"\\\\\\/\\n\": \"\\ud83d\\ude00\"}"
      "\n}\n"};
  tg_tape *tp = tg_tape_new();
  for (int k = 0; k < 2; k++) {
    const char *path = tmp_path("known.safetensors");
    write_st(path, headers[k], data, sizeof data);
    tg_params *ps = make_params(tp, SP, 2, 0);
    ck_assert_int_eq(tg_load_safetensors(tp, ps, path), TG_OK);
    const tg_tensor *b = tg_params_find(ps, "b");
    const tg_tensor *w = tg_params_find(ps, "w\xc3\xa9");
    ck_assert_double_eq(tg_get_flat(b, 0), 1.5);
    ck_assert_double_eq(tg_get_flat(b, 1), -0.25);
    const double want[4] = {1, -2, 0.5, 3};
    for (int i = 0; i < 4; i++)
      ck_assert_double_eq(tg_get_flat(w, i), want[i]);
    tg_params_free(ps);
  }
  tg_tape_free(tp);
}
END_TEST

/* The writer's bytes, pinned: compact JSON in registry order, padded with
 * spaces to a multiple of 8; F64 data placed before F32 data. */
START_TEST(test_st_writer_bytes) {
  tg_tape *tp = tg_tape_new();
  tg_params *ps = tg_params_new();
  const int64_t two[1] = {2}, one[1] = {1};
  tg_tensor *a = tg_param_new(ps, tp, "a", TG_F32, 1, two);
  tg_tensor *b = tg_buffer_new(ps, tp, "b", TG_F64, 1, one);
  const float av[2] = {1.0f, -2.0f};
  const double bv[1] = {1.5};
  tg_copy_in(a, av);
  tg_copy_in(b, bv);
  const char *path = tmp_path("pinned.safetensors");
  ck_assert_int_eq(tg_save_safetensors(tp, ps, path), TG_OK);

  static bytes want;
  const char *header =
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
      "\"b\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}";
  size_t padded = (strlen(header) + 7) / 8 * 8;
  put_le(&want, padded, 8);
  put_str(&want, header);
  while (want.n < 8 + padded)
    put_str(&want, " ");
  put_le(&want, f64_bits(1.5), 8);
  put_le(&want, f32_bits(1.0f), 4);
  put_le(&want, f32_bits(-2.0f), 4);
  size_t n;
  unsigned char *got = read_file(path, &n);
  ck_assert_uint_eq(n, want.n);
  ck_assert_msg(!memcmp(got, want.b, n), "the file's bytes differ");
  free(got);
  tg_params_free(ps);
  tg_tape_free(tp);
}
END_TEST

/* Loads path into ps and expects a failure that leaves ps as snap holds
 * it, with the given code and message parts; the file is always named. */
static void expect_rejected(tg_tape *tp, tg_params *ps, const snapshot *snap,
                            const char *path, tg_status code, const char *s1,
                            const char *s2) {
  ck_assert_int_eq(tg_load_safetensors(tp, ps, path), code);
  ck_assert_msg(same_as_snapshot(ps, snap), "a rejected load changed %s", path);
  expect_error(tp, code, path, s1, s2);
}

/* A variant of MODEL with one entry changed, dropped or added. */
static tg_params *model_variant(tg_tape *tp, const char *name, tg_dtype dtype,
                                int ndim, const int64_t *shape, bool drop,
                                const char *add) {
  spec sp[N_MODEL + 1];
  int n = 0;
  for (int i = 0; i < N_MODEL; i++) {
    if (!strcmp(MODEL[i].name, name) && drop) continue;
    sp[n] = MODEL[i];
    if (!strcmp(MODEL[i].name, name)) {
      sp[n].dtype = dtype;
      sp[n].ndim = ndim;
      for (int d = 0; d < ndim; d++)
        sp[n].shape[d] = shape[d];
    }
    n++;
  }
  if (add) sp[n++] = (spec){add, TG_F32, 1, {3}, false};
  return make_params(tp, sp, n, 99);
}

START_TEST(test_st_rejects) {
  tg_tape *tp = tg_tape_new();
  tg_params *ps = make_model(tp, 5);
  snapshot snap = take_snapshot(ps);
  const char *path = tmp_path("bad.safetensors");
  /* Every bad file below also carries other tensors with new values, so
   * that a load which copied before checking would show. */
  const int64_t s43[2] = {4, 3}, s4[1] = {4};

  tg_params *v = model_variant(tp, "fc1.weight", TG_F32, 2, s43, false, NULL);
  ck_assert_int_eq(tg_save_safetensors(tp, v, path), TG_OK);
  tg_params_free(v);
  expect_rejected(tp, ps, &snap, path, TG_ERR_SHAPE,
                  "tensor 'fc1.weight' has shape [4x3] in the file",
                  "[3x4] in the model");

  v = model_variant(tp, "bn.running_mean", TG_F32, 1, s4, false, NULL);
  ck_assert_int_eq(tg_save_safetensors(tp, v, path), TG_OK);
  tg_params_free(v);
  expect_rejected(tp, ps, &snap, path, TG_ERR_DTYPE,
                  "'bn.running_mean' is F32 in the file but F64", NULL);

  v = model_variant(tp, "conv.weight", TG_F64, 0, NULL, true, NULL);
  ck_assert_int_eq(tg_save_safetensors(tp, v, path), TG_OK);
  tg_params_free(v);
  expect_rejected(tp, ps, &snap, path, TG_ERR_ARG, "'conv.weight'",
                  "not in the file");

  v = model_variant(tp, "", TG_F32, 0, NULL, false, "extra.bias");
  ck_assert_int_eq(tg_save_safetensors(tp, v, path), TG_OK);
  tg_params_free(v);
  expect_rejected(tp, ps, &snap, path, TG_ERR_ARG, "'extra.bias'",
                  "does not have");

  /* A good file with other values, then cut short or with a bad header
   * size. */
  v = model_variant(tp, "", TG_F32, 0, NULL, false, NULL);
  ck_assert_int_eq(tg_save_safetensors(tp, v, path), TG_OK);
  tg_params_free(v);
  size_t n;
  unsigned char *good = read_file(path, &n);
  write_file(path, good, n - 5);
  expect_rejected(tp, ps, &snap, path, TG_ERR_ARG, "truncated", NULL);
  write_file(path, good, 5);
  expect_rejected(tp, ps, &snap, path, TG_ERR_ARG, "too short", NULL);
  good[0] = 0x00;
  good[1] = 0x00;
  good[2] = 0x10; /* 1 MiB */
  write_file(path, good, n);
  expect_rejected(tp, ps, &snap, path, TG_ERR_ARG,
                  "header size 1048576 is past the end", NULL);
  free(good);

  /* Hand-made headers. */
  float zeros[64] = {0};
  write_st(path,
           "{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],"
           "\"data_offsets\":[0,48]},}",
           zeros, 48);
  expect_rejected(tp, ps, &snap, path, TG_ERR_ARG, "bad JSON", NULL);
  write_st(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2]", zeros, 8);
  expect_rejected(tp, ps, &snap, path, TG_ERR_ARG, "bad JSON", NULL);
  write_st(path, "[1, 2]", NULL, 0);
  expect_rejected(tp, ps, &snap, path, TG_ERR_ARG, "start with '{'", NULL);
  write_st(path,
           "{\"x\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}",
           zeros, 4);
  expect_rejected(tp, ps, &snap, path, TG_ERR_DTYPE,
                  "dtype BF16 of 'x' is not supported", NULL);
  write_st(path,
           "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
           zeros, 12);
  expect_rejected(tp, ps, &snap, path, TG_ERR_ARG, "overlap", "'y'");
  write_st(path,
           "{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",
           zeros, 8);
  expect_rejected(tp, ps, &snap, path, TG_ERR_ARG, "of 'x' hold 8 bytes",
                  "needs 12");
  write_st(path,
           "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
           zeros, 16);
  expect_rejected(tp, ps, &snap, path, TG_ERR_ARG, "'x' appears twice", NULL);
  write_st(path,
           "{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}",
           zeros, 8);
  expect_rejected(tp, ps, &snap, path, TG_ERR_ARG, "negative", NULL);
  write_st(path,
           "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],"
           "\"bias\":1}}",
           zeros, 8);
  expect_rejected(tp, ps, &snap, path, TG_ERR_ARG, "unknown field 'bias'",
                  NULL);
  write_st(path,
           "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
           zeros, 12);
  expect_rejected(tp, ps, &snap, path, TG_ERR_ARG, "4 bytes after", NULL);
  write_file(path, "", 0);
  expect_rejected(tp, ps, &snap, path, TG_ERR_ARG, "too short", NULL);
  expect_rejected(tp, ps, &snap, tmp_path("absent.safetensors"), TG_ERR_STATE,
                  "cannot open", "No such file");

  /* After all that the registry still loads a good file. */
  ck_assert_int_eq(tg_save_safetensors(tp, ps, path), TG_OK);
  ck_assert_int_eq(tg_load_safetensors(tp, ps, path), TG_OK);
  ck_assert(same_as_snapshot(ps, &snap));
  free_snapshot(&snap);
  tg_params_free(ps);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_st_atomic_save) {
  tg_tape *tp = tg_tape_new();
  tg_params *a = make_model(tp, 1), *b = make_model(tp, 2);
  const char *path = tmp_path("atomic.safetensors");
  ck_assert_int_eq(tg_save_safetensors(tp, a, path), TG_OK);
  ck_assert_int_eq(temp_files(), 0);
  size_t n0;
  unsigned char *before = read_file(path, &n0);

  /* Into a directory that does not exist. */
  const char *nodir = tmp_path("no-such-dir/m.safetensors");
  ck_assert_int_eq(tg_save_safetensors(tp, a, nodir), TG_ERR_STATE);
  expect_error(tp, TG_ERR_STATE, "tg_save_safetensors", nodir,
               "No such file or directory");

  /* The temporary file cannot be made (a directory is in its place): the
   * save fails and the existing target keeps its bytes. */
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  ck_assert_int_eq(mkdir(tmp, 0700), 0);
  ck_assert_int_eq(tg_save_safetensors(tp, b, path), TG_ERR_STATE);
  expect_error(tp, TG_ERR_STATE, path, "cannot create", NULL);
  size_t n1;
  unsigned char *after = read_file(path, &n1);
  ck_assert_uint_eq(n0, n1);
  ck_assert(!memcmp(before, after, n0));
  free(after);
  ck_assert_int_eq(rmdir(tmp), 0);

  /* Replacing works and leaves nothing behind. */
  ck_assert_int_eq(tg_save_safetensors(tp, b, path), TG_OK);
  ck_assert_int_eq(temp_files(), 0);
  after = read_file(path, &n1);
  ck_assert(n0 == n1 && memcmp(before, after, n0));
  free(after);
  free(before);
  tg_params *c = make_model(tp, 0);
  ck_assert_int_eq(tg_load_safetensors(tp, c, path), TG_OK);
  for (int i = 0; i < N_MODEL; i++)
    ck_assert(!memcmp(tg_params_at(b, i)->data, tg_params_at(c, i)->data,
                      nbytes(tg_params_at(b, i))));
  tg_params_free(a);
  tg_params_free(b);
  tg_params_free(c);
  tg_tape_free(tp);
}
END_TEST

/* --- npy ------------------------------------------------------------------ */

/* Saves t, checks the preamble, loads it back and compares every byte
 * with t's row-major contents. */
static void npy_round_trip(tg_tape *tp, const tg_tensor *t,
                           const char *shape_text) {
  const char *path = tmp_path("rt.npy");
  ck_assert_int_eq(tg_save_npy(tp, t, path), TG_OK);
  ck_assert_int_eq(temp_files(), 0);
  size_t n;
  unsigned char *file = read_file(path, &n);
  ck_assert(!memcmp(file, "\x93NUMPY\x01\x00", 8));
  size_t hlen = file[8] | (size_t)file[9] << 8;
  ck_assert_uint_eq((10 + hlen) % 64, 0);
  ck_assert_int_eq(file[10 + hlen - 1], '\n');
  char header[256];
  ck_assert_uint_lt(hlen, sizeof header);
  memcpy(header, file + 10, hlen);
  header[hlen] = 0;
  char want[128];
  snprintf(want, sizeof want,
           "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
           t->dtype == TG_F32 ? "<f4" : "<f8", shape_text);
  ck_assert_msg(!strncmp(header, want, strlen(want)), "header %s", header);
  free(file);

  tg_tensor *u = tg_load_npy(tp, path);
  ck_assert_msg(u != NULL, "%s", tg_errmsg(tp));
  ck_assert_int_eq(u->dtype, t->dtype);
  ck_assert_int_eq(u->ndim, t->ndim);
  for (int d = 0; d < t->ndim; d++)
    ck_assert_int_eq(u->shape[d], t->shape[d]);
  size_t bytes = nbytes(t);
  unsigned char *expect = malloc(bytes + 1);
  ck_assert_int_eq(tg_copy_out(t, expect), TG_OK);
  ck_assert(!memcmp(u->data, expect, bytes));
  free(expect);
  tg_tensor_free(u);
}

START_TEST(test_npy_round_trip) {
  tg_tape *tp = tg_tape_new();
  tg_tape_seed(tp, 3);
  npy_round_trip(tp, tg_scalar(tp, TG_F64, 3.25), "()");
  const int64_t s5[1] = {5}, s234[3] = {2, 3, 4}, s20[2] = {2, 0};
  npy_round_trip(tp, tg_rand_normal(tp, TG_F32, 1, s5, 0, 1), "(5,)");
  npy_round_trip(tp, tg_rand_normal(tp, TG_F64, 3, s234, 0, 1), "(2, 3, 4)");
  npy_round_trip(tp, tg_rand_normal(tp, TG_F32, 3, s234, 0, 1), "(2, 3, 4)");
  npy_round_trip(tp, tg_zeros(tp, TG_F64, 2, s20), "(2, 0)");

  /* A transposed view is saved in its logical (row-major) order. */
  const int64_t s23[2] = {2, 3};
  const double v[6] = {0, 1, 2, 3, 4, 5};
  tg_tensor *x = tg_from_f64(tp, TG_F32, 2, s23, v);
  tg_tensor *xt = tg_transpose(tp, x, 0, 1);
  ck_assert(!tg_is_contiguous(xt));
  npy_round_trip(tp, xt, "(3, 2)");
  tg_tensor *u = tg_load_npy(tp, tmp_path("rt.npy"));
  const double want[6] = {0, 3, 1, 4, 2, 5};
  for (int i = 0; i < 6; i++)
    ck_assert_double_eq(tg_get_flat(u, i), want[i]);
  tg_tensor_free(u);
  tg_tape_free(tp);
}
END_TEST

/* A .npy file: magic, version, header length (2 or 4 bytes), the header
 * padded with spaces and '\n' to a multiple of align, then data. */
static void write_npy(const char *path, int major, const char *dict, int align,
                      const void *data, size_t n) {
  static bytes bs;
  bs.n = 0;
  put(&bs, "\x93NUMPY", 6);
  const unsigned char ver[2] = {(unsigned char)major, 0};
  put(&bs, ver, 2);
  size_t pre = major == 1 ? 10 : 12, hlen = strlen(dict) + 1;
  while ((pre + hlen) % (size_t)align)
    hlen++;
  put_le(&bs, hlen, major == 1 ? 2 : 4);
  put_str(&bs, dict);
  while (bs.n < pre + hlen - 1)
    put_str(&bs, " ");
  put_str(&bs, "\n");
  if (n) put(&bs, data, n);
  write_file(path, bs.b, bs.n);
}

START_TEST(test_npy_handmade) {
  tg_tape *tp = tg_tape_new();
  const char *path = tmp_path("hand.npy");
  static bytes d8, d4;
  const double v8[4] = {1.5, -0.25, 2, 1e300};
  for (int i = 0; i < 4; i++)
    put_le(&d8, f64_bits(v8[i]), 8);
  const float v4[3] = {1, -2, 0.5f};
  for (int i = 0; i < 3; i++)
    put_le(&d4, f32_bits(v4[i]), 4);

  /* NumPy's own spelling, version 1.0. */
  write_npy(path, 1,
            "{'descr': '<f8', 'fortran_order': False, "
            "'shape': (2, 2), }",
            64, d8.b, d8.n);
  tg_tensor *t = tg_load_npy(tp, path);
  ck_assert_msg(t != NULL, "%s", tg_errmsg(tp));
  ck_assert_int_eq(t->dtype, TG_F64);
  ck_assert_int_eq(t->ndim, 2);
  ck_assert_int_eq(t->shape[0], 2);
  ck_assert_int_eq(t->shape[1], 2);
  for (int i = 0; i < 4; i++)
    ck_assert_double_eq(tg_get_flat(t, i), v8[i]);
  tg_tensor_free(t);

  /* Other spellings and versions: compact, double quotes, keys in another
   * order, Python 2's 'L', 16-byte alignment, versions 2.0 and 3.0. */
  const char *dicts[4] = {
      "{'shape':(3,),'fortran_order':False,'descr':'<f4'}",
      "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (3L,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
  };
  const int majors[4] = {1, 1, 2, 3}, aligns[4] = {16, 64, 64, 16};
  for (int k = 0; k < 4; k++) {
    write_npy(path, majors[k], dicts[k], aligns[k], d4.b, d4.n);
    t = tg_load_npy(tp, path);
    ck_assert_msg(t != NULL, "case %d: %s", k, tg_errmsg(tp));
    ck_assert_int_eq(t->dtype, TG_F32);
    ck_assert_int_eq(t->ndim, 1);
    ck_assert_int_eq(t->shape[0], 3);
    for (int i = 0; i < 3; i++)
      ck_assert_double_eq(tg_get_flat(t, i), v4[i]);
    tg_tensor_free(t);
  }
  /* A 0-d array. */
  write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
            64, d8.b, 8);
  t = tg_load_npy(tp, path);
  ck_assert_msg(t != NULL, "%s", tg_errmsg(tp));
  ck_assert_int_eq(t->ndim, 0);
  ck_assert_double_eq(tg_item(t), 1.5);
  tg_tensor_free(t);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_npy_rejects) {
  tg_tape *tp = tg_tape_new();
  const char *path = tmp_path("bad.npy");
  unsigned char data[64] = {0};
  static const struct {
    int major;
    const char *dict;
    size_t n;
    tg_status code;
    const char *what;
  } cases[] = {
      {1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8,
       TG_ERR_ARG, "Fortran order"},
      {1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", 16,
       TG_ERR_DTYPE, "dtype '>f8' is not supported"},
      {1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", 16,
       TG_ERR_DTYPE, "dtype '<i8' is not supported"},
      {1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", 8,
       TG_ERR_ARG, "structured"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20,
       TG_ERR_ARG, "the data is 20 bytes but shape [2x3] of '<f4' needs 24"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 12,
       TG_ERR_ARG, "the data is 12 bytes"},
      {1, "{'descr': '<f4', 'shape': (2,), }", 8, TG_ERR_ARG,
       "'fortran_order' is missing"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8,
       TG_ERR_ARG, "unknown key 'x'"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", 8,
       TG_ERR_ARG, "(n,)"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 8,
       TG_ERR_ARG, "non-negative"},
      {1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", 8,
       TG_ERR_ARG, "True or False"},
      {1, "not a dict", 8, TG_ERR_ARG, "bad header"},
      {4, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8,
       TG_ERR_ARG, "version 4.0"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    write_npy(path, cases[k].major, cases[k].dict, 64, data, cases[k].n);
    ck_assert_msg(tg_load_npy(tp, path) == NULL, "case %zu loaded", k);
    expect_error(tp, cases[k].code, "tg_load_npy", path, cases[k].what);
  }
  write_file(path, "\x93NUMPX\x01\x00\x00\x00", 10);
  ck_assert_ptr_null(tg_load_npy(tp, path));
  expect_error(tp, TG_ERR_ARG, path, "not a .npy file", NULL);
  write_file(path, "\x93NUMPY\x01\x00\xff\x00{'descr'", 17);
  ck_assert_ptr_null(tg_load_npy(tp, path));
  expect_error(tp, TG_ERR_ARG, path, "header length 255 is past the end", NULL);
  ck_assert_ptr_null(tg_load_npy(tp, tmp_path("absent.npy")));
  expect_error(tp, TG_ERR_STATE, "No such file", NULL, NULL);
  tg_tensor *x = tg_scalar(tp, TG_F32, 1);
  const char *nodir = tmp_path("no-such-dir/x.npy");
  ck_assert_int_eq(tg_save_npy(tp, x, nodir), TG_ERR_STATE);
  expect_error(tp, TG_ERR_STATE, "tg_save_npy", nodir,
               "No such file or directory");
  ck_assert_int_eq(temp_files(), 0);
  tg_tape_free(tp);
}
END_TEST

/* --- IDX ------------------------------------------------------------------ */

static uint32_t crc32_ieee(const unsigned char *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++)
      c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

/* A gzip member (RFC 1952) around deflate stored blocks (RFC 1951, BTYPE
 * 00: a header byte, LEN and its complement, the bytes). */
static void write_gzip(const char *path, const unsigned char *data, size_t n) {
  static bytes gz;
  gz.n = 0;
  const unsigned char head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
  put(&gz, head, sizeof head);
  size_t at = 0;
  do {
    size_t len = n - at > 1000 ? 1000 : n - at; /* several blocks */
    unsigned char bfinal = at + len == n;
    put(&gz, &bfinal, 1);
    put_le(&gz, len, 2);
    put_le(&gz, ~len & 0xffff, 2);
    if (len) put(&gz, data + at, len);
    at += len;
  } while (at < n);
  put_le(&gz, crc32_ieee(data, n), 4);
  put_le(&gz, n & 0xffffffffu, 4);
  write_file(path, gz.b, gz.n);
}

/* An IDX file: magic (0, 0, type, ndim), big-endian dims, then data. */
static bytes *idx_bytes(int type, int ndim, const uint32_t *dims) {
  static bytes bs;
  bs.n = 0;
  const unsigned char magic[4] = {0, 0, (unsigned char)type,
                                  (unsigned char)ndim};
  put(&bs, magic, 4);
  for (int d = 0; d < ndim; d++)
    put_be(&bs, dims[d], 4);
  return &bs;
}

START_TEST(test_idx_ubyte) {
  tg_tape *tp = tg_tape_new();
  const uint32_t dims[3] = {3, 2, 2};
  bytes *bs = idx_bytes(0x08, 3, dims);
  unsigned char px[12];
  for (int i = 0; i < 12; i++)
    px[i] = (unsigned char)(i == 11 ? 255 : i * 20);
  put(bs, px, 12);
  const char *plain = tmp_path("u8-idx3-ubyte"), *gz = tmp_path("u8.gz");
  write_file(plain, bs->b, bs->n);
  write_gzip(gz, bs->b, bs->n);
  for (int k = 0; k < 2; k++) {
    tg_tensor *t = tg_load_idx(tp, k ? gz : plain, TG_F32, 1.0 / 255);
    ck_assert_msg(t != NULL, "%s", tg_errmsg(tp));
    ck_assert_int_eq(t->dtype, TG_F32);
    ck_assert_int_eq(t->ndim, 3);
    for (int d = 0; d < 3; d++)
      ck_assert_int_eq(t->shape[d], dims[d]);
    for (int i = 0; i < 12; i++)
      ck_assert_float_eq(((const float *)t->data)[i],
                         (float)(px[i] * (1.0 / 255)));
    tg_tensor_free(t);
    t = tg_load_idx(tp, k ? gz : plain, TG_F64, 1.0);
    ck_assert_msg(t != NULL, "%s", tg_errmsg(tp));
    for (int i = 0; i < 12; i++)
      ck_assert_double_eq(tg_get_flat(t, i), px[i]);
    tg_tensor_free(t);
  }
  /* Large enough for several gzip blocks and zlib buffers. */
  const uint32_t big[2] = {50, 100};
  bs = idx_bytes(0x08, 2, big);
  for (int i = 0; i < 5000; i++) {
    unsigned char c = (unsigned char)(i * 7);
    put(bs, &c, 1);
  }
  write_gzip(gz, bs->b, bs->n);
  tg_tensor *t = tg_load_idx(tp, gz, TG_F32, 1.0);
  ck_assert_msg(t != NULL, "%s", tg_errmsg(tp));
  ck_assert_int_eq(t->numel, 5000);
  for (int i = 0; i < 5000; i++)
    ck_assert_float_eq(((const float *)t->data)[i], (unsigned char)(i * 7));
  tg_tensor_free(t);
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_idx_other_types) {
  tg_tape *tp = tg_tape_new();
  const char *path = tmp_path("t.idx"), *gz = tmp_path("t.idx.gz");
  const uint32_t d23[2] = {2, 3}, d4[1] = {4}, d3[1] = {3};
  /* 0x0D float, big-endian. */
  const float f[6] = {1.5f, -2, 0.25f, 1e30f, -0.0f, 3};
  bytes *bs = idx_bytes(0x0D, 2, d23);
  for (int i = 0; i < 6; i++)
    put_be(bs, f32_bits(f[i]), 4);
  write_file(path, bs->b, bs->n);
  write_gzip(gz, bs->b, bs->n);
  for (int k = 0; k < 2; k++) {
    tg_tensor *t = tg_load_idx(tp, k ? gz : path, TG_F64, 2.0);
    ck_assert_msg(t != NULL, "%s", tg_errmsg(tp));
    ck_assert_int_eq(t->ndim, 2);
    ck_assert_int_eq(t->shape[0], 2);
    ck_assert_int_eq(t->shape[1], 3);
    for (int i = 0; i < 6; i++)
      ck_assert_double_eq(tg_get_flat(t, i), 2.0 * f[i]);
    tg_tensor_free(t);
  }
  /* 0x0E double. */
  const double d[4] = {1e-300, -7.125, 0, 42};
  bs = idx_bytes(0x0E, 1, d4);
  for (int i = 0; i < 4; i++)
    put_be(bs, f64_bits(d[i]), 8);
  write_file(path, bs->b, bs->n);
  tg_tensor *t = tg_load_idx(tp, path, TG_F64, 1.0);
  ck_assert_msg(t != NULL, "%s", tg_errmsg(tp));
  for (int i = 0; i < 4; i++)
    ck_assert_double_eq(tg_get_flat(t, i), d[i]);
  tg_tensor_free(t);
  /* 0x09 signed byte, 0x0B short, 0x0C int. */
  const int types[3] = {0x09, 0x0B, 0x0C}, sizes[3] = {1, 2, 4};
  const int64_t vals[3][3] = {
      {-3, 127, -128}, {-300, 32767, 5}, {70000, -70000, 2147483647}};
  for (int k = 0; k < 3; k++) {
    bs = idx_bytes(types[k], 1, d3);
    for (int i = 0; i < 3; i++)
      put_be(bs, (uint64_t)vals[k][i], sizes[k]);
    write_file(path, bs->b, bs->n);
    t = tg_load_idx(tp, path, TG_F64, 1.0);
    ck_assert_msg(t != NULL, "%s", tg_errmsg(tp));
    for (int i = 0; i < 3; i++)
      ck_assert_double_eq(tg_get_flat(t, i), (double)vals[k][i]);
    tg_tensor_free(t);
  }
  tg_tape_free(tp);
}
END_TEST

START_TEST(test_idx_rejects) {
  tg_tape *tp = tg_tape_new();
  const char *path = tmp_path("bad-idx"), *gz = tmp_path("bad-idx.gz");
  const uint32_t dims[2] = {3, 4};
  bytes *bs = idx_bytes(0x08, 2, dims);
  unsigned char px[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  put(bs, px, 5); /* 5 of 12 data bytes */
  write_file(path, bs->b, bs->n);
  ck_assert_ptr_null(tg_load_idx(tp, path, TG_F32, 1.0));
  expect_error(tp, TG_ERR_ARG, "tg_load_idx", path,
               "the file ends after 5 of 12 data bytes");
  write_gzip(gz, bs->b, bs->n);
  ck_assert_ptr_null(tg_load_idx(tp, gz, TG_F32, 1.0));
  expect_error(tp, TG_ERR_ARG, gz, "the file ends after 5 of 12", NULL);

  /* A gzip stream cut in the middle. */
  put(bs, px + 5, 7);
  write_gzip(gz, bs->b, bs->n);
  size_t n;
  unsigned char *whole = read_file(gz, &n);
  write_file(gz, whole, n - 12); /* the trailer and some data gone */
  free(whole);
  ck_assert_ptr_null(tg_load_idx(tp, gz, TG_F32, 1.0));
  expect_error(tp, TG_ERR_ARG, gz, "the file ends after", NULL);
  /* ... and cut inside its 8-byte trailer: all the data, no check sum. */
  write_gzip(gz, bs->b, bs->n);
  whole = read_file(gz, &n);
  for (size_t cut = 1; cut <= 7; cut += 3) {
    write_file(gz, whole, n - cut);
    ck_assert_ptr_null(tg_load_idx(tp, gz, TG_F32, 1.0));
    expect_error(tp, TG_ERR_ARG, gz,
                 "the gzip stream is cut short after the 12", NULL);
  }
  write_file(gz, whole, n); /* whole again: loads */
  free(whole);
  tg_tensor *ok = tg_load_idx(tp, gz, TG_F32, 1.0);
  ck_assert_msg(ok != NULL, "%s", tg_errmsg(tp));
  tg_tensor_free(ok);

  /* Bytes after the data. */
  put(bs, px, 1);
  write_file(path, bs->b, bs->n);
  ck_assert_ptr_null(tg_load_idx(tp, path, TG_F32, 1.0));
  expect_error(tp, TG_ERR_ARG, path, "goes on after the 12 data bytes", NULL);

  /* Headers. */
  write_file(path, "\x00\x00\x08\x02\x00\x00", 6);
  ck_assert_ptr_null(tg_load_idx(tp, path, TG_F32, 1.0));
  expect_error(tp, TG_ERR_ARG, path, "ends after 6 of 12 header bytes", NULL);
  write_file(path, "\x00\x00", 2);
  ck_assert_ptr_null(tg_load_idx(tp, path, TG_F32, 1.0));
  expect_error(tp, TG_ERR_ARG, path, "2 of the 4 magic bytes", NULL);
  write_file(path, "\x01\x00\x08\x01\x00\x00\x00\x01\x07", 9);
  ck_assert_ptr_null(tg_load_idx(tp, path, TG_F32, 1.0));
  expect_error(tp, TG_ERR_ARG, path, "not an IDX file", "0x01000801");
  write_file(path, "\x00\x00\x07\x01\x00\x00\x00\x01\x07", 9);
  ck_assert_ptr_null(tg_load_idx(tp, path, TG_F32, 1.0));
  expect_error(tp, TG_ERR_ARG, path, "unknown data type code 0x07", NULL);
  const uint32_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  bs = idx_bytes(0x08, 9, nine);
  put(bs, px, 1);
  write_file(path, bs->b, bs->n);
  ck_assert_ptr_null(tg_load_idx(tp, path, TG_F32, 1.0));
  expect_error(tp, TG_ERR_ARG, path, "9 dimensions", NULL);
  write_file(path, "\x00\x00\x08\x00", 4);
  ck_assert_ptr_null(tg_load_idx(tp, path, TG_F32, 1.0));
  expect_error(tp, TG_ERR_ARG, path, "0 dimensions", NULL);
  ck_assert_ptr_null(tg_load_idx(tp, path, (tg_dtype)7, 1.0));
  expect_error(tp, TG_ERR_DTYPE, "unknown dtype 7", NULL, NULL);
  ck_assert_ptr_null(tg_load_idx(tp, tmp_path("absent-idx"), TG_F32, 1.0));
  expect_error(tp, TG_ERR_STATE, "cannot open", "No such file", NULL);
  tg_tape_free(tp);
}
END_TEST

/* Fashion-MNIST's test labels: 10,000 labels, 1,000 of each of the ten
 * classes (registered only when the file is installed). */
START_TEST(test_idx_fashion_mnist_labels) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *t = tg_load_idx(tp, FASHION_LABELS, TG_F32, 1.0);
  ck_assert_msg(t != NULL, "%s", tg_errmsg(tp));
  ck_assert_int_eq(t->ndim, 1);
  ck_assert_int_eq(t->shape[0], 10000);
  int count[10] = {0};
  for (int64_t i = 0; i < t->numel; i++) {
    float v = ((const float *)t->data)[i];
    ck_assert(v >= 0 && v <= 9 && v == floorf(v));
    count[(int)v]++;
  }
  for (int c = 0; c < 10; c++)
    ck_assert_int_eq(count[c], 1000);
  tg_tensor_free(t);
  tg_tape_free(tp);
}
END_TEST

/* --- CSV ------------------------------------------------------------------ */

static tg_tensor *csv_of(tg_tape *tp, const char *text, tg_dtype dtype,
                         bool header) {
  const char *path = tmp_path("t.csv");
  write_file(path, text, strlen(text));
  return tg_load_csv(tp, path, dtype, header);
}

START_TEST(test_csv) {
  tg_tape *tp = tg_tape_new();
  tg_tensor *t = csv_of(tp, "1,2,3\n4, 5 ,\t6\n-7.5,8e2,-0\n", TG_F64, false);
  ck_assert_msg(t != NULL, "%s", tg_errmsg(tp));
  ck_assert_int_eq(t->ndim, 2);
  ck_assert_int_eq(t->shape[0], 3);
  ck_assert_int_eq(t->shape[1], 3);
  const double want[9] = {1, 2, 3, 4, 5, 6, -7.5, 800, 0};
  for (int i = 0; i < 9; i++)
    ck_assert_double_eq(tg_get_flat(t, i), want[i]);
  tg_tensor_free(t);

  /* A header, CRLF line ends, an empty last line; f32. */
  t = csv_of(tp, "x, y\r\n1.5,-2\r\n3,4\r\n\r\n", TG_F32, true);
  ck_assert_msg(t != NULL, "%s", tg_errmsg(tp));
  ck_assert_int_eq(t->dtype, TG_F32);
  ck_assert_int_eq(t->shape[0], 2);
  ck_assert_int_eq(t->shape[1], 2);
  const double want2[4] = {1.5, -2, 3, 4};
  for (int i = 0; i < 4; i++)
    ck_assert_double_eq(tg_get_flat(t, i), want2[i]);
  tg_tensor_free(t);

  /* No final newline; one column. */
  t = csv_of(tp, "1\n2", TG_F64, false);
  ck_assert_msg(t != NULL, "%s", tg_errmsg(tp));
  ck_assert_int_eq(t->shape[0], 2);
  ck_assert_int_eq(t->shape[1], 1);
  ck_assert_double_eq(tg_get_flat(t, 1), 2);
  tg_tensor_free(t);

  /* Nothing but a header. */
  t = csv_of(tp, "a,b\n", TG_F64, true);
  ck_assert_msg(t != NULL, "%s", tg_errmsg(tp));
  ck_assert_int_eq(t->shape[0], 0);
  tg_tensor_free(t);

  const char *path = tmp_path("t.csv");
  ck_assert_ptr_null(csv_of(tp, "1,2\n3,4\n5\n", TG_F64, false));
  expect_error(tp, TG_ERR_ARG, path, "line 3 has 1 field but line 1 has 2",
               NULL);
  ck_assert_ptr_null(csv_of(tp, "1,2,3\n4,abc,6\n", TG_F64, false));
  expect_error(tp, TG_ERR_ARG, path, "line 2, column 2: 'abc' is not a number",
               NULL);
  ck_assert_ptr_null(csv_of(tp, "a,b\n1,2\n3,4x\n", TG_F32, true));
  expect_error(tp, TG_ERR_ARG, "line 3, column 2", "'4x'", NULL);
  ck_assert_ptr_null(csv_of(tp, "1,,3\n", TG_F64, false));
  expect_error(tp, TG_ERR_ARG, "line 1, column 2: the field is empty", NULL,
               NULL);
  ck_assert_ptr_null(csv_of(tp, "1;2\n", TG_F64, false));
  expect_error(tp, TG_ERR_ARG, "line 1, column 1", "'1;2'", NULL);
  ck_assert_ptr_null(tg_load_csv(tp, tmp_path("absent.csv"), TG_F64, false));
  expect_error(tp, TG_ERR_STATE, "tg_load_csv", "No such file", NULL);
  tg_tape_free(tp);
}
END_TEST

/* --- batches -------------------------------------------------------------- */

/* One epoch's indices, concatenated, and the batch sizes. */
static int epoch(tg_batcher *b, int64_t *order, int64_t *sizes) {
  const int64_t *idx;
  int64_t count, at = 0;
  int batches = 0;
  while (tg_batcher_next(b, &idx, &count)) {
    memcpy(order + at, idx, (size_t)count * sizeof *idx);
    at += count;
    sizes[batches++] = count;
  }
  return batches;
}

START_TEST(test_batcher_epochs) {
  enum { N = 10 };
  int64_t order[N], sizes[N];
  tg_batcher *b = tg_batcher_new(N, 3, true, 42);
  ck_assert_ptr_nonnull(b);
  for (int e = 0; e < 3; e++) {
    ck_assert_int_eq(epoch(b, order, sizes), 4);
    ck_assert_int_eq(sizes[0], 3);
    ck_assert_int_eq(sizes[1], 3);
    ck_assert_int_eq(sizes[2], 3);
    ck_assert_int_eq(sizes[3], 1); /* the last batch is partial */
    int seen[N] = {0};
    for (int i = 0; i < N; i++) {
      ck_assert(order[i] >= 0 && order[i] < N);
      seen[order[i]]++;
    }
    for (int i = 0; i < N; i++)
      ck_assert_int_eq(seen[i], 1);
    const int64_t *idx;
    int64_t count;
    ck_assert(!tg_batcher_next(b, &idx, &count)); /* over until reset */
    tg_batcher_reset(b);
  }
  tg_batcher_free(b);

  /* Without shuffling: 0..n-1, exactly divisible. */
  b = tg_batcher_new(6, 2, false, 1);
  ck_assert_int_eq(epoch(b, order, sizes), 3);
  for (int i = 0; i < 6; i++)
    ck_assert_int_eq(order[i], i);
  tg_batcher_free(b);

  ck_assert_ptr_null(tg_batcher_new(0, 2, true, 1));
  ck_assert_ptr_null(tg_batcher_new(5, 0, true, 1));
  ck_assert_ptr_null(tg_batcher_new(-1, 2, true, 1));
}
END_TEST

START_TEST(test_batcher_reproducible) {
  enum { N = 20, EPOCHS = 4 };
  int64_t a[EPOCHS][N], b[EPOCHS][N], c[N], sizes[N];
  tg_batcher *x = tg_batcher_new(N, 7, true, 123);
  tg_batcher *y = tg_batcher_new(N, 7, true, 123);
  tg_batcher *z = tg_batcher_new(N, 7, true, 124);
  for (int e = 0; e < EPOCHS; e++) {
    epoch(x, a[e], sizes);
    epoch(y, b[e], sizes);
    ck_assert(!memcmp(a[e], b[e], sizeof a[e])); /* same seed, same order */
    tg_batcher_reset(x);
    tg_batcher_reset(y);
  }
  epoch(z, c, sizes);
  ck_assert(memcmp(a[0], c, sizeof c)); /* another seed, another order */
  for (int e = 1; e < EPOCHS; e++)
    ck_assert(memcmp(a[e], a[e - 1], sizeof a[e])); /* epochs differ */
  tg_batcher_free(x);
  tg_batcher_free(y);
  tg_batcher_free(z);

  /* The order is integer arithmetic on tg_rng's stream, so it is pinned
   * here: a change on any machine means seeds no longer reproduce runs. */
  tg_batcher *p = tg_batcher_new(10, 10, true, 1);
  int64_t first[10];
  epoch(p, first, sizes);
  tg_batcher_free(p);
  static const int64_t pinned[10] = {3, 8, 0, 9, 2, 5, 6, 4, 1, 7};
  ck_assert_msg(!memcmp(first, pinned, sizeof first),
                "order %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld",
                (long long)first[0], (long long)first[1], (long long)first[2],
                (long long)first[3], (long long)first[4], (long long)first[5],
                (long long)first[6], (long long)first[7], (long long)first[8],
                (long long)first[9]);
}
END_TEST

START_TEST(test_take_rows) {
  tg_tape *tp = tg_tape_new();
  double v[12];
  for (int i = 0; i < 12; i++)
    v[i] = i;
  const int64_t s43[2] = {4, 3}, s34[2] = {3, 4};
  tg_tensor *x = tg_from_f64(tp, TG_F64, 2, s43, v);
  const int64_t idx[3] = {2, 0, 2};
  tg_tensor *r = tg_take_rows(tp, x, idx, 3);
  ck_assert_msg(r != NULL, "%s", tg_errmsg(tp));
  ck_assert_int_eq(r->ndim, 2);
  ck_assert_int_eq(r->shape[0], 3);
  ck_assert_int_eq(r->shape[1], 3);
  ck_assert(!r->requires_grad);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      ck_assert_double_eq(tg_get_flat(r, i * 3 + j), v[idx[i] * 3 + j]);

  /* A transposed view (row stride 1, column stride 4). */
  tg_tensor *y = tg_from_f64(tp, TG_F32, 2, s34, v);
  tg_tensor *yt = tg_transpose(tp, y, 0, 1); /* [4x3], yt[i][j] = v[j*4+i] */
  const int64_t idx2[2] = {3, 1};
  r = tg_take_rows(tp, yt, idx2, 2);
  ck_assert_msg(r != NULL, "%s", tg_errmsg(tp));
  ck_assert_int_eq(r->dtype, TG_F32);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++)
      ck_assert_double_eq(tg_get_flat(r, i * 3 + j), v[j * 4 + idx2[i]]);

  /* A heap tensor of one dimension. */
  const int64_t s5[1] = {5};
  tg_tensor *h = tg_tensor_new(tp, TG_F64, 1, s5);
  tg_copy_in(h, v);
  const int64_t idx3[2] = {4, 0};
  r = tg_take_rows(tp, h, idx3, 2);
  ck_assert_msg(r != NULL, "%s", tg_errmsg(tp));
  ck_assert_int_eq(r->ndim, 1);
  ck_assert_double_eq(tg_get_flat(r, 0), 4);
  ck_assert_double_eq(tg_get_flat(r, 1), 0);
  tg_tensor_free(h);

  r = tg_take_rows(tp, x, idx, 0);
  ck_assert_msg(r != NULL, "%s", tg_errmsg(tp));
  ck_assert_int_eq(r->shape[0], 0);
  ck_assert_int_eq(r->shape[1], 3);

  const int64_t bad[2] = {1, 4};
  ck_assert_ptr_null(tg_take_rows(tp, x, bad, 2));
  expect_error(tp, TG_ERR_ARG, "tg_take_rows", "index 4 (at position 1)",
               "4 rows");
  const int64_t neg[1] = {-1};
  ck_assert_ptr_null(tg_take_rows(tp, x, neg, 1));
  expect_error(tp, TG_ERR_ARG, "index -1", NULL, NULL);
  tg_tape_free(tp);
}
END_TEST

int main(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/tapegrad-io-XXXXXX");
  if (!mkdtemp(g_dir)) {
    perror("mkdtemp");
    return EXIT_FAILURE;
  }
  Suite *s = suite_create("io");
  TCase *st = tcase_create("safetensors");
  tcase_add_test(st, test_st_round_trip);
  tcase_add_test(st, test_st_known_bytes_load);
  tcase_add_test(st, test_st_writer_bytes);
  tcase_add_test(st, test_st_rejects);
  tcase_add_test(st, test_st_atomic_save);
  suite_add_tcase(s, st);
  TCase *npy = tcase_create("npy");
  tcase_add_test(npy, test_npy_round_trip);
  tcase_add_test(npy, test_npy_handmade);
  tcase_add_test(npy, test_npy_rejects);
  suite_add_tcase(s, npy);
  TCase *idx = tcase_create("idx");
  tcase_add_test(idx, test_idx_ubyte);
  tcase_add_test(idx, test_idx_other_types);
  tcase_add_test(idx, test_idx_rejects);
  if (access(FASHION_LABELS, R_OK) == 0)
    tcase_add_test(idx, test_idx_fashion_mnist_labels);
  else
    printf("note: %s is absent; the Fashion-MNIST label test is not run\n",
           FASHION_LABELS);
  suite_add_tcase(s, idx);
  TCase *data = tcase_create("data");
  tcase_add_test(data, test_csv);
  tcase_add_test(data, test_batcher_epochs);
  tcase_add_test(data, test_batcher_reproducible);
  tcase_add_test(data, test_take_rows);
  suite_add_tcase(s, data);
  int rc = tgt_run_suite(s);
  remove_tree(g_dir);
  return rc;
}
