// CTC beyond the fixtures: results bit-identical for any thread count, and the
// extended-exponent recursion against a plain log-space CTC (PyTorch's
// algorithm, written here in JS in float64) on long sequences, where an
// accumulating error would show, and on log-probabilities past f64's exp range.

import test from 'ava'
import { ctcLoss, ctcLossWithGrad, getNumThreads, logSoftmax, setNumThreads, tensor } from 'losskit'
import { assertClose, Rng } from './_util.js'

function logProbs(rng: Rng, t: number, n: number, c: number, spread: number): Float64Array {
  const raw = Float64Array.from(rng.normals(t * n * c), (v) => v * spread)
  return (logSoftmax(tensor(raw, [t, n, c])) as { data: Float64Array }).data
}

const lse = (xs: number[]) => {
  const m = Math.max(...xs)
  return m === Number.NEGATIVE_INFINITY ? m : m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0))
}

/**
 * One sample by the log-space recursions (PyTorch's algorithm), in float64:
 * −ln P and, with `withGrad`, ∂(−ln P)/∂lp as PyTorch's formula gives it
 * (`e^lp − Σ_{s: l'(s) = k} α_t(s)β_t(s) / (P·e^lp)`), `grad[t·C + k]`.
 */
function reference(lp: Float64Array, n: number, c: number, b: number, tl: number, target: number[], blank: number, withGrad = false) {
  const ext = [blank]
  for (const k of target) ext.push(k, blank)
  const sl = ext.length
  const at = (t: number, k: number) => lp[(t * n + b) * c + k]
  const jumps = (s: number) => s > 1 && ext[s] !== ext[s - 2]
  const alpha: number[][] = []
  let prev = new Array(sl).fill(Number.NEGATIVE_INFINITY)
  prev[0] = at(0, blank)
  if (sl > 1) prev[1] = at(0, ext[1])
  alpha.push(prev)
  for (let t = 1; t < tl; t++) {
    const cur = new Array(sl).fill(Number.NEGATIVE_INFINITY)
    for (let s = 0; s < sl; s++) {
      const terms = [prev[s]]
      if (s > 0) terms.push(prev[s - 1])
      if (jumps(s)) terms.push(prev[s - 2])
      const v = lse(terms)
      cur[s] = v === Number.NEGATIVE_INFINITY ? v : v + at(t, ext[s])
    }
    prev = cur
    alpha.push(cur)
  }
  const nll = -(sl > 1 ? lse([prev[sl - 1], prev[sl - 2]]) : prev[0])
  if (!withGrad) return { nll, grad: new Float64Array(0) }
  const grad = new Float64Array(tl * c)
  let next: number[] = []
  for (let t = tl - 1; t >= 0; t--) {
    const beta = new Array(sl).fill(Number.NEGATIVE_INFINITY)
    if (t === tl - 1) {
      beta[sl - 1] = at(t, blank)
      if (sl > 1) beta[sl - 2] = at(t, ext[sl - 2])
    } else {
      for (let s = 0; s < sl; s++) {
        const terms = [next[s]]
        if (s + 1 < sl) terms.push(next[s + 1])
        if (s + 2 < sl && jumps(s + 2)) terms.push(next[s + 2])
        const v = lse(terms)
        beta[s] = v === Number.NEGATIVE_INFINITY ? v : v + at(t, ext[s])
      }
    }
    next = beta
    for (let k = 0; k < c; k++) {
      const terms: number[] = []
      for (let s = 0; s < sl; s++) if (ext[s] === k) terms.push(alpha[t][s] + beta[s])
      const lcab = terms.length ? lse(terms) : Number.NEGATIVE_INFINITY
      grad[t * c + k] = Math.exp(at(t, k)) - Math.exp(lcab + nll - at(t, k))
    }
  }
  return { nll, grad }
}

