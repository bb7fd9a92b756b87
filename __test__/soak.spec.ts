// Soak: 10^6 small calls (crossEntropy on (32, 10) float32, mixed with other
// small losses, helpers and calls that throw) and 10^3 large ones ((256, 4096)
// crossEntropyWithGrad into a reused gradOut, a 1M-element BCE-with-logits with
// grad), plus a batch of async calls; RSS must not keep growing after warm-up.

import test from 'ava'
import * as L from 'losskit'
import * as A from 'losskit/async'

// biome-ignore lint/suspicious/noExplicitAny: loose calls
type Any = any

const MB = 2 ** 20
const gc = (globalThis as { gc?: () => void }).gc
const rss = () => {
  gc?.()
  return process.memoryUsage().rss
}

function inputs() {
  const sin = (n: number, k = 1) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 * k) * 3)
  const x = { data: sin(320), shape: [32, 10] }
  const targets = Array.from({ length: 8 }, (_, j) => Int32Array.from({ length: 32 }, (_, i) => (i * 7 + j) % 10))
  const t64 = BigInt64Array.from(targets[0], BigInt)
  const lsm = L.logSoftmax(x, { dim: 1 }) as Any
  const probs = L.softmax({ data: sin(320, 2), shape: [32, 10] }, { dim: 1 }) as Any
  const p01 = { data: Float32Array.from(sin(320), (v) => 1 / (1 + Math.exp(-v))), shape: [32, 10] }
  const y01 = { data: Float32Array.from({ length: 320 }, (_, i) => (i % 3 === 0 ? 1 : 0)), shape: [32, 10] }
  const w = Float32Array.from({ length: 10 }, (_, i) => 0.5 + i / 10)
  const smallGrad = new Float32Array(320)
  const smallOut = new Float32Array(32)
  const big = { data: sin(256 * 4096), shape: [256, 4096] }
  const bigT = Int32Array.from({ length: 256 }, (_, i) => (i * 7919) % 4096)
  const bigGrad = new Float32Array(256 * 4096)
  const lx = sin(1 << 20, 3)
  const lt = Float32Array.from({ length: 1 << 20 }, (_, i) => (i % 5) / 4)
  const lg = new Float32Array(1 << 20)
  return { x, targets, t64, lsm, probs, p01, y01, w, smallGrad, smallOut, big, bigT, bigGrad, lx, lt, lg }
}

/** One small call; `i` picks which. Returns a number to keep the results alive in a checksum. */
function small(d: ReturnType<typeof inputs>, i: number): number {
  const k = i % 100
  if (k < 85) return L.crossEntropy(d.x, d.targets[i & 7]) as number
  switch (k) {
    case 85:
      return L.crossEntropy(d.x, d.t64, { weight: d.w, labelSmoothing: 0.1 }) as number
    case 86:
      return (L.crossEntropyWithGrad(d.x, d.targets[0], { gradOut: d.smallGrad }) as Any).loss
    case 87:
      return (L.crossEntropy(d.x, d.targets[1], { reduction: 'none', out: d.smallOut }) as Any).data[0]
    case 88:
      return L.nllLoss(d.lsm, d.targets[2]) as number
    case 89:
      return L.klDiv(d.lsm, d.probs, { reduction: 'batchmean' }) as number
    case 90:
      return L.binaryCrossEntropy(d.p01, d.y01) as number
    case 91:
      return L.binaryCrossEntropyWithLogits(d.x, d.y01, { posWeight: d.w }) as number
    case 92:
      return (L.binaryCrossEntropyWithLogitsWithGrad(d.x, d.y01) as Any).grad.data[0]
    case 93:
      return (L.softmax(d.x) as Any).data[0]
    case 94:
      return (L.entropy(d.probs) as Any).data[0]
    case 95:
      return (new L.CrossEntropyLoss({ reduction: 'sum' }).forwardWithGrad(d.x, d.targets[3]) as Any).loss
    case 96:
      return (L.sigmoid(d.x.data) as Any).data[1]
    // calls that throw: in the JS layer and in the kernel (class index out of range)
    case 97:
      try {
        L.crossEntropy(d.x, d.targets[0], { reduction: 'avg' as Any })
      } catch (e) {
        return (e as Error).message.length
      }
      return Number.NaN
    case 98:
      try {
        L.crossEntropy(
          d.x,
          Int32Array.from({ length: 32 }, () => 10),
        )
      } catch (e) {
        return (e as Error).message.length
      }
      return Number.NaN
    default:
      try {
        L.binaryCrossEntropy(d.x, d.y01)
      } catch (e) {
        return (e as Error).message.length
      }
      return Number.NaN
  }
}

