/* Learning-rate schedules: the rate for step (or epoch) t.
 *
 * A negative t counts as 0. NULL, an unknown kind, a step schedule with
 * step_size <= 0 and a cosine schedule with t_max <= 0 give NaN. */
#include <math.h>

#include "tapegrad/optim.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

double tg_schedule_lr(const tg_schedule *s, int64_t t) {
  if (!s) return NAN;
  if (t < 0) t = 0;
  switch (s->kind) {
  case TG_SCHEDULE_CONSTANT: return s->lr0;
  case TG_SCHEDULE_STEP:
    if (s->step_size <= 0) return NAN;
    return s->lr0 * pow(s->gamma, (double)(t / s->step_size));
  case TG_SCHEDULE_EXPONENTIAL: return s->lr0 * pow(s->gamma, (double)t);
  case TG_SCHEDULE_COSINE:
    if (s->t_max <= 0) return NAN;
    if (t > s->t_max) t = s->t_max;
    return s->lr_min + (s->lr0 - s->lr_min) *
                           (1.0 + cos(M_PI * (double)t / (double)s->t_max)) /
                           2.0;
  }
  return NAN;
}
