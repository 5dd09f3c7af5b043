/* tapegrad's threads: one pool, T - 1 workers beside the calling thread,
 * and OpenBLAS kept to one thread, so that no more than T threads ever
 * compute at once. Matrix products are split by tapegrad (columns, rows or
 * batch entries), and so are large elementwise kernels, im2col and pooling.
 *
 * A job is a range [0, n) cut into at most 4T contiguous chunks, taken in
 * turn by whichever thread is free; the caller takes chunks too, so a worker
 * that is slow to wake only means the caller does more. Each element is
 * computed by one thread with the same code as without threads, so results do
 * not depend on who ran which chunk (a split matrix product is a set of smaller
 * products: the same at a given T, possibly different in the last bits from T =
 * 1, where OpenBLAS may pick other kernels for other shapes).
 *
 * Workers spin for about 50 microseconds after a job, since the next one of
 * a training step usually follows within that, then sleep on a condition
 * variable: between steps and in single-threaded stretches they take no
 * processor time, the contention behind PyTorch's 2-thread tail (its pool
 * and OpenBLAS's both spinning). A job started while another runs (two
 * user threads training at once, or a kernel inside a job) runs on its
 * caller's thread alone. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "kernels.h"

void openblas_set_num_threads(int n);

enum { MAX_THREADS = 64 };

static struct {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  _Atomic int threads; /* the setting, T */
  int started;         /* workers created (under lock) */
  atomic_uint generation;
  _Atomic int sleepers;
  _Atomic int allowed; /* workers below this index may take chunks */
  atomic_flag busy;
  /* The current job. Its fields are written only while no chunk of any job
   * is claimed (pending 0) and before `next` announces the job; a chunk is
   * claimed by a compare-and-swap on `next`, which holds the job's
   * generation, its chunk count and the next chunk (a worker late from an
   * earlier job cannot claim a chunk of this one by mistake). */
  tg_k_range_fn fn;
  void *ctx;
  int64_t n, chunk;
  _Atomic uint64_t next; /* generation << 32 | chunks << 16 | next chunk */
  _Atomic int pending;   /* chunks claimed or not yet, not finished */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER,
          .busy = ATOMIC_FLAG_INIT};

static int default_threads(void) {
  const char *env = getenv("OPENBLAS_NUM_THREADS");
  long n = env && atoi(env) > 0 ? atoi(env) : sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* Takes chunks of job `generation` until none is left. */
static void run_chunks(unsigned generation) {
  for (;;) {
    uint64_t v = atomic_load(&pool.next);
    unsigned chunks = (unsigned)(v >> 16) & 0xffff, i = (unsigned)v & 0xffff;
    if ((unsigned)(v >> 32) != generation || i >= chunks) return;
    if (!atomic_compare_exchange_weak(&pool.next, &v, v + 1)) continue;
    int64_t lo = (int64_t)i * pool.chunk;
    int64_t hi = lo + pool.chunk < pool.n ? lo + pool.chunk : pool.n;
    pool.fn(pool.ctx, lo, hi);
    atomic_fetch_sub(&pool.pending, 1);
  }
}

static void *worker(void *arg) {
  int index = (int)(intptr_t)arg;
  unsigned seen = atomic_load(&pool.generation);
  for (;;) {
    unsigned g = atomic_load(&pool.generation);
    double spin_until = 0;
    for (int spins = 0; g == seen; spins++) {
      cpu_relax();
      if (spins % 64 == 0) { /* the clock only now and then */
        double t = now_us();
        if (!spin_until) spin_until = t + 50;
        if (t > spin_until) {
          pthread_mutex_lock(&pool.lock);
          atomic_fetch_add(&pool.sleepers, 1);
          while ((g = atomic_load(&pool.generation)) == seen)
            pthread_cond_wait(&pool.wake, &pool.lock);
          atomic_fetch_sub(&pool.sleepers, 1);
          pthread_mutex_unlock(&pool.lock);
          break;
        }
      }
      g = atomic_load(&pool.generation);
    }
    seen = g;
    if (index < atomic_load(&pool.allowed)) run_chunks(g);
  }
  return NULL;
}

/* After fork the child has only the forking thread: its workers are gone. */
static void forget_workers(void) {
  pthread_mutex_init(&pool.lock, NULL);
  pthread_cond_init(&pool.wake, NULL);
  pool.started = 0;
  atomic_store(&pool.sleepers, 0);
  atomic_flag_clear(&pool.busy);
}

/* Starts workers up to `want` (under pool.lock); returns how many run. */
static int start_workers(int want) {
  static bool at_fork_set;
  if (!at_fork_set) {
    pthread_atfork(NULL, NULL, forget_workers);
    at_fork_set = true;
  }
  while (pool.started < want) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, worker, (void *)(intptr_t)pool.started);
    pthread_attr_destroy(&attr);
    if (rc) break; /* fewer workers; the caller takes their chunks */
    pool.started++;
  }
  return pool.started;
}

int tg_k_threads(void) {
  int t = atomic_load(&pool.threads);
  if (!t) {
    t = default_threads();
    atomic_store(&pool.threads, t);
  }
  return t;
}

void tg_k_parallel_for(int64_t n, int64_t grain, tg_k_range_fn fn, void *ctx) {
  int t = tg_k_threads();
  if (grain < 1) grain = 1;
  if (t <= 1 || n < 2 * grain || atomic_flag_test_and_set(&pool.busy)) {
    if (n > 0) fn(ctx, 0, n);
    return;
  }
  /* A few chunks per thread: a thread the machine holds back (a shared
   * machine, a worker still waking) then leaves less undone. */
  int64_t chunks = n / grain < 4 * t ? n / grain : 4 * t;
  pthread_mutex_lock(&pool.lock);
  int workers = start_workers(t - 1);
  pthread_mutex_unlock(&pool.lock);
  pool.fn = fn;
  pool.ctx = ctx;
  int64_t chunk = (n + chunks - 1) / chunks;
  /* Chunks of long runs start at multiples of 64 elements, so that vector
   * kernels (16 floats a step, a scalar tail) treat every element as they
   * would on one thread: the same results to the bit. */
  if (grain >= 64) chunk = (chunk + 63) / 64 * 64;
  chunks = (n + chunk - 1) / chunk;
  pool.n = n;
  pool.chunk = chunk;
  atomic_store(&pool.allowed, workers < t - 1 ? workers : t - 1);
  atomic_store(&pool.pending, (int)chunks);
  unsigned g = atomic_load(&pool.generation) + 1;
  atomic_store(&pool.next, (uint64_t)g << 32 | (uint64_t)chunks << 16);
  atomic_store(&pool.generation, g);
  if (atomic_load(&pool.sleepers) > 0) {
    pthread_mutex_lock(&pool.lock);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
  }
  run_chunks(g);
  while (atomic_load(&pool.pending) > 0)
    cpu_relax();
  atomic_flag_clear(&pool.busy);
}

int tg_set_num_threads(int n) {
  if (n <= 0) n = default_threads();
  if (n > MAX_THREADS) n = MAX_THREADS;
  atomic_store(&pool.threads, n);
  openblas_set_num_threads(1); /* tapegrad splits the products itself */
  return n;
}

int tg_num_threads(void) { return tg_k_threads(); }

/* OpenBLAS starts its own threads when it loads; from here on it runs on
 * the thread that calls it. */
__attribute__((constructor)) static void tg__one_blas_thread(void) {
  openblas_set_num_threads(1);
}
