// Hand-written JavaScript baselines for the benchmark: what a careful Node
// developer would write without losskit. Typed arrays, one pass over the data
// where the maths allows it, float64 accumulation (JS numbers), no allocation
// inside the loops; the `...WithGrad` forms write into a caller-provided
// `gradOut` buffer when one is given, like losskit's hot-loop form.
//
// Semantics follow PyTorch (reduction 'mean', no class weights):
//   crossEntropy   max-subtracted log-sum-exp, ignoreIndex = -100
//   nllLoss        ignoreIndex = -100
//   klDiv          xlogy(t, t) - t * x   (0 · log 0 = 0), logTarget = false
//   binaryCrossEntropy            logs clamped at -100; grad uses PyTorch's
//                                 (x - t) / max(x (1 - x), 1e-12)
//   binaryCrossEntropyWithLogits  (1 - t) x - logsigmoid(x), the stable form
//                                 logsigmoid(x) = min(x, 0) - log1p(exp(-|x|))
//   mseLoss        (x - t)², grad 2 (x - t)
//   l1Loss         |x - t|, grad sign(x - t) (0 at x = t, as torch.sign)
//   huberLoss      delta 1: 0.5 d² for |d| < 1, |d| - 0.5 otherwise; grad clamp(d, -1, 1)
//   smoothL1Loss   beta 1: 0.5 d² for |d| < 1, |d| - 0.5 otherwise; grad clamp(d, -1, 1)
//                  (= huberLoss at delta = beta = 1)
//   gaussianNllLoss  0.5 (log v + (x - t)² / v), v = max(variance, 1e-6), full = false;
//                  variance shaped like the input; the clamp changes the value
//                  only, the variance gradient is 0.5 (1/v - d²/v²) everywhere
//   poissonNllLoss logInput = true, full = false: exp(x) - t x; grad exp(x) - t
//   marginRankingLoss, tripletMarginLoss, cosineEmbeddingLoss: see their section
//                  at the end (several inputs, a `grads` object like losskit's)
//
// Shapes: `logits` is a row-major (n, c) Float32Array, `target` an Int32Array
// of n class indices; the elementwise losses take two arrays of equal length.

const IGNORE_INDEX = -100
const BCE_EPSILON = 1e-12

function checkRows(name, logits, target, n, c) {
  if (logits.length !== n * c || target.length !== n) {
    throw new RangeError(`${name}: expected logits of ${n}×${c} and ${n} targets`)
  }
}

function checkTarget(name, t, c, i) {
  if (t < 0 || t >= c) throw new RangeError(`${name}: target[${i}] = ${t} is out of range for ${c} classes`)
}

/** Mean cross entropy with class-index targets. */
export function crossEntropy(logits, target, n, c) {
  checkRows('crossEntropy', logits, target, n, c)
  let total = 0
  let count = 0
  for (let i = 0, row = 0; i < n; i++, row += c) {
    const t = target[i]
    if (t === IGNORE_INDEX) continue
    checkTarget('crossEntropy', t, c, i)
    let m = -Infinity
    for (let j = row, end = row + c; j < end; j++) if (logits[j] > m) m = logits[j]
    let s = 0
    for (let j = row, end = row + c; j < end; j++) s += Math.exp(logits[j] - m)
    total += m + Math.log(s) - logits[row + t]
    count++
  }
  return total / count // all ignored → 0/0 = NaN, as PyTorch
}

/**
 * Mean cross entropy and d(loss)/d(logits). The exponentials of the second
 * pass are stored in the gradient buffer and rescaled in the third, so exp is
 * evaluated once per element.
 */
export function crossEntropyWithGrad(logits, target, n, c, gradOut) {
  checkRows('crossEntropy', logits, target, n, c)
  const grad = gradOut ?? new Float32Array(n * c)
  let count = 0
  for (let i = 0; i < n; i++) if (target[i] !== IGNORE_INDEX) count++
  const scale = 1 / count
  let total = 0
  for (let i = 0, row = 0; i < n; i++, row += c) {
    const t = target[i]
    const end = row + c
    if (t === IGNORE_INDEX) {
      grad.fill(0, row, end)
      continue
    }
    checkTarget('crossEntropy', t, c, i)
    let m = -Infinity
    for (let j = row; j < end; j++) if (logits[j] > m) m = logits[j]
    let s = 0
    for (let j = row; j < end; j++) {
      const e = Math.exp(logits[j] - m)
      grad[j] = e
      s += e
    }
    total += m + Math.log(s) - logits[row + t]
    const k = scale / s
    for (let j = row; j < end; j++) grad[j] *= k
    grad[row + t] -= scale
  }
  return { loss: total / count, grad }
}

