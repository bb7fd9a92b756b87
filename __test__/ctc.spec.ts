// CTC beyond the fixtures: results bit-identical for any thread count, and the
// probability-domain recursion against a plain log-space CTC (PyTorch's
// algorithm, written here in JS in float64) on long sequences, where an
// accumulating rescaling error would show.

import test from 'ava'
import { ctcLoss, ctcLossWithGrad, getNumThreads, logSoftmax, setNumThreads, tensor } from 'losskit'
import { assertClose, Rng } from './_util.js'

function logProbs(rng: Rng, t: number, n: number, c: number, spread: number): Float64Array {
  const raw = Float64Array.from(rng.normals(t * n * c), (v) => v * spread)
  return (logSoftmax(tensor(raw, [t, n, c])) as { data: Float64Array }).data
}

/** −ln P of one sample by the log-space recursion (PyTorch's forward), in float64. */
function referenceNll(lp: Float64Array, n: number, c: number, b: number, tl: number, target: number[], blank: number): number {
  const ext = [blank]
  for (const k of target) ext.push(k, blank)
  const sl = ext.length
  const at = (t: number, k: number) => lp[(t * n + b) * c + k]
  const lse = (xs: number[]) => {
    const m = Math.max(...xs)
    return m === Number.NEGATIVE_INFINITY ? m : m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0))
  }
  let prev = new Array(sl).fill(Number.NEGATIVE_INFINITY)
  prev[0] = at(0, blank)
  if (sl > 1) prev[1] = at(0, ext[1])
  for (let t = 1; t < tl; t++) {
    const cur = new Array(sl).fill(Number.NEGATIVE_INFINITY)
    for (let s = 0; s < sl; s++) {
      const terms = [prev[s]]
      if (s > 0) terms.push(prev[s - 1])
      if (s > 1 && ext[s] !== ext[s - 2]) terms.push(prev[s - 2])
      const v = lse(terms)
      cur[s] = v === Number.NEGATIVE_INFINITY ? v : v + at(t, ext[s])
    }
    prev = cur
  }
  return -(sl > 1 ? lse([prev[sl - 1], prev[sl - 2]]) : prev[0])
}

test('long sequences: the rescaled recursion matches the log-space one to 1e-10 relative (T up to 3000)', (t) => {
  const rng = new Rng(97)
  for (const [T, N, C, S, spread] of [
    [3000, 2, 12, 200, 3],
    [1500, 3, 30, 400, 6],
    [800, 2, 8, 40, 12],
  ]) {
    const lp = logProbs(rng, T, N, C, spread)
    const targets = Int32Array.from({ length: N * S }, () => 1 + Math.floor(rng.uniform(0, C - 1)))
    const lengths = Int32Array.from({ length: N }, (_, b) => T - 7 * b)
    const tlen = Int32Array.from({ length: N }, (_, b) => S - 3 * b)
    const got = ctcLoss(tensor(lp, [T, N, C]), tensor(targets, [N, S]), lengths, tlen, { reduction: 'none' }) as { data: Float64Array }
    for (let b = 0; b < N; b++) {
      const tg = Array.from(targets.subarray(b * S, b * S + tlen[b]))
      const want = referenceNll(lp, N, C, b, lengths[b], tg, 0)
      assertClose(t, got.data[b], want, { rtol: 1e-10, atol: 1e-12, label: `(T ${T}, S ${S}, spread ${spread}) sample ${b}` })
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
