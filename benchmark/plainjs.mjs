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