/** Mean negative log likelihood of log-probabilities `logp` (n, c). */
export function nllLoss(logp, target, n, c) {
  checkRows('nllLoss', logp, target, n, c)
  let total = 0
  let count = 0
  for (let i = 0; i < n; i++) {
    const t = target[i]
    if (t === IGNORE_INDEX) continue
    checkTarget('nllLoss', t, c, i)
    total -= logp[i * c + t]
    count++
  }
  return total / count
}

export function nllLossWithGrad(logp, target, n, c, gradOut) {
  checkRows('nllLoss', logp, target, n, c)
  const grad = gradOut ?? new Float32Array(n * c)
  if (gradOut) grad.fill(0)
  let total = 0
  let count = 0
  for (let i = 0; i < n; i++) {
    const t = target[i]
    if (t === IGNORE_INDEX) continue
    checkTarget('nllLoss', t, c, i)
    total -= logp[i * c + t]
    count++
  }
  const g = -1 / count
  for (let i = 0; i < n; i++) {
    const t = target[i]
    if (t !== IGNORE_INDEX) grad[i * c + t] = g
  }
  return { loss: total / count, grad }
}

// xlogy(t, t): 0 for t = 0, NaN for t < 0 or NaN, t·log t otherwise.
function xlogx(t) {
  return t > 0 ? t * Math.log(t) : t === 0 ? 0 : Number.NaN
}

/** Mean KL divergence, `input` = log-probabilities, `target` = probabilities. */
export function klDiv(input, target) {
  const n = input.length
  let total = 0
  for (let i = 0; i < n; i++) {
    const t = target[i]
    total += xlogx(t) - t * input[i]
  }
  return total / n
}

export function klDivWithGrad(input, target, gradOut) {
  const n = input.length
  const grad = gradOut ?? new Float32Array(n)
  const k = -1 / n
  let total = 0
  for (let i = 0; i < n; i++) {
    const t = target[i]
    total += xlogx(t) - t * input[i]
    grad[i] = k * t
  }
  return { loss: total / n, grad }
}

function clampedLog(v) {
  const l = Math.log(v)
  return Math.max(l, -100) // PyTorch clamps BCE's logs at -100 (log 0 = -inf)
}

/** Mean binary cross entropy of probabilities `input` in [0, 1]. */
export function binaryCrossEntropy(input, target) {
  const n = input.length
  let total = 0
  for (let i = 0; i < n; i++) {
    const x = input[i]
    const t = target[i]
    total -= t * clampedLog(x) + (1 - t) * clampedLog(1 - x)
  }
  return total / n
}

export function binaryCrossEntropyWithGrad(input, target, gradOut) {
  const n = input.length
  const grad = gradOut ?? new Float32Array(n)
  const k = 1 / n
  let total = 0
  for (let i = 0; i < n; i++) {
    const x = input[i]
    const t = target[i]
    total -= t * clampedLog(x) + (1 - t) * clampedLog(1 - x)
    const d = x * (1 - x)
    grad[i] = (k * (x - t)) / Math.max(d, BCE_EPSILON)
  }
  return { loss: total / n, grad }
}

/** Mean binary cross entropy of logits. */
export function binaryCrossEntropyWithLogits(input, target) {
  const n = input.length
  let total = 0
  for (let i = 0; i < n; i++) {
    const x = input[i]
    // (1 - t) x - logsigmoid(x), logsigmoid(x) = min(x, 0) - log1p(exp(-|x|))
    total += (1 - target[i]) * x - Math.min(x, 0) + Math.log1p(Math.exp(-Math.abs(x)))
  }
  return total / n
}

export function binaryCrossEntropyWithLogitsWithGrad(input, target, gradOut) {
  const n = input.length
  const grad = gradOut ?? new Float32Array(n)
  const k = 1 / n
  let total = 0
  for (let i = 0; i < n; i++) {
    const x = input[i]
    const t = target[i]
    const e = Math.exp(-Math.abs(x)) // one exp serves the loss and sigmoid(x)
    total += (1 - t) * x - Math.min(x, 0) + Math.log1p(e)
    const sig = x >= 0 ? 1 / (1 + e) : e / (1 + e)
    grad[i] = k * (sig - t)
  }
  return { loss: total / n, grad }
}

/** Mean squared error. */
export function mseLoss(input, target) {
  const n = input.length
  let total = 0
  for (let i = 0; i < n; i++) {
    const d = input[i] - target[i]
    total += d * d
  }
  return total / n
}

