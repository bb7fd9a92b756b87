// Async under load: 4 crossEntropyWithGrad calls on (2048, 32000) float32 in
// flight at once (losskit/async) against the same 4 calls one after another
// (sync), in one run. Run by `npm run bench` (its "Async under load" rows), or
// alone: node --expose-gc benchmark/concurrency.mjs [--json] [--reps=3] [--n=2048]
//
// Three ways to call, each the same in sync and async:
//   fresh        fresh gradients; each caller keeps its loss and drops its
//                gradient when its call returns (sync) or settles (async)
//   fresh, kept  fresh gradients; every caller keeps its whole result until
//                all 4 calls are done (sync: an array of the 4 results; async:
//                Promise.all of them)
//   gradOut      each call writes into its caller's own gradOut
// For each:
//   sync ms      the 4 sync calls in a row
//   async ms     the 4 async calls, started together, until all have settled
//   ratio        async ÷ sync
//   held         memory held beyond the caller's buffers and the results, at
//                its peak during the async calls: sampled every ~1 ms as
//                process.memoryUsage().arrayBuffers (JS-visible buffers) and
//                RSS (everything), minus the value once the inputs and gradOut
//                buffers existed, before any losskit call (so whatever losskit
//                keeps between calls counts), and, with fresh gradients, minus
//                the 4 results' bytes (floored at 0). Exact for 'fresh, kept'
//                (all 4 results are alive at the end); for 'fresh', fewer may
//                be alive at the peak, so it can only read low there
//   gap          the event loop's longest gap between 1 ms interval ticks
// Each figure is the median of --reps alternating runs. Before each run the
// previous results are dropped, collected (gc) and given 100 ms, and then until
// RSS stops falling, so the run does not also pay for freeing them (a
// main-thread pause that is the caller's, or an allocation that waits for the
// background unmapping).

import { createRequire } from 'node:module'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

const require = createRequire(import.meta.url)
const L = require('../index.js')
const A = require('../async.js')

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc')

const argv = process.argv.slice(2)
const opt = (name, d) => {
  const a = argv.find((x) => x.startsWith(`--${name}=`))
  return a ? Number(a.slice(name.length + 3)) : d
}
const JSON_OUT = argv.includes('--json')
const REPS = opt('reps', 3)
const N = opt('n', 2048)
const C = 32000
const CALLS = 4
const MiB = 1 << 20

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1]

function inputs() {
  const xs = []
  for (let k = 0; k < CALLS; k++) {
    const x = new Float32Array(N * C)
    for (let i = 0; i < x.length; i++) x[i] = (((i * 2654435761 + k * 40503) >>> 0) / 4294967296) * 8 - 4
    xs.push(x)
  }
  return xs
}

/** Memory once the inputs and gradOut buffers exist, before any losskit call. */
let m0

/**
 * Runs `fn` while sampling memory and event-loop gaps. Memory is counted from
 * `m0`: whatever losskit keeps between calls (a pool, a cache) counts as held.
 */
async function watch(fn) {
  const mem = () => process.memoryUsage()
  let peakAb = m0.arrayBuffers
  let peakRss = m0.rss
  let last = performance.now()
  let gap = 0
  const timer = setInterval(() => {
    const t = performance.now()
    gap = Math.max(gap, t - last)
    last = t
    const m = mem()
    peakAb = Math.max(peakAb, m.arrayBuffers)
    peakRss = Math.max(peakRss, m.rss)
  }, 1)
  const t0 = performance.now()
  last = t0
  const r = await fn()
  const ms = performance.now() - t0
  clearInterval(timer)
  gap = Math.max(gap, performance.now() - last)
  const m1 = mem()
  peakAb = Math.max(peakAb, m1.arrayBuffers)
  peakRss = Math.max(peakRss, m1.rss)
  return { ms, gap, ab: peakAb - m0.arrayBuffers, rss: peakRss - m0.rss, r }
}

async function settleDown() {
  gc()
  await sleep(100)
  gc()
  // V8 frees collected buffers on a background thread; wait until RSS stops
  // falling (at most 2 s), so the run does not also wait for the unmapping of
  // the previous one's results (an allocation waits for it).
  let rss = process.memoryUsage().rss
  for (let waited = 0; waited < 2000; waited += 50) {
    await sleep(50)
    const now = process.memoryUsage().rss
    if (rss - now < MiB) break
    rss = now
  }
}

