/* tapegrad-gradcheck: sweeps every entry of the sweep tables (every
 * primitive now; layers as they arrive) in float64 with random shapes and
 * seeds, first and second order, and prints one row per entry. Exits with
 * status 1 if any check fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep.h"

/* Every table the tool sweeps; a new family of ops or layers adds one. */
typedef struct sweep_table {
  const sweep_entry *entries;
  const int *count;
} sweep_table;

static const sweep_table tables[] = {
    {sweep_ops, &sweep_ops_count},
    {sweep_indexing, &sweep_indexing_count},
    {sweep_nn, &sweep_nn_count},
    {sweep_layers, &sweep_layers_count},
};
enum { N_TABLES = sizeof tables / sizeof tables[0] };

typedef struct run_ctx {
  const sweep_entry *entry;
  const sweep_case *c;
} run_ctx;

static tg_tensor *entry_fn(tg_tape *tp, tg_tensor *const *in, void *ud) {
  const run_ctx *r = ud;
  return r->entry->apply(tp, in, r->c);
}

/* The worst error of a report, relative to max(1, |numeric|). */
static double worst_error(const tg_gradcheck_report *rep) {
  double worst = 0;
  for (int i = 0; i < rep->n_inputs; i++) {
    const tg_gradcheck_input *in = &rep->inputs[i];
    if (!in->checked || in->worst_index < 0) continue;
    double e = in->abs_err / fmax(1.0, fabs(in->numeric));
    if (e > worst) worst = e;
  }
  return worst;
}

static void fill_input(tg_tensor *t, tg_rng *rng, sweep_domain d) {
  double *v = t->data;
  for (int64_t i = 0; i < t->numel; i++) {
    if (d.away > 0) {
      double mag = d.away + (d.hi - d.away) * tg_rng_uniform(rng);
      v[i] = tg_rng_uniform(rng) < 0.5 ? -mag : mag;
    } else {
      v[i] = d.lo + (d.hi - d.lo) * tg_rng_uniform(rng);
    }
  }
}

/* Runs `trials` random cases of one entry; prints its row. */
static bool sweep_entry_run(const sweep_entry *e, int number, uint64_t seed,
                            int trials, bool verbose) {
  double err1 = 0, err2 = 0;
  bool ok = true;
  char failure[1024] = "";
  for (int t = 0; t < trials; t++) {
    tg_rng rng;
    tg_rng_seed(&rng, seed * 1000003u + (uint64_t)t * 7919u +
                          (uint64_t)number * 104729u);
    sweep_case c;
    e->make_case(&rng, &c);
    tg_tape *tp = tg_tape_new();
    tg_tensor *in[SWEEP_MAX_INPUTS];
    for (int i = 0; i < c.n_inputs; i++) {
      in[i] = tg_empty(tp, TG_F64, c.ndim[i], c.shape[i]);
      if (in[i]) fill_input(in[i], &rng, e->domain);
    }
    run_ctx r = {e, &c};
    tg_gradcheck_opts o;
    tg_gradcheck_defaults(&o);
    o.seed = seed + (uint64_t)t;
    tg_gradcheck_report r1, r2;
    tg_status s1 = tg_gradcheck(entry_fn, &r, c.n_inputs, in, &o, &r1);
    tg_status s2 = tg_gradgradcheck(entry_fn, &r, c.n_inputs, in, &o, &r2);
    bool pass = s1 == TG_OK && s2 == TG_OK && r1.passed && r2.passed;
    if (s1 == TG_OK && worst_error(&r1) > err1) err1 = worst_error(&r1);
    if (s2 == TG_OK && worst_error(&r2) > err2) err2 = worst_error(&r2);
    if (verbose || (!pass && ok)) {
      FILE *mem = fmemopen(failure, sizeof failure, "w");
      fprintf(mem, "    case %d: %s\n", t, c.desc);
      tg_gradcheck_fprint(mem, &r1);
      tg_gradcheck_fprint(mem, &r2);
      fclose(mem);
      if (verbose) fputs(failure, stdout);
    }
    if (!pass) ok = false;
    tg_tape_free(tp);
  }
  printf("%-14s %9.2e %9.2e  %s\n", e->name, err1, err2, ok ? "PASS" : "FAIL");
  if (!ok && !verbose) fputs(failure, stdout);
  return ok;
}

static void usage(void) {
  puts("usage: tapegrad-gradcheck [--seed N] [--trials N] [--op NAME] "
       "[--verbose] [--list]\n"
       "Checks every op's gradient (first and second order) against finite\n"
       "differences in float64 on random shapes; exits 1 on any failure.");
}

int main(int argc, char **argv) {
  uint64_t seed = 1;
  int trials = 4;
  const char *only = NULL;
  bool verbose = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
      seed = strtoull(argv[++i], NULL, 10);
    } else if (!strcmp(argv[i], "--trials") && i + 1 < argc) {
      trials = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--op") && i + 1 < argc) {
      only = argv[++i];
    } else if (!strcmp(argv[i], "--verbose")) {
      verbose = true;
    } else if (!strcmp(argv[i], "--list")) {
      for (int k = 0; k < sweep_ops_count; k++)
        puts(sweep_ops[k].name);
      return 0;
    } else {
      usage();
      return strcmp(argv[i], "--help") ? 2 : 0;
    }
  }
  if (trials < 1) trials = 1;
  printf("tapegrad-gradcheck: seed %llu, %d random cases per op, float64\n",
         (unsigned long long)seed, trials);
  printf("%-14s %9s %9s  %s\n", "op", "1st order", "2nd order", "result");
  int failed = 0, run = 0, number = 0;
  for (int t = 0; t < N_TABLES; t++) {
    for (int k = 0; k < *tables[t].count; k++, number++) {
      const sweep_entry *e = &tables[t].entries[k];
      if (only && strcmp(only, e->name)) continue;
      run++;
      if (!sweep_entry_run(e, number, seed, trials, verbose)) failed++;
    }
  }
  if (run == 0) {
    fprintf(stderr, "tapegrad-gradcheck: no op named '%s'\n", only);
    return 2;
  }
  printf("%d passed, %d failed\n", run - failed, failed);
  return failed ? 1 : 0;
}