export function mseLossWithGrad(input, target, gradOut) {
  const n = input.length
  const grad = gradOut ?? new Float32Array(n)
  const k = 2 / n
  let total = 0
  for (let i = 0; i < n; i++) {
    const d = input[i] - target[i]
    total += d * d
    grad[i] = k * d
  }
  return { loss: total / n, grad }
}

/** Mean absolute error. */
export function l1Loss(input, target) {
  const n = input.length
  let total = 0
  for (let i = 0; i < n; i++) total += Math.abs(input[i] - target[i])
  return total / n
}

export function l1LossWithGrad(input, target, gradOut) {
  const n = input.length
  const grad = gradOut ?? new Float32Array(n)
  const k = 1 / n
  let total = 0
  for (let i = 0; i < n; i++) {
    const d = input[i] - target[i]
    total += Math.abs(d)
    grad[i] = d > 0 ? k : d < 0 ? -k : d === 0 ? 0 : Number.NaN
  }
  return { loss: total / n, grad }
}

/** Mean Huber loss, delta = 1. */
export function huberLoss(input, target) {
  const n = input.length
  let total = 0
  for (let i = 0; i < n; i++) {
    const a = Math.abs(input[i] - target[i])
    total += a < 1 ? 0.5 * a * a : a - 0.5
  }
  return total / n
}

export function huberLossWithGrad(input, target, gradOut) {
  const n = input.length
  const grad = gradOut ?? new Float32Array(n)
  const k = 1 / n
  let total = 0
  for (let i = 0; i < n; i++) {
    const d = input[i] - target[i]
    const a = Math.abs(d)
    total += a < 1 ? 0.5 * a * a : a - 0.5
    grad[i] = k * Math.min(1, Math.max(d, -1)) // clamp(d, -1, 1)
  }
  return { loss: total / n, grad }
}

/** Mean smooth L1 loss, beta = 1. */
export function smoothL1Loss(input, target) {
  const n = input.length
  let total = 0
  for (let i = 0; i < n; i++) {
    const a = Math.abs(input[i] - target[i])
    total += a < 1 ? 0.5 * a * a : a - 0.5
  }
  return total / n
}

export function smoothL1LossWithGrad(input, target, gradOut) {
  const n = input.length
  const grad = gradOut ?? new Float32Array(n)
  const k = 1 / n
  let total = 0
  for (let i = 0; i < n; i++) {
    const d = input[i] - target[i]
    const a = Math.abs(d)
    total += a < 1 ? 0.5 * a * a : a - 0.5
    grad[i] = k * Math.min(1, Math.max(d, -1)) // clamp(d, -1, 1) = d / beta inside, sign(d) outside
  }
  return { loss: total / n, grad }
}

const GAUSSIAN_EPS = 1e-6

/** Mean Gaussian negative log-likelihood, `variance` shaped like the input. */
export function gaussianNllLoss(input, target, variance) {
  const n = input.length
  let total = 0
  for (let i = 0; i < n; i++) {
    const v = Math.max(variance[i], GAUSSIAN_EPS)
    const d = input[i] - target[i]
    total += Math.log(v) + (d * d) / v
  }
  return (0.5 * total) / n
}

/** Returns { loss, grads: { input, variance } }; `gradOut` = { input, variance } buffers. */
export function gaussianNllLossWithGrad(input, target, variance, gradOut) {
  const n = input.length
  const gi = gradOut?.input ?? new Float32Array(n)
  const gv = gradOut?.variance ?? new Float32Array(n)
  const k = 1 / n
  const h = 0.5 / n
  let total = 0
  for (let i = 0; i < n; i++) {
    const v = Math.max(variance[i], GAUSSIAN_EPS)
    const r = 1 / v
    const d = input[i] - target[i]
    const q = d * r // (x - t) / v
    total += Math.log(v) + d * q
    gi[i] = k * q
    gv[i] = h * (r - q * q)
  }
  return { loss: (0.5 * total) / n, grads: { input: gi, variance: gv } }
}

/** Mean Poisson negative log-likelihood, the input holding log-rates (logInput = true, full = false). */
export function poissonNllLoss(input, target) {
  const n = input.length
  let total = 0
  for (let i = 0; i < n; i++) {
    const x = input[i]
    total += Math.exp(x) - target[i] * x
  }
  return total / n
}