export async function measureConcurrency() {
  const xs = inputs()
  const tg = Int32Array.from({ length: N }, (_, i) => (i * 7919) % C)
  const gradOuts = xs.map(() => new Float32Array(N * C).fill(0))
  const input = (k) => ({ data: xs[k], shape: [N, C] })
  const resultBytes = CALLS * N * C * 4
  const rows = []
  await settleDown()
  m0 = process.memoryUsage()
  // warm-up (thread pool, page tables of the inputs and gradOuts)
  L.crossEntropyWithGrad(input(0), tg, { gradOut: gradOuts[0] })
  await A.crossEntropyWithGrad(input(0), tg, { gradOut: gradOuts[0] })
  // Each way to call: its label, whether the callers give their own gradOut,
  // and what a caller keeps of its result (the whole result, or its loss).
  const MODES = {
    fresh: { label: 'fresh gradients', own: false, keep: (r) => r.loss },
    kept: { label: 'fresh gradients, all 4 kept', own: false, keep: (r) => r },
    gradOut: { label: "caller's own gradOut", own: true, keep: (r) => r.loss },
  }
  const lossOf = (v) => (typeof v === 'number' ? v : v.loss)
  for (const [mode, { label, own, keep }] of Object.entries(MODES)) {
    const o = (k) => (own ? { gradOut: gradOuts[k] } : undefined)
    const results = own ? 0 : resultBytes
    const s = []
    const a = []
    let same = true
    for (let rep = 0; rep < REPS; rep++) {
      await settleDown()
      const sync = await watch(async () => {
        const out = []
        for (let k = 0; k < CALLS; k++) out.push(keep(L.crossEntropyWithGrad(input(k), tg, o(k))))
        return out
      })
      // Only the losses outlive a run (kept results would hold memory into the next one).
      const syncLosses = sync.r.map(lossOf)
      sync.r = null
      await settleDown()
      const asy = await watch(() =>
        Promise.all(Array.from({ length: CALLS }, (_, k) => A.crossEntropyWithGrad(input(k), tg, o(k)).then(keep))),
      )
      same &&= asy.r.every((v, k) => lossOf(v) === syncLosses[k])
      asy.r = null
      s.push(sync)
      a.push(asy)
    }
    const syncMs = median(s.map((x) => x.ms))
    const asyncMs = median(a.map((x) => x.ms))
    rows.push({
      mode,
      label,
      syncMs,
      asyncMs,
      ratio: asyncMs / syncMs,
      heldArrayBuffersMiB: median(a.map((x) => Math.max(0, x.ab - results) / MiB)),
      heldRssMiB: median(a.map((x) => Math.max(0, x.rss - results) / MiB)),
      gapMs: median(a.map((x) => x.gap)),
      syncGapMs: median(s.map((x) => x.gap)),
      sameLosses: same,
    })
  }
  return {
    shape: [N, C],
    calls: CALLS,
    reps: REPS,
    inputMiB: (N * C * 4) / MiB,
    sliceMs: A.getAsyncSlice(),
    threads: L.getNumThreads(),
    rows,
  }
}

export function concurrencyTable(c) {
  const f = (v, d = 0) => v.toFixed(d)
  const lines = [
    `Async under load: ${c.calls} × crossEntropyWithGrad (${c.shape.join(', ')}) float32 (input ${f(c.inputMiB)} MiB each), ${c.threads} threads, ${c.sliceMs} ms slices; median of ${c.reps}`,
    '',
    `| gradients | ${c.calls} sync in a row | ${c.calls} async at once | async ÷ sync | held beyond buffers and results (arrayBuffers / RSS) | longest event-loop gap (async) |`,
    '|---|---|---|---|---|---|',
  ]
  for (const r of c.rows) {
    lines.push(
      `| ${r.label} | ${f(r.syncMs)} ms | ${f(r.asyncMs)} ms | ${f(r.ratio, 2)}× | ${f(r.heldArrayBuffersMiB)} / ${f(r.heldRssMiB)} MiB | ${f(r.gapMs, 1)} ms |`,
    )
  }
  if (c.rows.some((r) => !r.sameLosses)) lines.push('', 'MISMATCH: an async loss differs from the sync one')
  return lines.join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const c = await measureConcurrency()
  if (JSON_OUT) console.log(JSON.stringify({ ...c, table: concurrencyTable(c) }))
  else console.log(concurrencyTable(c))
}
