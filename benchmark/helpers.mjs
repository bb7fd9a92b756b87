// The helpers (softmax, logSoftmax, sigmoid) against careful plain JS, side by
// side in one run: `npm run bench:helpers`. Medians of repeated runs, float32,
// rows along the last dimension, results written into a reused `out`. Prints a
// table; writes nothing. (The losses are in `npm run bench`.)

import { createRequire } from 'node:module'
import os from 'node:os'

const require = createRequire(import.meta.url)
const lk = require('../index.js')

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s[s.length >> 1]
}

/** Median ms per call: samples of enough calls to last ≥ 20 ms, ≥ 7 samples. */
function measure(fn) {
  fn()
  fn()
  let t0 = process.hrtime.bigint()
  fn()
  const est = Number(process.hrtime.bigint() - t0) / 1e6
  const per = Math.max(1, Math.min(20000, Math.floor(20 / Math.max(est, 1e-4))))
  const samples = []
  const start = process.hrtime.bigint()
  while (samples.length < 7 || (samples.length < 31 && Number(process.hrtime.bigint() - start) / 1e6 < 1500)) {
    t0 = process.hrtime.bigint()
    for (let i = 0; i < per; i++) fn()
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6 / per)
  }
  return median(samples)
}

// Plain JS: one row at a time, max-subtracted, float64 sums.
function jsSoftmax(x, n, c, out, log) {
  for (let r = 0; r < n; r++) {
    const b = r * c
    let m = Number.NEGATIVE_INFINITY
    for (let k = 0; k < c; k++) if (x[b + k] > m) m = x[b + k]
    let s = 0
    if (log) {
      for (let k = 0; k < c; k++) s += Math.exp(x[b + k] - m)
      const ls = Math.log(s)
      for (let k = 0; k < c; k++) out[b + k] = x[b + k] - m - ls
    } else {
      for (let k = 0; k < c; k++) {
        const e = Math.exp(x[b + k] - m)
        out[b + k] = e
        s += e
      }
      const inv = 1 / s
      for (let k = 0; k < c; k++) out[b + k] *= inv
    }
  }
}
function jsSigmoid(x, out) {
  for (let i = 0; i < x.length; i++) out[i] = 1 / (1 + Math.exp(-x[i]))
}

function fmt(ms) {
  return ms < 1 ? `${(ms * 1e3).toPrecision(3)} µs` : `${ms.toPrecision(3)} ms`
}

const threads = lk.getNumThreads()
console.log(`losskit helpers vs plain JS — ${os.cpus()[0]?.model ?? 'cpu'}, ${threads} threads, Node ${process.version}`)
console.log('\n| workload | losskit | plain JS | plain JS ÷ losskit |\n|---|---:|---:|---:|')
for (const [n, c] of [
  [32, 10],
  [256, 1000],
  [2048, 32000],
]) {
  const x = new Float32Array(n * c)
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.7) * 4
  const out = new Float32Array(n * c)
  const X = { data: x, shape: [n, c] }
  const rows = [
    ['softmax', () => lk.softmax(X, { out }), () => jsSoftmax(x, n, c, out, false)],
    ['logSoftmax', () => lk.logSoftmax(X, { out }), () => jsSoftmax(x, n, c, out, true)],
    ['sigmoid', () => lk.sigmoid(x, { out }), () => jsSigmoid(x, out)],
  ]
  for (const [name, a, b] of rows) {
    const ta = measure(a)
    const tb = measure(b)
    console.log(`| ${name} (${n}, ${c}) | ${fmt(ta)} | ${fmt(tb)} | ${(tb / ta).toFixed(1)} |`)
  }
}