export function poissonNllLossWithGrad(input, target, gradOut) {
  const n = input.length
  const grad = gradOut ?? new Float32Array(n)
  const k = 1 / n
  let total = 0
  for (let i = 0; i < n; i++) {
    const x = input[i]
    const t = target[i]
    const e = Math.exp(x) // one exp serves the loss and the gradient
    total += e - t * x
    grad[i] = k * (e - t)
  }
  return { loss: total / n, grad }
}

// ---- pairwise and row losses (several differentiable tensors, `grads` objects)
//
//   marginRankingLoss    max(0, −y (x1 − x2) + margin), y = ±1; grads −y·open and +y·open
//   tripletMarginLoss    rows (n, dim): max(0, margin + d(a, p) − d(a, n)), d(u, v) = ‖u − v + eps‖₂
//                        (F.pairwise_distance, p = 2, eps = 1e-6), mean over the rows
//   cosineEmbeddingLoss  rows (n, dim), target (n) of ±1: cos = Σx1x2 / sqrt((Σx1² + 1e-12)(Σx2² + 1e-12));
//                        1 − cos where y = 1, max(0, cos − margin) where y = −1, 0 otherwise
// As PyTorch's clamp_min, the hinge passes its gradient where its input is >= 0.

function checkSame(name, ...arrays) {
  for (const a of arrays) {
    if (a.length !== arrays[0].length) throw new RangeError(`${name}: tensors of different lengths`)
  }
}

/** Mean margin ranking loss. */
export function marginRankingLoss(input1, input2, target, margin = 0) {
  checkSame('marginRankingLoss', input1, input2, target)
  const n = input1.length
  let total = 0
  for (let i = 0; i < n; i++) {
    const z = margin - target[i] * (input1[i] - input2[i])
    total += 0.5 * (z + Math.abs(z)) // max(0, z) without a branch (random signs mispredict)
  }
  return total / n
}

/** Returns { loss, grads: { input1, input2 } }; `gradOut` = { input1, input2 } buffers. */
export function marginRankingLossWithGrad(input1, input2, target, margin = 0, gradOut) {
  checkSame('marginRankingLoss', input1, input2, target)
  const n = input1.length
  const g1 = gradOut?.input1 ?? new Float32Array(n)
  const g2 = gradOut?.input2 ?? new Float32Array(n)
  const k = 1 / n
  let total = 0
  for (let i = 0; i < n; i++) {
    const y = target[i]
    const z = margin - y * (input1[i] - input2[i])
    // branch-free: max(0, z) = (z + |z|)/2 exactly, and the 0/1 factor from a
    // comparison (a ?: on random data mispredicts half the time, 2× slower)
    total += 0.5 * (z + Math.abs(z))
    const g = k * y * +(z >= 0)
    g1[i] = -g
    g2[i] = g
  }
  return { loss: total / n, grads: { input1: g1, input2: g2 } }
}

const TRIPLET_EPS = 1e-6

function checkRowsOf(name, n, dim, ...arrays) {
  for (const a of arrays) {
    if (a.length !== n * dim) throw new RangeError(`${name}: expected tensors of ${n}×${dim}`)
  }
}

/** Mean triplet margin loss over n rows of dim (p = 2, eps = 1e-6, no swap). */
export function tripletMarginLoss(anchor, positive, negative, n, dim, margin = 1) {
  checkRowsOf('tripletMarginLoss', n, dim, anchor, positive, negative)
  const eps = TRIPLET_EPS
  let total = 0
  for (let i = 0, row = 0; i < n; i++, row += dim) {
    let sp = 0
    let sn = 0
    for (let j = row, end = row + dim; j < end; j++) {
      const a = anchor[j]
      const dp = a - positive[j] + eps
      const dn = a - negative[j] + eps
      sp += dp * dp
      sn += dn * dn
    }
    total += Math.max(0, margin + Math.sqrt(sp) - Math.sqrt(sn))
  }
  return total / n
}

/**
 * Returns { loss, grads: { anchor, positive, negative } }; `gradOut` = the
 * three buffers. Per row: one pass for the two distances, one to write the
 * gradients (u = a − p + eps, v = a − n + eps): ∂a = u/‖u‖ − v/‖v‖, ∂p = −u/‖u‖,
 * ∂n = v/‖v‖ (a zero norm contributes 0, as autograd's norm), scaled by 1/n
 * where the hinge is open, 0 elsewhere.
 */