function large(d: ReturnType<typeof inputs>, i: number): number {
  if (i % 2 === 0) return (L.crossEntropyWithGrad(d.big, d.bigT, { gradOut: d.bigGrad }) as Any).loss
  return (L.binaryCrossEntropyWithLogitsWithGrad(d.lx, d.lt, { gradOut: d.lg }) as Any).loss
}

/** `n` batches of 100 concurrent small async calls (some with grads, some rejecting), a large one every other batch. */
async function asyncBatches(d: ReturnType<typeof inputs>, n: number): Promise<number> {
  let sum = 0
  for (let b = 0; b < n; b++) {
    const batch: Promise<unknown>[] = []
    for (let k = 0; k < 100; k++) {
      batch.push(
        k % 10 === 0
          ? A.crossEntropyWithGrad(d.x, d.targets[k & 7], { gradOut: new Float32Array(320) })
          : k % 10 === 1
            ? A.crossEntropy(
                d.x,
                Int32Array.from({ length: 32 }, () => 11),
              ).catch((e: Error) => e)
            : A.crossEntropy(d.x, d.targets[k & 7]),
      )
    }
    await Promise.all(batch)
    if (b % 2 === 0) sum += ((await A.crossEntropyWithGrad(d.big, d.bigT, { gradOut: d.bigGrad })) as Any).loss
  }
  return sum
}

test('soak: 10^6 small and 10^3 large calls (and 2·10^4 async ones) without RSS growth after warm-up', async (t) => {
  const t0 = performance.now()
  const start = rss()
  const d = inputs()
  let sum = 0

  // warm-up: every code path, a few times
  for (let i = 0; i < 20_000; i++) sum += small(d, i)
  for (let i = 0; i < 40; i++) sum += large(d, i)
  // async warm-up in the same pattern as the async soak below (so that every libuv
  // worker thread has run kernels and allocated its malloc arena)
  sum += await asyncBatches(d, 20)
  const afterWarmup = rss()

  const samples: number[] = []
  let peak = afterWarmup
  const SMALL = 1_000_000
  const LARGE = 1_000
  // interleave: one large call per 1000 small ones
  for (let i = 0; i < SMALL; i++) {
    sum += small(d, i)
    if (i % 1000 === 999) sum += large(d, i / 1000)
    if (i % 100_000 === 99_999) {
      const r = rss()
      samples.push(r)
      peak = Math.max(peak, r)
    }
  }
  const syncEnd = rss()
  // async: 2·10^4 small calls in batches of 100, and 100 large ones with reused buffers
  sum += await asyncBatches(d, 200)
  const end = rss()
  const growth = end - afterWarmup
  const seconds = (performance.now() - t0) / 1000

  t.log(
    `calls: ${SMALL} small + ${LARGE} large sync, 20000 small + 100 large async; ${seconds.toFixed(1)} s; global.gc ${gc ? 'used' : 'not available'}`,
  )
  t.log(
    `RSS start ${(start / MB).toFixed(1)} MB, after warm-up ${(afterWarmup / MB).toFixed(1)} MB, after the sync soak ${(syncEnd / MB).toFixed(1)} MB, end ${(end / MB).toFixed(1)} MB`,
  )
  t.log(
    `RSS growth after warm-up ${(growth / MB).toFixed(1)} MB (peak ${(peak / MB).toFixed(1)} MB); samples every 10^5 small calls: ${samples.map((s) => (s / MB).toFixed(0)).join(', ')} MB`,
  )
  t.true(Number.isFinite(sum), 'results are finite (checksum)')
  t.true(growth < 64 * MB, `RSS grew by ${(growth / MB).toFixed(1)} MB after warm-up`)
  // the trend over the sync soak: the last sample is not far above the first
  t.true(
    samples[samples.length - 1] - samples[0] < 32 * MB,
    `RSS kept growing during the soak: ${samples.map((s) => (s / MB).toFixed(0)).join(', ')} MB`,
  )
  t.true(seconds < 90, `the soak took ${seconds.toFixed(1)} s`)
})
