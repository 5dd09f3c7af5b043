/* tapegrad: files and data.
 *
 * Loaders reject malformed input with a message on the tape naming the file
 * and what was wrong, and leave their outputs untouched. Savers write a
 * temporary file beside the target, flush it, and rename it into place, so
 * a crash never leaves a torn file. Data sets come back as heap tensors
 * (they outlive any tape); free them with tg_tensor_free. */
#ifndef TAPEGRAD_IO_H
#define TAPEGRAD_IO_H

#include "params.h"

/* --- safetensors (https://huggingface.co/docs/safetensors) --------------- */

/* Writes every entry of the registry (parameters and buffers) under its
 * name, as F32 or F64 little-endian data after the 8-byte header length and
 * the JSON header. */
tg_status tg_save_safetensors(tg_tape *tp, const tg_params *ps,
                              const char *path);
/* Reads a file written by tapegrad or PyTorch into the registry. Every
 * registry entry must be in the file with the same dtype and shape, and the
 * file must hold nothing else; on any mismatch nothing is changed and the
 * error names the tensor. */
tg_status tg_load_safetensors(tg_tape *tp, tg_params *ps, const char *path);

/* --- NumPy .npy (format version 1.0; '<f4' and '<f8', C order) ------------ */

tg_status tg_save_npy(tg_tape *tp, const tg_tensor *t, const char *path);
/* A heap tensor holding the array (version 1.0 to 3.0, '<f4'/'<f8',
 * C order). */
tg_tensor *tg_load_npy(tg_tape *tp, const char *path);

/* --- data sets ------------------------------------------------------------ */

/* An IDX file (MNIST's format; gzipped when the name ends in .gz or the
 * data starts with gzip's magic), unsigned-byte or float data, as a heap
 * tensor of dtype with the file's shape, every value multiplied by scale
 * (e.g. 1/255 for pixels; 1 for labels, which stay whole numbers). */
tg_tensor *tg_load_idx(tg_tape *tp, const char *path, tg_dtype dtype,
                       double scale);
/* A numeric CSV table as a heap tensor [rows, columns]. With has_header the
 * first line is skipped. Every row must have the same number of fields; a
 * field that is not a number is an error naming its line and column. */
tg_tensor *tg_load_csv(tg_tape *tp, const char *path, tg_dtype dtype,
                       bool has_header);

/* --- mini-batches --------------------------------------------------------- */

typedef struct tg_batcher tg_batcher;

/* Batches of indices into n samples; with shuffle, a new order from the
 * seeded generator at every epoch (tg_batcher_reset). NULL on bad sizes. */
tg_batcher *tg_batcher_new(int64_t n, int64_t batch_size, bool shuffle,
                           uint64_t seed);
void tg_batcher_free(tg_batcher *b);
/* Starts a new epoch (reshuffling when asked). */
void tg_batcher_reset(tg_batcher *b);
/* The next batch's indices (valid until the next call) and count; false
 * when the epoch is over. The last batch may be smaller. */
bool tg_batcher_next(tg_batcher *b, const int64_t **indices, int64_t *count);
/* Rows idx[0..n) of data (axis 0) as a new arena tensor [n, ...]; no
 * gradient. Indices out of range are an error. */
tg_tensor *tg_take_rows(tg_tape *tp, const tg_tensor *data, const int64_t *idx,
                        int64_t n);

#endif