test('long sequences and wide ranges: the extended-exponent recursion matches the log-space one (loss to 1e-10 relative, T up to 3000; gradient to 1e-9 relative + 1e-10 absolute)', (t) => {
  const rng = new Rng(97)
  // [T, N, C, S, spread of the logits, check the gradient]; spread 200 gives
  // log-probabilities down to about −1000, past f64's exp range.
  for (const [T, N, C, S, spread, withGrad] of [
    [3000, 2, 12, 200, 3, 0],
    [1500, 3, 30, 400, 6, 0],
    [800, 2, 8, 40, 12, 1],
    [300, 2, 6, 30, 200, 1],
    [120, 2, 40, 50, 1, 1],
  ]) {
    const lp = logProbs(rng, T, N, C, spread)
    const targets = Int32Array.from({ length: N * S }, () => 1 + Math.floor(rng.uniform(0, C - 1)))
    const lengths = Int32Array.from({ length: N }, (_, b) => T - 7 * b)
    const tlen = Int32Array.from({ length: N }, (_, b) => S - 3 * b)
    const args = [tensor(lp, [T, N, C]), tensor(targets, [N, S]), lengths, tlen] as const
    const got = ctcLoss(...args, { reduction: 'none' }) as { data: Float64Array }
    const g = withGrad ? (ctcLossWithGrad(...args, { reduction: 'sum' }) as { grad: { data: Float64Array } }).grad.data : null
    for (let b = 0; b < N; b++) {
      const tg = Array.from(targets.subarray(b * S, b * S + tlen[b]))
      const want = reference(lp, N, C, b, lengths[b], tg, 0, withGrad === 1)
      const label = `(T ${T}, S ${S}, spread ${spread}) sample ${b}`
      t.true(Number.isFinite(want.nll), label)
      assertClose(t, got.data[b], want.nll, { rtol: 1e-10, atol: 1e-12, label })
      if (g) {
        const mine = new Float64Array(lengths[b] * C)
        for (let i = 0; i < mine.length; i++) mine[i] = g[(Math.floor(i / C) * N + b) * C + (i % C)]
        // Gradient entries are differences of two terms in [0, 1]; the log-space
        // reference carries log α down to about −1e4 over T steps, whose ulp
        // (~2e-12) accumulates: hence an absolute floor of 1e-10.
        assertClose(t, mine, want.grad, { rtol: 1e-9, atol: 1e-10, label: `${label} gradient` })
      }
    }
  }
})

test('identical bits for 1, 2 and 3 threads (loss and gradient), batches of many samples', (t) => {
  const rng = new Rng(5)
  const [T, N, C, S] = [120, 40, 15, 30]
  const lp = Float32Array.from(logProbs(rng, T, N, C, 2))
  const targets = Int32Array.from({ length: N * S }, () => 1 + Math.floor(rng.uniform(0, C - 1)))
  const lengths = Int32Array.from({ length: N }, (_, b) => T - (b % 9))
  const tlen = Int32Array.from({ length: N }, (_, b) => S - (b % 7))
  const before = getNumThreads()
  const runs: string[] = []
  try {
    for (const threads of [1, 2, 3]) {
      setNumThreads(threads)
      for (const reduction of ['mean', 'sum', 'none'] as const) {
        const r = ctcLossWithGrad(tensor(lp, [T, N, C]), tensor(targets, [N, S]), lengths, tlen, { reduction }) as {
          loss: number | { data: Float32Array }
          grad: { data: Float32Array }
        }
        const loss = typeof r.loss === 'number' ? Float64Array.of(r.loss) : r.loss.data
        runs.push(`${reduction}:${Buffer.from(loss.buffer).toString('hex')}:${Buffer.from(r.grad.data.buffer).toString('base64')}`)
      }
    }
  } finally {
    setNumThreads(before)
  }
  t.is(runs[0], runs[3])
  t.is(runs[0], runs[6])
  t.is(runs[1], runs[4])
  t.is(runs[2], runs[8])
})