export function tripletMarginLossWithGrad(anchor, positive, negative, n, dim, margin = 1, gradOut) {
  checkRowsOf('tripletMarginLoss', n, dim, anchor, positive, negative)
  const m = n * dim
  const ga = gradOut?.anchor ?? new Float32Array(m)
  const gp = gradOut?.positive ?? new Float32Array(m)
  const gn = gradOut?.negative ?? new Float32Array(m)
  const eps = TRIPLET_EPS
  const k = 1 / n
  let total = 0
  for (let i = 0, row = 0; i < n; i++, row += dim) {
    const end = row + dim
    let sp = 0
    let sn = 0
    for (let j = row; j < end; j++) {
      const a = anchor[j]
      const dp = a - positive[j] + eps
      const dn = a - negative[j] + eps
      sp += dp * dp
      sn += dn * dn
    }
    const dap = Math.sqrt(sp)
    const dan = Math.sqrt(sn)
    const z = margin + dap - dan
    total += Math.max(0, z)
    if (z >= 0) {
      const cp = dap > 0 ? k / dap : 0
      const cn = dan > 0 ? k / dan : 0
      for (let j = row; j < end; j++) {
        const a = anchor[j]
        const up = cp * (a - positive[j] + eps)
        const un = cn * (a - negative[j] + eps)
        ga[j] = up - un
        gp[j] = -up
        gn[j] = un
      }
    } else {
      ga.fill(0, row, end)
      gp.fill(0, row, end)
      gn.fill(0, row, end)
    }
  }
  return { loss: total / n, grads: { anchor: ga, positive: gp, negative: gn } }
}

const COSINE_EPS = 1e-12

/** Mean cosine embedding loss over n rows of dim, target of n values ±1. */
export function cosineEmbeddingLoss(input1, input2, target, n, dim, margin = 0) {
  checkRowsOf('cosineEmbeddingLoss', n, dim, input1, input2)
  if (target.length !== n) throw new RangeError(`cosineEmbeddingLoss: expected ${n} targets`)
  let total = 0
  for (let i = 0, row = 0; i < n; i++, row += dim) {
    let s12 = 0
    let s11 = 0
    let s22 = 0
    for (let j = row, end = row + dim; j < end; j++) {
      const a = input1[j]
      const b = input2[j]
      s12 += a * b
      s11 += a * a
      s22 += b * b
    }
    const cos = s12 / Math.sqrt((s11 + COSINE_EPS) * (s22 + COSINE_EPS))
    const y = target[i]
    total += y === 1 ? 1 - cos : y === -1 ? Math.max(0, cos - margin) : 0
  }
  return total / n
}

/**
 * Returns { loss, grads: { input1, input2 } }; `gradOut` = the two buffers.
 * ∂cos/∂x1 = x2/den − cos·x1/m1, ∂cos/∂x2 = x1/den − cos·x2/m2 with
 * m = Σx² + 1e-12 and den = sqrt(m1·m2); the row's factor is −1/n for y = 1,
 * +1/n for y = −1 with cos − margin >= 0, 0 otherwise.
 */
export function cosineEmbeddingLossWithGrad(input1, input2, target, n, dim, margin = 0, gradOut) {
  checkRowsOf('cosineEmbeddingLoss', n, dim, input1, input2)
  if (target.length !== n) throw new RangeError(`cosineEmbeddingLoss: expected ${n} targets`)
  const m = n * dim
  const g1 = gradOut?.input1 ?? new Float32Array(m)
  const g2 = gradOut?.input2 ?? new Float32Array(m)
  const k = 1 / n
  let total = 0
  for (let i = 0, row = 0; i < n; i++, row += dim) {
    const end = row + dim
    let s12 = 0
    let s11 = 0
    let s22 = 0
    for (let j = row; j < end; j++) {
      const a = input1[j]
      const b = input2[j]
      s12 += a * b
      s11 += a * a
      s22 += b * b
    }
    const m1 = s11 + COSINE_EPS
    const m2 = s22 + COSINE_EPS
    const rden = 1 / Math.sqrt(m1 * m2)
    const cos = s12 * rden
    const y = target[i]
    let f = 0
    if (y === 1) {
      total += 1 - cos
      f = -k
    } else if (y === -1) {
      const z = cos - margin
      total += Math.max(0, z)
      f = z >= 0 ? k : 0
    }
    if (f === 0) {
      g1.fill(0, row, end)
      g2.fill(0, row, end)
      continue
    }
    const c12 = f * rden
    const c1 = (f * cos) / m1
    const c2 = (f * cos) / m2
    for (let j = row; j < end; j++) {
      const a = input1[j]
      const b = input2[j]
      g1[j] = c12 * b - c1 * a
      g2[j] = c12 * a - c2 * b
    }
  }
  return { loss: total / n, grads: { input1: g1, input2: g2 } }
}
