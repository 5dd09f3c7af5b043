/* A character-level LSTM on the word list of Debian's wamerican: it reads
 * the words as one stream ("apple\nbanana\n..."), learns to predict each
 * next character, prints its per-character loss going down, then invents
 * new words. A custom training loop over layers, without Sequential.
 * Usage: char_lstm [--steps N] [word list] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"

enum { VOCAB = 27, BATCH = 32, STEPS_T = 16, EMBED = 16, HIDDEN = 128 };

/* '\n' is 0, 'a'..'z' are 1..26. */
static int code(char c) { return c == '\n' ? 0 : c - 'a' + 1; }
static char letter(int k) { return k == 0 ? '\n' : (char)('a' + k - 1); }

/* Lower-case words of 3 to 10 letters, joined by newlines. */
static char *read_words(const char *path, size_t *len) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  size_t cap = 1 << 20, n = 0;
  char *text = malloc(cap), line[256];
  while (text && fgets(line, sizeof line, f)) {
    size_t l = strcspn(line, "\r\n");
    bool ok = l >= 3 && l <= 10;
    for (size_t i = 0; ok && i < l; i++)
      ok = line[i] >= 'a' && line[i] <= 'z';
    if (!ok) continue;
    if (n + l + 2 > cap) {
      char *grown = realloc(text, cap *= 2);
      if (!grown) break;
      text = grown;
    }
    memcpy(text + n, line, l);
    n += l;
    text[n++] = '\n';
  }
  fclose(f);
  *len = n;
  return text;
}

typedef struct net {
  tg_params *ps;
  tg_layer *embed, *lstm, *head;
} net;

/* Logits [B*T, VOCAB] for a batch of index sequences [B, T]. */
static tg_tensor *forward(tg_tape *tp, net *m, tg_tensor *idx, tg_tensor *h0,
                          tg_tensor *c0, tg_tensor **h, tg_tensor **c) {
  tg_tensor *e = tg_layer_forward(tp, m->embed, idx); /* [B, T, EMBED] */
  tg_tensor *out = tg_recurrent_forward(tp, m->lstm, e, h0, c0, h, c);
  int64_t flat[2] = {-1, HIDDEN};
  return tg_layer_forward(tp, m->head, tg_reshape(tp, out, 2, flat));
}

/* A new word, drawn one letter at a time at temperature 0.8. */
static void sample_word(tg_tape *tp, net *m, tg_rng *rng, char *word, int max) {
  tg_tensor *h = NULL, *c = NULL;
  int prev = 0, n = 0;
  bool grad = tg_set_grad_enabled(tp, false);
  while (n < max) {
    int64_t s[2] = {1, 1};
    tg_tensor *idx = tg_full(tp, TG_F32, 2, s, prev);
    tg_tensor *logits = forward(tp, m, idx, h, c, &h, &c);
    tg_tensor *p = tg_softmax(tp, tg_mul_scalar(tp, logits, 1 / 0.8), 1);
    double u = tg_rng_uniform(rng), acc = 0;
    int k = VOCAB - 1;
    for (int j = 0; j < VOCAB; j++) {
      acc += tg_get_flat(p, j);
      if (u < acc) {
        k = j;
        break;
      }
    }
    if (k == 0) break;
    word[n++] = letter(k);
    prev = k;
  }
  word[n] = '\0';
  tg_set_grad_enabled(tp, grad);
}

int main(int argc, char **argv) {
  const char *path = "/usr/share/dict/words";
  int steps = 1500;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--steps") && i + 1 < argc)
      steps = atoi(argv[++i]);
    else
      path = argv[i];
  }
  size_t len;
  char *text = read_words(path, &len);
  if (!text || len < 1000) {
    fprintf(stderr,
            "cannot read words from %s (Debian: apt-get install "
            "wamerican)\n",
            path);
    return 1;
  }
  tg_tape *tp = tg_tape_new();
  tg_rng rng;
  tg_rng_seed(&rng, 7);
  net m = {tg_params_new(), NULL, NULL, NULL};
  m.embed = tg_embedding_new(m.ps, tp, "embed", VOCAB, EMBED, TG_F32, &rng);
  m.lstm = tg_lstm_new(m.ps, tp, "lstm", EMBED, HIDDEN, TG_F32, &rng);
  m.head = tg_dense_new(m.ps, tp, "head", HIDDEN, VOCAB, TG_F32, &rng);
  tg_adam_opts adam = {3e-3, 0, 0, 0, 0};
  tg_optimizer *opt = tg_adam_new(m.ps, &adam);
  if (!m.embed || !m.lstm || !m.head || !opt) {
    fprintf(stderr, "setup failed: %s\n", tg_errmsg(tp));
    return 1;
  }
  printf("%zu characters of words; %lld parameters\n", len,
         (long long)tg_params_numel(m.ps));

  float in[BATCH * STEPS_T], target[BATCH * STEPS_T];
  int64_t sin_[2] = {BATCH, STEPS_T}, st[1] = {BATCH * STEPS_T};
  double running = 0;
  for (int step = 1; step <= steps; step++) {
    /* BATCH random windows of the stream; targets are shifted by one. */
    for (int b = 0; b < BATCH; b++) {
      size_t at = (size_t)(tg_rng_u64(&rng) % (len - STEPS_T - 1));
      for (int t = 0; t < STEPS_T; t++) {
        in[b * STEPS_T + t] = (float)code(text[at + t]);
        target[b * STEPS_T + t] = (float)code(text[at + t + 1]);
      }
    }
    tg_tensor *logits = forward(tp, &m, tg_from_buffer(tp, TG_F32, 2, sin_, in),
                                NULL, NULL, NULL, NULL);
    tg_tensor *loss = tg_cross_entropy(
        tp, logits, tg_from_buffer(tp, TG_F32, 1, st, target), TG_REDUCE_MEAN);
    if (tg_backward(tp, loss) != TG_OK) {
      fprintf(stderr, "step %d: %s\n", step, tg_errmsg(tp));
      return 1;
    }
    tg_clip_grad_norm(m.ps, 5.0);
    tg_optimizer_step(opt);
    tg_optimizer_zero_grad(opt);
    running += tg_item(loss);
    if (step % 100 == 0) {
      printf("step %4d: loss per character %.3f (uniform guessing: %.3f)\n",
             step, running / 100, log((double)VOCAB));
      running = 0;
    }
    tg_tape_reset(tp);
  }
  printf("new words:");
  for (int i = 0; i < 12; i++) {
    char word[16];
    sample_word(tp, &m, &rng, word, 12);
    printf(" %s", word);
    tg_tape_reset(tp);
  }
  printf("\n");
  tg_optimizer_free(opt);
  tg_layer_free(m.embed);
  tg_layer_free(m.lstm);
  tg_layer_free(m.head);
  tg_params_free(m.ps);
  tg_tape_free(tp);
  free(text);
  return 0;
}
