/* Fuzzes tg_load_npy: the bytes are a .npy file.
 *
 * Properties checked:
 *   - the load returns a well-formed heap tensor, or NULL with an error and
 *     a message on the tape;
 *   - a loaded tensor holds exactly the last numel * element-size bytes of
 *     the file (the data follows the header to the end of the file);
 *   - saving the tensor with tg_save_npy and loading that gives the same
 *     dtype, shape and bytes;
 *   - nothing leaks and nothing reads out of bounds. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_tmp_path(0, "npy", "");
  const char *copy = fuzz_tmp_path(1, "npy", ".saved.npy");
  fuzz_write_file(path, data, size);

  tg_tape *tp = tg_tape_new();
  if (!tp) fuzz_fail("tg_tape_new failed");
  tg_tensor *t = tg_load_npy(tp, path);
  if (!t) {
    fuzz_expect_error(tp, "tg_load_npy");
    tg_tape_free(tp);
    return 0;
  }
  fuzz_expect_no_error(tp, "tg_load_npy");
  fuzz_check_tensor(t, "tg_load_npy");
  if (t->numel > 0 && !tg_is_contiguous(t))
    fuzz_fail("tg_load_npy gave a strided tensor");
  size_t bytes = (size_t)t->numel * tg_dtype_size(t->dtype);
  if (bytes > size)
    fuzz_fail("tg_load_npy: %zu data bytes from a file of %zu", bytes, size);
  /* The library stores little-endian data as it is on a little-endian
   * host, the only kind this check runs on. */
  const uint16_t one = 1;
  if (*(const uint8_t *)&one == 1 && bytes &&
      memcmp(t->data, data + size - bytes, bytes))
    fuzz_fail("tg_load_npy: the data differs from the file's last %zu bytes",
              bytes);

  if (tg_save_npy(tp, t, copy) != TG_OK)
    fuzz_fail("tg_save_npy of a loaded tensor failed: %s", tg_errmsg(tp));
  tg_tensor *u = tg_load_npy(tp, copy);
  if (!u)
    fuzz_fail("a tensor saved by tg_save_npy does not load: %s", tg_errmsg(tp));
  bool same = u->dtype == t->dtype && u->ndim == t->ndim;
  for (int d = 0; same && d < t->ndim; d++)
    same = u->shape[d] == t->shape[d];
  if (!same || (bytes && memcmp(u->data, t->data, bytes)))
    fuzz_fail("the round trip through tg_save_npy changed the tensor");
  tg_tensor_free(u);
  tg_tensor_free(t);
  tg_tape_free(tp);
  return 0;
}
