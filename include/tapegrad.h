/* tapegrad: reverse-mode automatic differentiation on a dynamic tape.
 * The one header to include. */
#ifndef TAPEGRAD_H
#define TAPEGRAD_H

#include "tapegrad/error.h"
#include "tapegrad/ops.h"
#include "tapegrad/rng.h"
#include "tapegrad/tape.h"
#include "tapegrad/tensor.h"

#define TG_VERSION "0.1.0"

#endif
