/* tapegrad: reverse-mode automatic differentiation on a dynamic tape.
 * The one header to include. */
// clang-format off
#ifndef TAPEGRAD_H
#define TAPEGRAD_H

#include "tapegrad/error.h"
#include "tapegrad/rng.h"
#include "tapegrad/tensor.h"
#include "tapegrad/tape.h"
#include "tapegrad/ops.h"
#include "tapegrad/nn.h"
#include "tapegrad/params.h"
#include "tapegrad/optim.h"
#include "tapegrad/layers.h"
#include "tapegrad/io.h"
#include "tapegrad/model.h"
#include "tapegrad/dist.h"
#include "tapegrad/viz.h"
#include "tapegrad/custom.h"
#include "tapegrad/check.h"

// clang-format on
#define TG_VERSION "0.1.0"

#endif
