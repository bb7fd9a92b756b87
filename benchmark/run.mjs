#!/usr/bin/env node
// losskit's side-by-side benchmark: `npm run bench` (= node benchmark/run.mjs).
//
// Measures, in one run and on the same data:
//   losskit      at 1 and 2 threads (setNumThreads), forward+grad with a reused
//                `gradOut` buffer (the hot-loop form)
//   plain JS     benchmark/plainjs.mjs, a careful hand-written baseline
//   tfjs cpu     TensorFlow.js 4.22, pure-JS backend
//   tfjs wasm    TensorFlow.js 4.22, WebAssembly (SIMD) backend
//   torch        PyTorch via /usr/bin/python3 benchmark/torch_bench.py, 1 and 2 threads
// and compares each to a memory-bandwidth bound measured in-process
// (benchmark/bandwidth.mjs). Writes benchmark/results.json, results.md and
// chart.svg (`--quick` writes results.quick.* / chart.quick.svg instead).
//
// Flags:
//   --quick          small sizes only, few repeats (a smoke test, ~1 min)
//   --no-losskit     run without losskit (when it is not built)
//   --no-tf          skip TensorFlow.js;  --no-tf-cpu skips only its cpu backend
//   --no-torch       skip PyTorch
//   --no-check       skip the correctness self-check
//   --only=TEXT      only workloads whose id contains TEXT (e.g. --only=crossEntropy/grad;
//                    --only=Loss/grad/16M = the MSE, L1, Huber, SmoothL1, GaussianNLL,
//                    PoissonNLL and MarginRanking rows; --only=×1024 = the TripletMargin
//                    and CosineEmbedding rows; --only=ctcLoss = the CTC rows;
//                    --only=concurrency = only the "Async under load" rows, which
//                    a full run prints last: benchmark/concurrency.mjs);
//                    the self-check then covers only the selected losses, and no
//                    results file is written unless --out=DIR is given
//   --threads=1,2    losskit / torch thread counts
//   --out=DIR        where to write results (default: benchmark/)

import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import vm from 'node:vm'

import { measureBandwidth } from './bandwidth.mjs'
import { renderChart } from './chart.mjs'
import * as pj from './plainjs.mjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.resolve(HERE, '..')
const PYTHON = '/usr/bin/python3'

// ---------------------------------------------------------------- arguments
const argv = process.argv.slice(2)
const flag = (name) => argv.includes(`--${name}`)
const option = (name, dflt) => {
  const a = argv.find((x) => x.startsWith(`--${name}=`))
  return a ? a.slice(name.length + 3) : dflt
}
if (flag('help') || flag('h')) {
  const src = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n')
  console.log(
    src
      .filter((l) => l.startsWith('//'))
      .map((l) => l.slice(3))
      .join('\n'),
  )
  process.exit(0)
}
const known = ['quick', 'no-losskit', 'no-tf', 'no-tf-cpu', 'no-torch', 'no-check', 'only', 'threads', 'out']
for (const a of argv) {
  const name = a.replace(/^--/, '').split('=')[0]
  if (!a.startsWith('--') || !known.includes(name)) {
    console.error(`bench: unknown argument ${a} (try --help)`)
    process.exit(2)
  }
}
const QUICK = flag('quick')
const ONLY = option('only', '')
const THREADS = option('threads', '1,2')
  .split(',')
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 0)
const OUT = path.resolve(option('out', HERE))
const SUFFIX = QUICK ? '.quick' : ''

// tfjs-cpu runs the largest workloads at 10–40 s per call, and its second call
// is within a few % of its first: fewer repeats there keep the run to minutes.
const TIMING_TFJS_CPU = QUICK ? null : { slowMaxReps: 2, hugeMs: 2000, singleMs: 4000 }

const TIMING = QUICK
  ? { budgetMs: 40, sampleMs: 1, minReps: 3, maxReps: 30, slowMs: 200, slowMaxReps: 2, capMs: 1500, hugeMs: 1500, singleMs: 3000 }
  : { budgetMs: 250, sampleMs: 2, minReps: 5, maxReps: 200, slowMs: 1000, slowMaxReps: 3, capMs: 5000, hugeMs: 3000, singleMs: 12000 }

// ---------------------------------------------------------------- helpers
let gc = () => {}
try {
  v8.setFlagsFromString('--expose-gc')
  gc = vm.runInNewContext('gc')
} catch {
  /* timings are a little noisier without explicit GC between measurements */
}

const now = () => process.hrtime.bigint()
const msSince = (t0) => Number(process.hrtime.bigint() - t0) / 1e6

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

function fmtTime(ms) {
  if (ms === undefined || ms === null || !Number.isFinite(ms)) return '–'
  if (ms < 1) return `${(ms * 1e3).toPrecision(3)} µs`
  if (ms < 1e3) return `${ms.toPrecision(3)} ms`
  return `${(ms / 1e3).toPrecision(3)} s`
}
function fmtRatio(r) {
  if (!Number.isFinite(r)) return ''
  return `×${r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2)}`
}
function fmtCount(n) {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)}M`
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)}k`
  return String(n)
}
const GB = 1e9

/** xorshift32: fast, seeded, good enough for benchmark data. */
function rng(seed) {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) / 4294967296
  }
}

/**
 * Median ms per call of fn(). One warm-up call (two for cheap calls), then
 * samples of `perSample` calls each (so a sample lasts ≥ sampleMs) until the
 * time budget is spent. Calls slower than slowMs get at most slowMaxReps
 * samples; slower than hugeMs, one sample after the warm-up; slower than
 * singleMs, the first call is the only run.
 */
function measure(fn, cfg = TIMING) {
  let t0 = now()
  const value = fn()
  const first = msSince(t0)
  // A call of many seconds: warm-up excluded only if it is not too long itself
  // (tfjs-wasm's first call grows its heap and is 2–3× slower than the next).
  if (first >= cfg.singleMs) return { medianMs: first, reps: 1, value, single: true, noWarmup: true }
  if (first >= cfg.hugeMs) {
    t0 = now()
    fn()
    return { medianMs: msSince(t0), reps: 1, value, single: true }
  }
  let est = first
  if (first < cfg.slowMs) {
    t0 = now()
    fn()
    est = Math.min(est, msSince(t0))
  }
  const perSample = Math.max(1, Math.min(10000, Math.floor(cfg.sampleMs / Math.max(est, 1e-4))))
  const samples = []
  const start = now()
  for (;;) {
    t0 = now()
    for (let k = 0; k < perSample; k++) fn()
    samples.push(msSince(t0) / perSample)
    const elapsed = msSince(start)
    const k = samples.length
    if (
      k >= cfg.maxReps ||
      (elapsed >= cfg.budgetMs && k >= cfg.minReps) ||
      (est >= cfg.slowMs && k >= cfg.slowMaxReps) ||
      elapsed >= cfg.capMs
    ) {
      break
    }
  }
  return { medianMs: median(samples), reps: samples.length * perSample, value }
}

// ---------------------------------------------------------------- losskit
const require = createRequire(path.join(ROOT, 'package.json'))
let lk = null
let lkError = null
if (!flag('no-losskit')) {
  try {
    lk = require('losskit')
  } catch (e) {
    try {
      lk = require(path.join(ROOT, 'index.js'))
    } catch {
      lkError = e
    }
  }
  if (!lk) {
    console.error(
      [
        '',
        'bench: losskit is not built, so it cannot be benchmarked.',
        `  (require('losskit') from ${ROOT} failed: ${String(lkError?.message ?? lkError).split('\n')[0]})`,
        '  Build it first:   npm run build',
        '  or benchmark only the others:   npm run bench -- --no-losskit',
        '',
      ].join('\n'),
    )
    process.exit(1)
  }
  for (const name of ['setNumThreads', 'crossEntropy', 'crossEntropyWithGrad']) {
    if (typeof lk[name] !== 'function') {
      console.error(`bench: the losskit build at ${ROOT} does not export ${name}() — rebuild it (npm run build).`)
      process.exit(1)
    }
  }
}
const lkDefaultThreads = lk?.getNumThreads?.()

// ---------------------------------------------------------------- workloads
const LOSSES = ['crossEntropy', 'nllLoss', 'klDiv', 'binaryCrossEntropy', 'binaryCrossEntropyWithLogits']
// Regression losses: forward+grad at the largest size only (16M; 256k with --quick).
const REGRESSION_LOSSES = ['mseLoss', 'l1Loss', 'huberLoss', 'smoothL1Loss', 'gaussianNllLoss', 'poissonNllLoss']
const REGRESSION_SIZES = QUICK ? [262144] : [16777216]
// Losses given as an argument list (multiData), forward+grad only. At the
// regression size: marginRankingLoss, with input2 = zeros and margin 1 (then it
// is tfjs's hingeLoss), and the ±1-target losses hingeEmbeddingLoss and
// softMarginLoss. On (N, D) float32 rows: the row losses, with their targets.
// cosineEmbeddingLoss has a second row with every target 1 (variant 'y1'), the
// only case tfjs's cosineDistance computes the same loss.
const PAIR_LOSSES = ['marginRankingLoss', 'hingeEmbeddingLoss', 'softMarginLoss']
const ROW_LOSSES = [
  'tripletMarginLoss',
  'tripletMarginWithDistanceLoss',
  'cosineEmbeddingLoss',
  'multiMarginLoss',
  'multilabelSoftMarginLoss',
  'multilabelMarginLoss',
]
const ROW_SIZES = QUICK ? [[256, 256]] : [[4096, 1024]]
const ROW_VARIANTS = { cosineEmbeddingLoss: [undefined, 'y1'] }
const MARGIN_RANKING_MARGIN = 1
// Sequence losses, forward+grad only: CTC on logProbs (T, N, C) = log_softmax of
// U(−3, 3) along C, padded targets (N, S) with classes in [1, C) (blank 0), every
// input length T and target length S. No plain JS or tfjs counterpart (–), and no
// bandwidth bound (the α/β recursions make it compute-bound: –).
const SEQ_LOSSES = ['ctcLoss']
const SEQ_SIZES = QUICK
  ? [[50, 4, 20, 10]]
  : [
      [250, 32, 40, 60],
      [1000, 16, 100, 200],
    ]
const ALL_LOSSES = [...LOSSES, ...REGRESSION_LOSSES, ...PAIR_LOSSES, ...ROW_LOSSES, ...SEQ_LOSSES]
/**
 * The differentiable tensors of the losses given as an argument list (multiData),
 * in argument order: losskit's `grads` keys, or one name for a loss whose
 * …WithGrad returns `{ loss, grad }`.
 */
const GRAD_NAMES = {
  marginRankingLoss: ['input1', 'input2'],
  hingeEmbeddingLoss: ['input'],
  softMarginLoss: ['input'],
  tripletMarginLoss: ['anchor', 'positive', 'negative'],
  tripletMarginWithDistanceLoss: ['anchor', 'positive', 'negative'],
  cosineEmbeddingLoss: ['input1', 'input2'],
  multiMarginLoss: ['input'],
  multilabelSoftMarginLoss: ['input'],
  multilabelMarginLoss: ['input'],
}
const isMulti = (loss) => Object.hasOwn(GRAD_NAMES, loss)
/** Whether `loss`'s …WithGrad returns `grads` (several tensors) rather than one `grad`. */
const severalGrads = (loss) => isMulti(loss) && GRAD_NAMES[loss].length > 1
/** The `gradOut` option for gradient buffers `bufs` (in GRAD_NAMES' order; gaussianNllLoss: input, variance). */
function gradOutOf(loss, bufs) {
  if (severalGrads(loss)) return Object.fromEntries(GRAD_NAMES[loss].map((name, k) => [name, bufs[k]]))
  return hasVariance(loss) ? { input: bufs[0], variance: bufs[1] } : bufs[0]
}
/** Losses on (N, D) rows: w.n rows of w.dim. */
const isRow = (loss) => ROW_LOSSES.includes(loss)
/** Losses on (T, N, C) log-probabilities with padded (N, S) targets: w.t, w.n, w.c, w.s. */
const isSeq = (loss) => SEQ_LOSSES.includes(loss)
/** Losses with a third tensor, `variance` (shaped like the input), and two gradients. */
const hasVariance = (loss) => loss === 'gaussianNllLoss'
const CLASS_SIZES = QUICK
  ? [
      [32, 10],
      [256, 1000],
    ]
  : [
      [32, 10],
      [256, 1000],
      [4096, 1000],
      [2048, 32000],
    ]
const ELEM_SIZES = QUICK ? [320, 262144] : [320, 262144, 4194304, 16777216]
const isClass = (loss) => loss === 'crossEntropy' || loss === 'nllLoss'
const SHORT = {
  crossEntropy: 'CE',
  nllLoss: 'NLL',
  klDiv: 'KL',
  binaryCrossEntropy: 'BCE',
  binaryCrossEntropyWithLogits: 'BCEWithLogits',
  mseLoss: 'MSE',
  l1Loss: 'L1',
  huberLoss: 'Huber',
  smoothL1Loss: 'SmoothL1',
  gaussianNllLoss: 'GaussianNLL',
  poissonNllLoss: 'PoissonNLL',
  marginRankingLoss: 'MarginRanking',
  hingeEmbeddingLoss: 'HingeEmbedding',
  softMarginLoss: 'SoftMargin',
  tripletMarginLoss: 'TripletMargin',
  tripletMarginWithDistanceLoss: 'TripletMarginWithDistance',
  cosineEmbeddingLoss: 'CosineEmbedding',
  multiMarginLoss: 'MultiMargin',
  multilabelSoftMarginLoss: 'MultilabelSoftMargin',
  multilabelMarginLoss: 'MultilabelMargin',
  ctcLoss: 'CTC',
}
const VARIANT_LABEL = { y1: ' (y = 1)' }

/**
 * The bytes a workload must move: { read, written }. Each input is read once
 * and each output written once (a second pass over the logits hits cache or
 * not, but it is not bytes that *must* move). The bound divides reads by the
 * read bandwidth and writes by the extra time a byte written costs in a copy
 * (see boundMs), so no kernel can come in under it.
 */
function bytesModel(w) {
  const E = w.elements
  // CTC: compute-bound (O(T·N·S) log-sum-exps forward and backward), no meaningful bound
  if (isSeq(w.loss)) return null
  const g = w.grad ? 1 : 0
  if (w.loss === 'crossEntropy') return { read: E * 4 + w.n * 4, written: g * E * 4 } // logits + targets; gradient
  if (w.loss === 'nllLoss') {
    // the targets + one cache line (or the whole row) per picked value; the whole gradient (zeros but one per row)
    return { read: w.n * 4 + w.n * Math.min(64, w.c * 4), written: g * E * 4 }
  }
  if (w.loss === 'tripletMarginLoss' || w.loss === 'tripletMarginWithDistanceLoss') return { read: 3 * E * 4, written: g * 3 * E * 4 } // anchor, positive, negative; their gradients
  if (w.loss === 'multiMarginLoss') return { read: E * 4 + w.n * 4, written: g * E * 4 } // input, class indices; gradient
  if (w.loss === 'cosineEmbeddingLoss') return { read: 2 * E * 4 + w.n * 4, written: g * 2 * E * 4 } // input1, input2, targets; two gradients
  if (w.loss === 'marginRankingLoss') return { read: 3 * E * 4, written: g * 2 * E * 4 } // input1, input2, target; two gradients
  if (hasVariance(w.loss)) return { read: 3 * E * 4, written: g * 2 * E * 4 } // input, target, variance; input and variance gradients
  // elementwise (BCE, KL, MSE, L1, Huber, SmoothL1, PoissonNLL, …): input + target; the input's gradient
  return { read: 2 * E * 4, written: g * E * 4 }
}
function totalBytes(m) {
  return m ? m.read + m.written : null
}
function workingSet(w) {
  if (isClass(w.loss)) return (w.grad ? 2 : 1) * w.elements * 4 + w.n * 4
  if (isSeq(w.loss)) return (w.grad ? 2 : 1) * w.elements * 4 + w.n * w.s * 4 // logProbs (+ grad) + targets
  return totalBytes(bytesModel(w))
}

function makeWorkloads() {
  const list = []
  for (const loss of LOSSES) {
    const sizes = isClass(loss) ? CLASS_SIZES : ELEM_SIZES.map((m) => [m])
    for (const size of sizes) {
      for (const grad of [false, true]) {
        const w = isClass(loss)
          ? { loss, grad, n: size[0], c: size[1], elements: size[0] * size[1], size: `${size[0]}×${size[1]}` }
          : { loss, grad, numel: size[0], elements: size[0], size: fmtCount(size[0]) }
        w.id = `${loss}/${grad ? 'grad' : 'fwd'}/${w.size}`
        w.label = `${SHORT[loss]} ${grad ? 'fwd+grad' : 'fwd'} ${w.size}`
        w.bytes = bytesModel(w)
        w.workingSet = workingSet(w)
        list.push(w)
      }
    }
  }
  for (const loss of [...REGRESSION_LOSSES, ...PAIR_LOSSES]) {
    for (const numel of REGRESSION_SIZES) {
      const w = { loss, grad: true, numel, elements: numel, size: fmtCount(numel) }
      w.id = `${loss}/grad/${w.size}`
      w.label = `${SHORT[loss]} fwd+grad ${w.size}`
      w.bytes = bytesModel(w)
      w.workingSet = workingSet(w)
      list.push(w)
    }
  }
  for (const loss of ROW_LOSSES) {
    for (const [n, dim] of ROW_SIZES) {
      for (const variant of ROW_VARIANTS[loss] ?? [undefined]) {
        const w = { loss, grad: true, n, dim, elements: n * dim, size: `${n}×${dim}`, variant }
        w.id = `${loss}/grad/${w.size}${variant ? `/${variant}` : ''}`
        w.label = `${SHORT[loss]}${variant ? VARIANT_LABEL[variant] : ''} fwd+grad ${w.size}`
        w.bytes = bytesModel(w)
        w.workingSet = workingSet(w)
        list.push(w)
      }
    }
  }
  for (const loss of SEQ_LOSSES) {
    for (const [t, n, c, s] of SEQ_SIZES) {
      const w = { loss, grad: true, t, n, c, s, elements: t * n * c, size: `(T,N,C,S)=(${t},${n},${c},${s})` }
      w.id = `${loss}/grad/${t}×${n}×${c}×${s}`
      w.label = `${SHORT[loss]} fwd+grad ${w.size}`
      w.bytes = bytesModel(w)
      w.workingSet = workingSet(w)
      list.push(w)
    }
  }
  return list.filter((w) => !ONLY || w.id.includes(ONLY))
}

/**
 * Data for the sequence losses (CTC), as torch_bench.py's make_data: logProbs
 * (T, N, C) = log_softmax(U(−3, 3)) along C, targets (N, S) in [1, C), every
 * input length T and target length S.
 */
function seqData(w, r) {
  const { t, n, c, s } = w
  const logProbs = new Float32Array(t * n * c)
  const row = new Float64Array(c)
  for (let i = 0; i < t * n; i++) {
    let m = Number.NEGATIVE_INFINITY
    for (let k = 0; k < c; k++) {
      row[k] = r() * 6 - 3
      if (row[k] > m) m = row[k]
    }
    let sum = 0
    for (let k = 0; k < c; k++) sum += Math.exp(row[k] - m)
    const lse = m + Math.log(sum)
    for (let k = 0; k < c; k++) logProbs[i * c + k] = row[k] - lse
  }
  const targets = new Int32Array(n * s)
  for (let i = 0; i < targets.length; i++) targets[i] = 1 + Math.floor(r() * (c - 1))
  return { logProbs, targets, inputLengths: new Int32Array(n).fill(t), targetLengths: new Int32Array(n).fill(s) }
}

/** Data for the elementwise losses, the distributions of torch_bench.py's make_data. */
function elementData(loss, m, r) {
  const input = new Float32Array(m)
  const target = new Float32Array(m)
  const gen = loss === 'klDiv' ? () => -3 * r() : loss === 'binaryCrossEntropy' ? () => 0.01 + 0.98 * r() : () => 8 * r() - 4
  for (let i = 0; i < m; i++) {
    input[i] = gen()
    target[i] = r()
  }
  if (!hasVariance(loss)) return { input, target }
  const variance = new Float32Array(m)
  for (let i = 0; i < m; i++) variance[i] = 0.1 + r()
  return { input, target, variance }
}

/**
 * Data for the multi-tensor losses, { args }: the arguments in order (the
 * differentiable tensors, then the ±1 target if any), as torch_bench.py's make_data.
 *   marginRankingLoss    input1 ~ U(−4, 4), input2 = 0 (U(−4, 4) in the self-check), y = ±1
 *   tripletMarginLoss    anchor ~ U(−1, 1), positive = anchor + 0.5·U(−1, 1),
 *                        negative = anchor + k·U(−1, 1), k ~ U(0.25, 0.75) per row
 *                        (~60 % of the rows inside the margin at D = 1024)
 *   cosineEmbeddingLoss  input1 ~ U(−1, 1), input2 = ρ·input1 + U(−1, 1), ρ ~ U(−0.5, 1)
 *                        per row (cos > 0 where ρ > 0); y = ±1 (all 1 for the 'y1' variant)
 *   tripletMarginWithDistanceLoss  as tripletMarginLoss (distance 'pairwise')
 *   hingeEmbeddingLoss   input ~ U(0, 2) (distances), y = ±1
 *   softMarginLoss       input ~ U(−4, 4), y = ±1
 *   multiMarginLoss      input ~ U(−1, 1) (N, C), target: class indices U{0..C−1} (Int32Array)
 *   multilabelSoftMarginLoss  input ~ U(−4, 4) (N, C), target 0/1 with probability ½
 *   multilabelMarginLoss input ~ U(−1, 1) (N, C), target (N, C) Int32Array: per row 4
 *                        labels, one in each quarter of [0, C), then −1
 */
function multiData(w, r, { check = false } = {}) {
  const m = w.elements
  const sign = () => (r() < 0.5 ? -1 : 1)
  if (w.loss === 'marginRankingLoss') {
    const input1 = new Float32Array(m)
    const input2 = new Float32Array(m)
    const target = new Float32Array(m)
    for (let i = 0; i < m; i++) {
      input1[i] = 8 * r() - 4
      if (check) input2[i] = 8 * r() - 4
      target[i] = sign()
    }
    return { args: [input1, input2, target] }
  }
  if (w.loss === 'hingeEmbeddingLoss' || w.loss === 'softMarginLoss') {
    const input = new Float32Array(m)
    const target = new Float32Array(m)
    const hinge = w.loss === 'hingeEmbeddingLoss'
    for (let i = 0; i < m; i++) {
      input[i] = hinge ? 2 * r() : 8 * r() - 4
      target[i] = sign()
    }
    return { args: [input, target] }
  }
  const { n, dim } = w
  if (w.loss === 'multiMarginLoss' || w.loss === 'multilabelSoftMarginLoss' || w.loss === 'multilabelMarginLoss') {
    const input = new Float32Array(m)
    const soft = w.loss === 'multilabelSoftMarginLoss'
    for (let i = 0; i < m; i++) input[i] = soft ? 8 * r() - 4 : 2 * r() - 1
    if (w.loss === 'multiMarginLoss') return { args: [input, Int32Array.from({ length: n }, () => Math.floor(r() * dim))] }
    if (soft) return { args: [input, Float32Array.from({ length: m }, () => (r() < 0.5 ? 1 : 0))] }
    const target = new Int32Array(m)
    const q = Math.max(1, Math.floor(dim / 4))
    for (let i = 0; i < n; i++) {
      const row = target.subarray(i * dim, (i + 1) * dim)
      for (let j = 0; j < 4 && j < dim; j++) row[j] = Math.min(dim - 1, j * q + Math.floor(r() * q))
      if (dim > 4) row[4] = -1
    }
    return { args: [input, target] }
  }
  if (w.loss === 'tripletMarginLoss' || w.loss === 'tripletMarginWithDistanceLoss') {
    const anchor = new Float32Array(m)
    const positive = new Float32Array(m)
    const negative = new Float32Array(m)
    for (let i = 0; i < n; i++) {
      const k = 0.25 + 0.5 * r()
      for (let j = i * dim, end = j + dim; j < end; j++) {
        const a = 2 * r() - 1
        anchor[j] = a
        positive[j] = a + 0.5 * (2 * r() - 1)
        negative[j] = a + k * (2 * r() - 1)
      }
    }
    return { args: [anchor, positive, negative] }
  }
  if (w.loss === 'cosineEmbeddingLoss') {
    const input1 = new Float32Array(m)
    const input2 = new Float32Array(m)
    const target = new Float32Array(n)
    for (let i = 0; i < n; i++) {
      const rho = 1.5 * r() - 0.5
      for (let j = i * dim, end = j + dim; j < end; j++) {
        const a = 2 * r() - 1
        input1[j] = a
        input2[j] = rho * a + (2 * r() - 1)
      }
      target[i] = w.variant === 'y1' ? 1 : sign()
    }
    return { args: [input1, input2, target] }
  }
  throw new Error(`multiData: unknown loss ${w.loss}`)
}

// Data: class losses share logits per size; elementwise data per loss and size.
// Distributions match torch_bench.py's make_data (the values differ).
const dataCache = new Map()
function dataFor(w) {
  const key = isClass(w.loss) ? `class/${w.size}` : `${w.loss}/${w.size}${w.variant ? `/${w.variant}` : ''}`
  if (dataCache.has(key)) return dataCache.get(key)
  dataCache.clear() // keep only one data set alive
  gc()
  const r = rng(0x9e3779b9 ^ w.elements)
  let d
  if (isClass(w.loss)) {
    const input = new Float32Array(w.elements)
    for (let i = 0; i < input.length; i++) input[i] = r() * 6 - 3
    const target = new Int32Array(w.n)
    for (let i = 0; i < w.n; i++) target[i] = Math.floor(r() * w.c)
    d = { input, target }
  } else if (isMulti(w.loss)) {
    d = multiData(w, r)
  } else if (isSeq(w.loss)) {
    d = seqData(w, r)
  } else {
    d = elementData(w.loss, w.elements, r)
  }
  dataCache.set(key, d)
  return d
}

// Reused gradient buffers: [0] the input's, [1] the variance gradient of
// gaussianNllLoss or the second tensor's of a multi-tensor loss, [2] the third's.
let gradBuffers = []
function gradBuffer(k, elements) {
  if (!(gradBuffers[k]?.length >= elements)) {
    gradBuffers[k] = null
    gc()
    gradBuffers[k] = new Float32Array(elements)
  }
  return gradBuffers[k].subarray(0, elements)
}
function gradOutFor(w) {
  const count = isMulti(w.loss) ? GRAD_NAMES[w.loss].length : hasVariance(w.loss) ? 2 : 1
  return gradOutOf(
    w.loss,
    Array.from({ length: count }, (_, k) => gradBuffer(k, w.elements)),
  )
}

// ---------------------------------------------------------------- implementations
function lkInput(w, d) {
  return isClass(w.loss) ? { data: d.input, shape: [w.n, w.c] } : d.input
}
/** losskit's arguments of a loss given as an argument list: for the row losses, every (N, D) array as { data, shape: [N, D] }; the rest as is. */
function lkArgs(w, d) {
  return d.args.map((a) => (isRow(w.loss) && a.length === w.n * w.dim ? { data: a, shape: [w.n, w.dim] } : a))
}
/** The options every call of `loss` takes here (beyond the defaults), or undefined. */
function lkOpts(loss) {
  return loss === 'marginRankingLoss' ? { margin: MARGIN_RANKING_MARGIN } : undefined
}
/** losskit's arguments of a sequence loss: logProbs (T, N, C), targets (N, S), inputLengths, targetLengths. */
function lkSeqArgs(w, d) {
  return [{ data: d.logProbs, shape: [w.t, w.n, w.c] }, { data: d.targets, shape: [w.n, w.s] }, d.inputLengths, d.targetLengths]
}
function lkCall(w, d, gradOut) {
  if (isSeq(w.loss)) {
    const args = lkSeqArgs(w, d)
    const f = lk[w.loss]
    const fg = lk[`${w.loss}WithGrad`]
    const o = { gradOut }
    return w.grad ? () => fg(...args, o).loss : () => f(...args)
  }
  if (isMulti(w.loss)) {
    const args = lkArgs(w, d)
    const opts = lkOpts(w.loss)
    const f = lk[w.loss]
    const fg = lk[`${w.loss}WithGrad`]
    const o = { ...opts, gradOut }
    return w.grad ? () => fg(...args, o).loss : () => f(...args, ...(opts ? [opts] : []))
  }
  const x = lkInput(w, d)
  const t = d.target
  const o = { gradOut }
  if (hasVariance(w.loss)) {
    const v = d.variance
    const f = lk[w.loss]
    const fg = lk[`${w.loss}WithGrad`]
    return w.grad ? () => fg(x, t, v, o).loss : () => f(x, t, v)
  }
  if (!w.grad) {
    const f = lk[w.loss]
    return () => f(x, t)
  }
  const fg = lk[`${w.loss}WithGrad`]
  return () => fg(x, t, o).loss
}

const PLAIN = {
  crossEntropy: [pj.crossEntropy, pj.crossEntropyWithGrad],
  nllLoss: [pj.nllLoss, pj.nllLossWithGrad],
  klDiv: [pj.klDiv, pj.klDivWithGrad],
  binaryCrossEntropy: [pj.binaryCrossEntropy, pj.binaryCrossEntropyWithGrad],
  binaryCrossEntropyWithLogits: [pj.binaryCrossEntropyWithLogits, pj.binaryCrossEntropyWithLogitsWithGrad],
  mseLoss: [pj.mseLoss, pj.mseLossWithGrad],
  l1Loss: [pj.l1Loss, pj.l1LossWithGrad],
  huberLoss: [pj.huberLoss, pj.huberLossWithGrad],
  smoothL1Loss: [pj.smoothL1Loss, pj.smoothL1LossWithGrad],
  gaussianNllLoss: [pj.gaussianNllLoss, pj.gaussianNllLossWithGrad],
  poissonNllLoss: [pj.poissonNllLoss, pj.poissonNllLossWithGrad],
  marginRankingLoss: [pj.marginRankingLoss, pj.marginRankingLossWithGrad],
  tripletMarginLoss: [pj.tripletMarginLoss, pj.tripletMarginLossWithGrad],
  cosineEmbeddingLoss: [pj.cosineEmbeddingLoss, pj.cosineEmbeddingLossWithGrad],
  // ctcLoss, hingeEmbeddingLoss, softMarginLoss, multiMarginLoss, multilabelSoftMarginLoss,
  // multilabelMarginLoss, tripletMarginWithDistanceLoss: no plain JS baseline (their column
  // shows –; the self-check compares them with torch only)
}
/** plainjs.mjs's arguments of a multi-tensor loss (its ...WithGrad form takes gradOut after them). */
function plainArgs(w, d) {
  if (w.loss === 'marginRankingLoss') return [...d.args, MARGIN_RANKING_MARGIN]
  if (w.loss === 'tripletMarginLoss') return [...d.args, w.n, w.dim, 1]
  if (w.loss === 'cosineEmbeddingLoss') return [...d.args, w.n, w.dim, 0]
  throw new Error(`plainArgs: unknown loss ${w.loss}`)
}
function plainCall(w, d, gradOut) {
  const [f, fg] = PLAIN[w.loss]
  if (isMulti(w.loss)) {
    const args = plainArgs(w, d)
    return w.grad ? () => fg(...args, gradOut).loss : () => f(...args)
  }
  const x = d.input
  const t = d.target
  if (isClass(w.loss)) {
    const { n, c } = w
    return w.grad ? () => fg(x, t, n, c, gradOut).loss : () => f(x, t, n, c)
  }
  if (hasVariance(w.loss)) {
    const v = d.variance
    return w.grad ? () => fg(x, t, v, gradOut).loss : () => f(x, t, v)
  }
  return w.grad ? () => fg(x, t, gradOut).loss : () => f(x, t)
}

// ---------------------------------------------------------------- torch
function torchAvailable() {
  if (!existsSync(PYTHON)) return null
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : null
}
function runTorch(config, { timeoutMs = 30 * 60e3 } = {}) {
  const r = spawnSync(PYTHON, [path.join(HERE, 'torch_bench.py')], {
    input: JSON.stringify(config),
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
    stdio: ['pipe', 'pipe', 'inherit'],
    timeout: timeoutMs,
  })
  if (r.status !== 0) throw new Error(`torch_bench.py exited with ${r.status ?? r.signal}: ${r.error ?? ''}`)
  return JSON.parse(r.stdout)
}

// ---------------------------------------------------------------- self-check
function relErr(a, b) {
  return Math.abs(a - b) / Math.max(1e-30, Math.abs(b))
}
function gradErr(g, ref) {
  let worst = 0
  let where = -1
  let scale = 0
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]))
  if (g.length !== ref.length) return { err: Number.POSITIVE_INFINITY, where: -1 }
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(g[i] - ref[i])
    if (!(e <= worst)) {
      worst = e
      where = i
    }
  }
  return { err: worst / (scale || 1), where }
}
function bitEqual(a, b) {
  if (a.length !== b.length) return false
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length)
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length)
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false
  return true
}

const LOSS_TOL = 1e-5 // relative, float32 data, float64 accumulation
const GRAD_TOL = 1e-5 // max |Δ| relative to max |grad|

/** The gradients of a withGrad result, as arrays: [grad], [grads.input, grads.variance] or GRAD_NAMES' order. */
function gradList(loss, r) {
  const un = (g) => g?.data ?? g
  if (severalGrads(loss)) return GRAD_NAMES[loss].map((name) => un(r.grads?.[name]))
  return hasVariance(loss) ? [un(r.grads?.input), un(r.grads?.variance)] : [un(r.grad)]
}
/** ' (name)' of gradient k of a loss with several, '' otherwise. */
function gradName(loss, k) {
  if (severalGrads(loss)) return ` (${GRAD_NAMES[loss][k]})`
  return hasVariance(loss) ? ` (${k ? 'variance' : 'input'})` : ''
}
/** gradErr over several gradients: the worst one, with its index k. */
function gradsErr(gs, refs) {
  let worst = { err: 0, where: -1, k: 0 }
  for (let k = 0; k < refs.length; k++) {
    const e = gs[k] ? gradErr(gs[k], refs[k]) : { err: Number.POSITIVE_INFINITY, where: -1 }
    if (!(e.err <= worst.err)) worst = { ...e, k }
  }
  return worst
}

function selfCheck(torchVersion, losses = ALL_LOSSES) {
  const cases = []
  for (const loss of losses) {
    const sizes = isSeq(loss)
      ? [[20, 3, 6, 5]]
      : isClass(loss) || isRow(loss)
        ? [
            [32, 10],
            [256, 1000],
          ]
        : [[320], [262144]]
    for (const s of sizes) {
      const w = isSeq(loss)
        ? { loss, t: s[0], n: s[1], c: s[2], s: s[3], elements: s[0] * s[1] * s[2], size: `(T,N,C,S)=(${s.join(',')})` }
        : isClass(loss)
          ? { loss, n: s[0], c: s[1], elements: s[0] * s[1], size: `${s[0]}×${s[1]}` }
          : isRow(loss)
            ? { loss, n: s[0], dim: s[1], elements: s[0] * s[1], size: `${s[0]}×${s[1]}` }
            : { loss, numel: s[0], elements: s[0], size: fmtCount(s[0]) }
      // own seeds: the benchmark's data cache must not be disturbed
      const r = rng(12345 + w.elements + loss.length)
      const d = (() => {
        if (isSeq(loss)) return seqData(w, r)
        if (isMulti(loss)) return multiData(w, r, { check: true })
        if (isClass(loss)) {
          const input = Float32Array.from({ length: w.elements }, () => r() * 6 - 3)
          if (loss === 'nllLoss') {
            // real log-probabilities for NLL
            for (let i = 0; i < w.n; i++) {
              const row = input.subarray(i * w.c, (i + 1) * w.c)
              let m = -Infinity
              for (const v of row) m = Math.max(m, v)
              let sum = 0
              for (const v of row) sum += Math.exp(v - m)
              const lse = m + Math.log(sum)
              for (let j = 0; j < row.length; j++) row[j] -= lse
            }
          }
          const target = Int32Array.from({ length: w.n }, () => Math.floor(r() * w.c))
          return { input, target }
        }
        const gen = loss === 'klDiv' ? () => -3 * r() : loss === 'binaryCrossEntropy' ? () => 0.01 + 0.98 * r() : () => 8 * r() - 4
        const input = Float32Array.from({ length: w.elements }, gen)
        const target = Float32Array.from({ length: w.elements }, () => r())
        if (loss === 'binaryCrossEntropy') {
          input[0] = 0 // exercise the -100 log clamp at both ends
          input[1] = 1
        }
        if (loss === 'klDiv') target[0] = 0 // 0 · log 0 = 0
        if (loss === 'l1Loss') input[0] = target[0] // sign(0) = 0
        if (hasVariance(loss)) return { input, target, variance: Float32Array.from({ length: w.elements }, () => 0.1 + r()) }
        return { input, target }
      })()
      // no plain JS baseline (CTC and others, see PLAIN): losskit is checked against torch only
      let plain = null
      let plainProblem = null
      if (PLAIN[loss]) {
        const [f, fg] = PLAIN[loss]
        const pArgs = isMulti(loss)
          ? plainArgs(w, d)
          : isClass(loss)
            ? [d.input, d.target, w.n, w.c]
            : hasVariance(loss)
              ? [d.input, d.target, d.variance]
              : [d.input, d.target]
        const pg = fg(...pArgs)
        plain = { loss: f(...pArgs), grads: gradList(loss, pg) }
        if (relErr(pg.loss, plain.loss) > 1e-12) plainProblem = 'plain JS: forward and withGrad losses differ'
      }
      const c = { name: `${SHORT[loss]} ${w.size}`, w, d, plain, lk: {}, problems: plainProblem ? [plainProblem] : [] }
      if (lk) {
        for (const th of THREADS) {
          try {
            lk.setNumThreads(th)
            const x = isMulti(loss) || isSeq(loss) ? null : lkInput(w, d)
            const args = isSeq(loss)
              ? lkSeqArgs(w, d)
              : isMulti(loss)
                ? lkArgs(w, d)
                : hasVariance(loss)
                  ? [x, d.target, d.variance]
                  : [x, d.target]
            const opts = lkOpts(loss)
            const tail = opts ? [opts] : []
            const l = lk[loss](...args, ...tail)
            const r2 = lk[`${loss}WithGrad`](...args, ...tail)
            const gs = gradList(loss, r2)
            c.lk[th] = { loss: l, lossWithGrad: r2.loss, grads: gs }
            const outs = gs.map(() => new Float32Array(w.elements))
            const gradOut = gradOutOf(loss, outs)
            const gs3 = gradList(loss, lk[`${loss}WithGrad`](...args, { ...opts, gradOut }))
            for (const [k, out] of outs.entries()) {
              const which = gradName(loss, k)
              if (gs3[k] !== out && gs3[k]?.buffer !== out.buffer) c.problems.push(`losskit ${th}t: gradOut${which} was not used`)
              else if (gs[k] instanceof Float32Array && !bitEqual(gs[k], out))
                c.problems.push(`losskit ${th}t: grad${which} with gradOut differs from grad without`)
              if (!(gs[k] instanceof Float32Array)) c.problems.push(`losskit ${th}t: grad${which} is not a Float32Array`)
            }
            if (typeof l !== 'number') c.problems.push(`losskit ${th}t: loss is ${typeof l}, not a number`)
            if (!Object.is(l, r2.loss)) c.problems.push(`losskit ${th}t: ${loss}() = ${l} but ${loss}WithGrad().loss = ${r2.loss}`)
          } catch (e) {
            c.problems.push(`losskit ${th}t threw: ${e.message}`)
          }
        }
        const base = c.lk[THREADS[0]]
        for (const th of THREADS.slice(1)) {
          const o = c.lk[th]
          if (base && o && !(Object.is(base.loss, o.loss) && base.grads.every((g, k) => bitEqual(g, o.grads[k])))) {
            c.problems.push(`losskit: results at ${THREADS[0]} and ${th} threads are not bit-identical`)
          }
        }
      }
      cases.push(c)
    }
  }
  let torchRes = null
  if (torchVersion) {
    try {
      torchRes = runTorch({
        mode: 'check',
        cases: cases.map((c) =>
          isSeq(c.w.loss)
            ? {
                loss: c.w.loss,
                t: c.w.t,
                n: c.w.n,
                c: c.w.c,
                s: c.w.s,
                log_probs: Array.from(c.d.logProbs),
                targets: Array.from(c.d.targets),
                input_lengths: Array.from(c.d.inputLengths),
                target_lengths: Array.from(c.d.targetLengths),
              }
            : isMulti(c.w.loss)
              ? { loss: c.w.loss, n: c.w.n, dim: c.w.dim, args: c.d.args.map((a) => Array.from(a)) }
              : {
                  loss: c.w.loss,
                  n: c.w.n,
                  c: c.w.c,
                  input: Array.from(c.d.input),
                  target: Array.from(c.d.target),
                  variance: c.d.variance ? Array.from(c.d.variance) : undefined,
                },
        ),
      }).results
    } catch (e) {
      console.log(`  torch check failed: ${e.message}`)
    }
  }
  const rows = []
  const fmtE = (e) => (e === undefined ? '–' : e === 0 ? '0' : e.toExponential(1))
  for (const [i, c] of cases.entries()) {
    const t = torchRes?.[i]
    if (t) t.grads ??= t.grad_variance ? [t.grad, t.grad_variance] : [t.grad]
    const row = { case: c.name, problems: c.problems }
    const which = (e) => gradName(c.w.loss, e.k)
    if (t && c.plain) {
      row.plainVsTorch = { loss: relErr(c.plain.loss, t.loss), grad: gradsErr(c.plain.grads, t.grads).err }
      if (row.plainVsTorch.loss > LOSS_TOL || row.plainVsTorch.grad > GRAD_TOL)
        c.problems.push(`plain JS differs from torch (loss ${fmtE(row.plainVsTorch.loss)}, grad ${fmtE(row.plainVsTorch.grad)})`)
    }
    const l = c.lk[THREADS[0]]
    if (l) {
      if (c.plain) {
        const ge = gradsErr(l.grads, c.plain.grads)
        row.lkVsPlain = { loss: relErr(l.loss, c.plain.loss), grad: ge.err, where: ge.where }
        if (row.lkVsPlain.loss > LOSS_TOL || row.lkVsPlain.grad > GRAD_TOL)
          c.problems.push(
            `losskit differs from plain JS: loss ${l.loss} vs ${c.plain.loss}; worst grad${which(ge)} |Δ|/max = ${fmtE(ge.err)} at [${ge.where}] (${l.grads[ge.k]?.[ge.where]} vs ${c.plain.grads[ge.k][ge.where]})`,
          )
      }
      if (t) {
        const gt = gradsErr(l.grads, t.grads)
        row.lkVsTorch = { loss: relErr(l.loss, t.loss), grad: gt.err, where: gt.where }
        if (row.lkVsTorch.loss > LOSS_TOL || row.lkVsTorch.grad > GRAD_TOL)
          c.problems.push(
            `losskit differs from torch: loss ${l.loss} vs ${t.loss}; worst grad${which(gt)} |Δ|/max = ${fmtE(gt.err)} at [${gt.where}] (${l.grads[gt.k]?.[gt.where]} vs ${t.grads[gt.k][gt.where]})`,
          )
      }
    }
    rows.push(row)
  }
  const lines = ['| case | plain JS vs torch (loss / grad) | losskit vs plain JS | losskit vs torch | status |', '|---|---|---|---|---|']
  for (const r of rows) {
    const p = (o) => (o ? `${fmtE(o.loss)} / ${fmtE(o.grad)}` : '–')
    lines.push(`| ${r.case} | ${p(r.plainVsTorch)} | ${p(r.lkVsPlain)} | ${p(r.lkVsTorch)} | ${r.problems.length ? 'MISMATCH' : 'ok'} |`)
  }
  if (lk && lkDefaultThreads) lk.setNumThreads(lkDefaultThreads)
  dataCache.clear()
  return { rows, table: lines.join('\n'), problems: rows.flatMap((r) => r.problems.map((p) => `${r.case}: ${p}`)) }
}

// ---------------------------------------------------------------- machine
function l3Bytes() {
  try {
    const dir = '/sys/devices/system/cpu/cpu0/cache'
    let best = 0
    for (let i = 0; i < 8; i++) {
      const f = `${dir}/index${i}/size`
      if (!existsSync(f)) continue
      const s = readFileSync(f, 'utf8').trim()
      const v = Number.parseInt(s, 10) * (s.endsWith('M') ? 1 << 20 : s.endsWith('K') ? 1024 : 1)
      best = Math.max(best, v)
    }
    return best || null
  } catch {
    return null
  }
}

/** The addon binaries beside package.json, with their hashes: a rebuild during the run is reported. */
function addonFingerprint() {
  try {
    return readdirSync(ROOT)
      .filter((f) => /^losskit.*\.node$/.test(f))
      .map((f) => {
        const full = path.join(ROOT, f)
        return {
          file: f,
          mtime: statSync(full).mtime.toISOString(),
          sha256: createHash('sha256').update(readFileSync(full)).digest('hex').slice(0, 16),
        }
      })
  } catch {
    return []
  }
}

function gitHead() {
  const r = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' })
  if (r.status !== 0) return null
  const dirty = spawnSync('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' })
  return `${r.stdout.trim()}${dirty.stdout?.trim() ? '+dirty' : ''}`
}

/** Busy CPU seconds of the whole machine and of this process + its waited-for children. */
function cpuSeconds() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
    const machineBusy = (f.reduce((a, b) => a + b, 0) - f[3] - (f[4] || 0)) / 100 // USER_HZ = 100
    const self = readFileSync('/proc/self/stat', 'utf8')
    const fields = self
      .slice(self.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number)
    const children = (fields[13] + fields[14]) / 100 // cutime + cstime
    const u = process.cpuUsage()
    return { machineBusy, own: (u.user + u.system) / 1e6 + children }
  } catch {
    return null
  }
}

/** Cores busy with other work, sampled over 0.5 s while this process sleeps. */
async function otherCpuUse() {
  const read = () => {
    try {
      const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
      return { idle: f[3] + (f[4] || 0), total: f.reduce((a, b) => a + b, 0) }
    } catch {
      return null
    }
  }
  const a = read()
  if (!a) return os.loadavg()[0]
  await new Promise((r) => setTimeout(r, 500))
  const b = read()
  const cores = os.cpus().length
  return (1 - (b.idle - a.idle) / Math.max(1, b.total - a.total)) * cores
}

// ---------------------------------------------------------------- main
/**
 * The "Async under load" rows (benchmark/concurrency.mjs), in a child process:
 * a fresh heap, so no earlier row's garbage is freed during its timings.
 */
function concurrencyRows() {
  const args = ['--expose-gc', path.join(ROOT, 'benchmark', 'concurrency.mjs'), '--json']
  if (QUICK) args.push('--n=256', '--reps=1')
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 })
  if (r.status !== 0) {
    console.log(`  async under load: failed (${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')})`)
    return null
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()) // with its table, as printed alone
}

async function main() {
  const t0 = now()
  if (ONLY === 'concurrency') {
    if (!lk) return console.log('bench: --only=concurrency needs losskit')
    console.log('\nasync under load … ')
    const c = concurrencyRows()
    if (c) console.log(`\n${c.table}`)
    return
  }
  const torchVersion = flag('no-torch') ? null : torchAvailable()
  const machine = {
    cpu: os.cpus()[0]?.model?.trim() ?? 'unknown',
    cores: os.availableParallelism?.() ?? os.cpus().length,
    l3Bytes: l3Bytes(),
    memBytes: os.totalmem(),
    platform: `${process.platform}-${process.arch}`,
    node: process.version,
  }
  const cacheLimit = machine.l3Bytes ?? 32 << 20
  console.log(`losskit benchmark${QUICK ? ' (--quick)' : ''}: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`)
  const cpuAtStart = cpuSeconds()
  const addonAtStart = lk ? addonFingerprint() : []
  const busy = await otherCpuUse()
  machine.busyCoresAtStart = busy
  if (busy > 0.3) {
    console.log(
      `  warning: other processes are using ${busy.toFixed(1)} of ${machine.cores} cores — timings (2-thread ones above all) will be noisy`,
    )
  }
  if (!lk) console.log('  losskit: skipped (--no-losskit)')
  if (flag('no-torch')) console.log('  torch: skipped (--no-torch)')
  else if (!torchVersion) console.log(`  torch: not available (${PYTHON} -c 'import torch' failed), skipped`)

  // tfjs
  let tfm = null
  let tfInfo = null
  const tfBackends = []
  if (!flag('no-tf')) {
    try {
      tfm = await import('./tfjs.mjs')
      tfInfo = await tfm.loadTf()
      if (!flag('no-tf-cpu')) tfBackends.push('cpu')
      if (tfInfo.wasm) tfBackends.push('wasm')
      else console.log(`  tfjs wasm backend unavailable: ${tfInfo.wasmError}`)
    } catch (e) {
      console.log(`  tfjs unavailable (${e.message}), skipped`)
      tfm = null
    }
  }

  // implementations, in column order
  const impls = []
  if (lk) for (const th of THREADS) impls.push({ key: `losskit-${th}t`, label: `losskit ${th}t`, threads: th, kind: 'losskit' })
  impls.push({ key: 'plainjs', label: 'plain JS', threads: 1, kind: 'plainjs' })
  for (const b of tfBackends) impls.push({ key: `tfjs-${b}`, label: `tfjs ${b}`, threads: 1, kind: 'tfjs', backend: b })
  if (torchVersion) for (const th of THREADS) impls.push({ key: `torch-${th}t`, label: `torch ${th}t`, threads: th, kind: 'torch' })

  const workloads = makeWorkloads()
  if (workloads.length === 0) {
    console.error(`bench: no workload matches --only=${ONLY}`)
    process.exit(2)
  }
  // With --only, results are written only where --out says (a partial run must
  // not overwrite the full run's results.md / results.json / chart.svg).
  const WRITE = !ONLY || option('out', null) !== null

  // bandwidth
  process.stdout.write('\nmeasuring memory read bandwidth … ')
  const bw = await measureBandwidth({ quick: QUICK, lk })
  console.log(
    `1 thread ${(bw.t1 / GB).toFixed(1)} GB/s (wasm-simd ${(bw.t1Detail.wasmSimd / GB).toFixed(1)}, memcmp ${(bw.t1Detail.memcmp / GB).toFixed(1)}, js ${(bw.t1Detail.js / GB).toFixed(1)}), 2 threads ${(bw.t2 / GB).toFixed(1)} GB/s; copy ${(bw.copy1 / GB).toFixed(1)} GB/s copied (1 thread), ${(bw.copy2 / GB).toFixed(1)} GB/s (2 threads)` +
      (bw.native
        ? `; losskit's streams 1t / 2t: read ${(bw.native[1].read / GB).toFixed(1)} / ${(bw.native[2].read / GB).toFixed(1)}, triad ${(bw.native[1].triad / GB).toFixed(1)} / ${(bw.native[2].triad / GB).toFixed(1)} (bytes of a), fill ${(bw.native[1].fill / GB).toFixed(1)} / ${(bw.native[2].fill / GB).toFixed(1)} GB/s`
        : ''),
  )
  // The best read bandwidth measured: the JS readers', or losskit's own float32
  // sum on its pool (which reads as the losses do).
  // What `th` threads can do is at least what fewer did: each probe counts at
  // its own thread count and every larger one.
  const best = (th, f) => Math.max(...[1, 2].filter((k) => k <= Math.max(1, th)).map((k) => f(k) ?? 0))
  const nat = (k) => bw.native?.[k]
  const bwFor = (th) => best(th, (k) => Math.max(k === 1 ? bw.t1 : bw.t2, nat(k)?.read ?? 0))
  // A written byte costs the least any measurement shows: what a copy costs
  // beyond reading its source byte, what the triad a = b + s·c costs beyond
  // reading b and c, or a byte of a fill (memset). Never negative.
  const writeSecPerByte = (th) => {
    const copy = 1 / best(th, (k) => (k === 1 ? bw.copy1 : bw.copy2)) - 1 / bwFor(th)
    const triad = bw.native ? 1 / best(th, (k) => nat(k).triad) - 2 / bwFor(th) : Number.POSITIVE_INFINITY
    const fill = bw.native ? 1 / best(th, (k) => nat(k).fill) : Number.POSITIVE_INFINITY
    return Math.max(0, Math.min(copy, triad, fill))
  }
  const boundMs = (m, th) => (m.read / bwFor(th) + m.written * writeSecPerByte(th)) * 1e3

  // self-check
  let check = null
  if (!flag('no-check')) {
    console.log('\nself-check (float32, reduction mean; errors are relative: loss, max |Δgrad| / max |grad|):')
    check = selfCheck(torchVersion, ONLY ? ALL_LOSSES.filter((l) => workloads.some((w) => w.loss === l)) : ALL_LOSSES)
    console.log(check.table)
    if (check.problems.length) {
      console.log('\nSELF-CHECK MISMATCHES:')
      for (const p of check.problems) console.log(`  - ${p}`)
    } else if (lk) {
      const checked = ONLY ? ALL_LOSSES.filter((l) => workloads.some((w) => w.loss === l)) : ALL_LOSSES
      const plainAll = checked.every((l) => PLAIN[l])
      const plainNone = !checked.some((l) => PLAIN[l])
      const what = [
        plainNone ? null : `the plain JS baseline${plainAll ? '' : ' (where there is one)'}`,
        torchVersion ? 'torch' : null,
      ].filter(Boolean)
      console.log(
        what.length
          ? `all losskit results match ${what.join(' and ')}`
          : 'losskit: no reference to compare with (no plain JS baseline, no torch)',
      )
    }
  }

  // benchmark
  console.log(`\nbenchmarking ${workloads.length} workloads × ${impls.length} implementations (median of repeated runs)`)
  // Warm-up, untimed: the first measured calls of a run (JIT tiers, the thread
  // pool, the CPU clock) would otherwise land on whichever row comes first.
  if (lk) {
    const w0 = workloads[0]
    const d0 = dataFor(w0)
    for (const th of THREADS) {
      lk.setNumThreads(th)
      const f = lkCall(w0, d0, w0.grad ? gradOutFor(w0) : undefined)
      const until = performance.now() + 300
      while (performance.now() < until) f()
    }
  }
  const results = new Map(workloads.map((w) => [w.id, {}]))
  for (const w of workloads) {
    const d = dataFor(w)
    const gradOut = w.grad ? gradOutFor(w) : undefined
    const res = results.get(w.id)
    const line = []
    for (const im of impls) {
      if (im.kind === 'torch') continue
      if (im.kind === 'plainjs' && !PLAIN[w.loss]) continue // no plain JS baseline (see PLAIN): shown as –
      if (im.kind === 'tfjs' && !tfm.tfSupports(w.loss, w.variant)) continue // no tfjs counterpart: shown as –
      gc()
      try {
        let r
        if (im.kind === 'losskit') {
          // The bound's probes again, right before and right after the row, at
          // its thread count: the bound uses the fastest they ever were (see
          // nativeStreams).
          if (w.bytes && bw.probe) bw.probe(im.threads, 2)
          lk.setNumThreads(im.threads)
          r = measure(lkCall(w, d, gradOut))
          if (w.bytes && bw.probe) bw.probe(im.threads, 2)
        } else if (im.kind === 'plainjs') {
          r = measure(plainCall(w, d, gradOut))
        } else {
          await tfm.useBackend(im.backend)
          const c = tfm.tfCase(w, d, w.grad)
          try {
            r = measure(c.call, im.backend === 'cpu' && TIMING_TFJS_CPU ? { ...TIMING, ...TIMING_TFJS_CPU } : TIMING)
          } finally {
            c.dispose()
          }
        }
        res[im.key] = r
        line.push(`${im.label} ${fmtTime(r.medianMs)}`)
      } catch (e) {
        res[im.key] = { error: String(e.message ?? e).split('\n')[0] }
        line.push(`${im.label} ERROR`)
        console.log(`    ${im.label} failed on ${w.id}: ${res[im.key].error}`)
      }
    }
    console.log(`  ${w.label.padEnd(28)} ${line.join(' | ')}`)
  }
  if (lk && lkDefaultThreads) lk.setNumThreads(lkDefaultThreads)
  if (bw.native) {
    const n = bw.native
    console.log(
      `losskit's streams, fastest of ${n[1].runs} / ${n[2].runs} runs (1t / 2t; re-run before and after every memory-bound row): read ${(n[1].read / GB).toFixed(1)} / ${(n[2].read / GB).toFixed(1)}, triad ${(n[1].triad / GB).toFixed(1)} / ${(n[2].triad / GB).toFixed(1)}, fill ${(n[1].fill / GB).toFixed(1)} / ${(n[2].fill / GB).toFixed(1)} GB/s`,
    )
  }
  dataCache.clear()
  gradBuffers = []
  gc()

  if (torchVersion) {
    console.log('\nrunning torch_bench.py …')
    try {
      const tr = runTorch({
        mode: 'bench',
        threads: THREADS,
        budget_ms: TIMING.budgetMs,
        sample_ms: TIMING.sampleMs,
        min_reps: TIMING.minReps,
        max_reps: TIMING.maxReps,
        slow_ms: TIMING.slowMs,
        slow_max_reps: TIMING.slowMaxReps,
        cap_ms: TIMING.capMs,
        huge_ms: TIMING.hugeMs,
        single_ms: TIMING.singleMs,
        workloads: workloads.map((w) => ({
          id: w.id,
          loss: w.loss,
          grad: w.grad,
          n: w.n,
          c: w.c,
          t: w.t,
          s: w.s,
          dim: w.dim,
          numel: w.numel,
          variant: w.variant,
        })),
      })
      for (const r of tr.results) {
        results.get(r.id)[`torch-${r.threads}t`] = { medianMs: r.median_ms, reps: r.reps, single: r.reps === 1 }
      }
    } catch (e) {
      console.log(`  torch failed: ${e.message}`)
    }
  }

  // How much CPU did other processes take while we measured?
  const cpuAtEnd = cpuSeconds()
  if (cpuAtStart && cpuAtEnd) {
    const wall = msSince(t0) / 1e3
    const other = cpuAtEnd.machineBusy - cpuAtStart.machineBusy - (cpuAtEnd.own - cpuAtStart.own)
    machine.otherProcessesCores = Math.max(0, other / wall)
  }

  const addonAtEnd = lk ? addonFingerprint() : []
  const rebuilt = JSON.stringify(addonAtStart) !== JSON.stringify(addonAtEnd)

  // ------------------------------------------------------------ report
  const refKey = (im) => (lk ? `losskit-${THREADS.includes(im.threads) ? im.threads : THREADS[0]}t` : 'plainjs')
  const rows = workloads.map((w) => {
    const res = results.get(w.id)
    const ref = res.plainjs?.value
    const impl = {}
    for (const im of impls) {
      const r = res[im.key]
      if (!r) continue
      const o = { ...r }
      if (r.medianMs) o.elementsPerSecond = w.elements / (r.medianMs / 1e3)
      if (typeof r.value === 'number' && typeof ref === 'number' && im.kind !== 'torch') {
        o.valueRelErr = relErr(r.value, ref)
      }
      impl[im.key] = o
    }
    const bound = {}
    // no bound (null, shown as –) where the bytes model has none (CTC: compute-bound)
    for (const th of [1, ...THREADS.filter((t) => t > 1)]) bound[`${th}t`] = w.bytes ? boundMs(w.bytes, th) : null
    return {
      id: w.id,
      loss: w.loss,
      mode: w.grad ? 'forward+grad' : 'forward',
      ...(w.variant ? { variant: w.variant } : {}),
      shape: isSeq(w.loss) ? [w.t, w.n, w.c] : isClass(w.loss) ? [w.n, w.c] : isRow(w.loss) ? [w.n, w.dim] : [w.numel],
      ...(isSeq(w.loss) ? { targetsShape: [w.n, w.s] } : {}),
      elements: w.elements,
      bytes: w.bytes,
      workingSetBytes: w.workingSet,
      cacheResident: w.bytes ? w.workingSet <= cacheLimit : null,
      boundMs: bound,
      results: impl,
    }
  })

  const head = ['workload', ...impls.map((im) => im.label), 'bound 1t']
  if (lk) for (const th of THREADS) head.push(`lk ${th}t ÷ bound`)
  const md = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i ? '---:' : '---')).join('|')}|`]
  const VALUE_TOL = 1e-4
  const notes = []
  for (const row of rows) {
    const w = workloads.find((x) => x.id === row.id)
    const cells = [w.label]
    for (const im of impls) {
      const r = row.results[im.key]
      if (!r) {
        cells.push('–')
        continue
      }
      if (r.error) {
        cells.push('error')
        notes.push(`${w.label}, ${im.label}: ${r.error}`)
        continue
      }
      const ref = row.results[refKey(im)]
      let cell = fmtTime(r.medianMs)
      if (r.single) cell += '¹'
      if (im.key !== refKey(im) && ref?.medianMs) cell += ` ${fmtRatio(r.medianMs / ref.medianMs)}`
      if (r.valueRelErr > VALUE_TOL) {
        cell += ' ≠'
        notes.push(
          `${w.label}, ${im.label}: loss ${r.value} vs plain JS ${row.results.plainjs.value} (rel. error ${r.valueRelErr.toExponential(1)})`,
        )
      }
      cells.push(cell)
    }
    cells.push(fmtTime(row.boundMs['1t']) + (row.cacheResident ? '†' : ''))
    if (lk) {
      for (const th of THREADS) {
        const r = row.results[`losskit-${th}t`]
        const b = row.boundMs[`${th}t`]
        // No ratio where the working set fits in cache: the DRAM bound is no bound there.
        cells.push(r?.medianMs && b && !row.cacheResident ? `${(r.medianMs / b).toFixed(r.medianMs / b >= 10 ? 0 : 2)}` : '–')
      }
    }
    md.push(`| ${cells.join(' | ')} |`)
  }
  const legend = [
    `Medians of repeated runs, float32, reduction 'mean'. ×r = time ÷ ${lk ? 'losskit at the same thread count (1t for plain JS and tfjs)' : 'plain JS'}; below 1 is faster.`,
    `bound = bytes that must be read ÷ the best read bandwidth measured (1 thread ${(bwFor(1) / GB).toFixed(1)} GB/s, 2 threads ${(bwFor(2) / GB).toFixed(1)} GB/s) + bytes that must be written × the least a written byte was measured to cost (${(writeSecPerByte(1) * GB).toFixed(3)} / ${(writeSecPerByte(2) * GB).toFixed(3)} s per GB: a copy, losskit's triad or its fill); each input read once, each output written once; losskit's probes re-run before and after every memory-bound row and count at their fastest (${bw.native ? `${bw.native[1].runs} / ${bw.native[2].runs} runs` : 'no runs'}). lk ÷ bound = 1 is memory speed. Below 1 would mean a kernel moved memory faster than every probe did.`,
    `† working set fits in the ${(cacheLimit / (1 << 20)).toFixed(0)} MiB last-level cache: the DRAM bound does not bind, so no ratio to it is given (–). ¹ one timed run (the call takes seconds). ≠ loss value off from plain JS (float64 accumulation) by > ${VALUE_TOL}.`,
    ...(workloads.some((w) => !w.bytes)
      ? ['CTC: compute-bound (the α/β recursions), so no bandwidth bound (–); no plain JS baseline or tfjs counterpart (–).']
      : []),
    'tfjs: inputs uploaded and targets one-hot encoded outside the timed loop; the gradient stays a tensor. torch: same distributions, its own data.',
  ]
  const table = md.join('\n')
  console.log(`\n${table}\n`)
  for (const l of legend) console.log(l)
  if (machine.otherProcessesCores > 0.15) {
    const m = `Other processes kept ${machine.otherProcessesCores.toFixed(2)} of ${machine.cores} cores busy on average during this run: timings are contaminated (2-thread ones most).`
    console.log(`\nWARNING: ${m}`)
    legend.push(`WARNING: ${m}`)
  }
  if (rebuilt) {
    const m = 'The losskit binary was rebuilt while this run was going on: its rows may mix two builds. Run again.'
    console.log(`\nWARNING: ${m}`)
    legend.push(`WARNING: ${m}`)
  }
  if (notes.length) {
    console.log('\nnotes:')
    for (const n of notes) console.log(`  - ${n}`)
  }
  const conc = lk && !ONLY ? concurrencyRows() : null
  if (conc) console.log(`\n${conc.table}`)

  // files
  if (!WRITE) {
    console.log(`\n--only=${ONLY}: no results file written (add --out=DIR to keep this partial run) — ${(msSince(t0) / 1e3).toFixed(0)} s`)
    if (check?.problems.length) console.log(`\n${check.problems.length} self-check mismatch(es): see above.`)
    return
  }
  mkdirSync(OUT, { recursive: true })
  const versions = {
    losskit: lk ? JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version : null,
    losskitDefaultThreads: lkDefaultThreads ?? null,
    losskitBinary: addonAtStart,
    losskitRebuiltDuringRun: lk ? rebuilt : null,
    gitHead: gitHead(),
    tfjs: tfInfo?.version ?? null,
    tfjsWasm: tfInfo?.wasm ?? null,
    torch: torchVersion,
  }
  const json = {
    generated: new Date().toISOString(),
    quick: QUICK,
    machine: {
      ...machine,
      bandwidth: {
        oneThreadBytesPerSecond: bw.t1,
        twoThreadsBytesPerSecond: bw.t2,
        copyOneThreadBytesPerSecond: bw.copy1,
        copyTwoThreadsBytesPerSecond: bw.copy2,
        losskitStreams: bw.native,
        oneThreadDetail: bw.t1Detail,
        bufferBytes: bw.bytes,
        method:
          'single thread: best of a hand-assembled wasm SIMD f64x2 sum, Buffer.compare (memcmp) and an 8-accumulator Float64Array sum over one buffer; 2 threads: two worker_threads running the wasm sum over their own halves, started together (total bytes / wall time); median of rounds',
      },
    },
    versions,
    timing: TIMING,
    bytesModel: {
      bound:
        'boundMs = read ÷ read bandwidth + written × (1 ÷ copy bandwidth − 1 ÷ read bandwidth), per thread count; each input read once, each output written once',
      crossEntropy: 'read N·C·4 + N·4 (logits, targets); written with grad: N·C·4 (gradient)',
      nllLoss: 'read N·4 + N·min(64, 4C); written with grad: N·C·4 (gradient)',
      elementwise: 'read 2·n·4 (input + target); written with grad: n·4 (gradient)',
      gaussianNllLoss: 'read 3·n·4 (input + target + variance); written with grad: 2·n·4 (input and variance gradients)',
      marginRankingLoss: 'read 3·n·4 (input1 + input2 + target); written: 2·n·4 (both gradients)',
      tripletMarginLoss: 'read 3·N·D·4 (anchor + positive + negative); written: 3·N·D·4 (their gradients)',
      cosineEmbeddingLoss: 'read 2·N·D·4 + N·4 (input1 + input2 + targets); written: 2·N·D·4 (both gradients)',
      ctcLoss: 'none: compute-bound (O(T·N·S) log-sum-exps in the alpha/beta recursions); bytes and boundMs are null',
    },
    implementations: impls.map(({ key, label, threads }) => ({ key, label, threads })),
    selfCheck: check ? { rows: check.rows, problems: check.problems } : null,
    rows,
    asyncUnderLoad: conc,
    notes,
  }
  const jsonPath = path.join(OUT, `results${SUFFIX}.json`)
  writeFileSync(jsonPath, `${JSON.stringify(json, null, 2)}\n`)
  const mdPath = path.join(OUT, `results${SUFFIX}.md`)
  writeFileSync(
    mdPath,
    [
      `# losskit benchmark${QUICK ? ' (quick)' : ''}`,
      '',
      `${machine.cpu}, ${machine.cores} cores, ${machine.platform}, Node ${machine.node}; ` +
        `losskit ${versions.losskit ?? '(not run)'}${versions.gitHead ? ` (${versions.gitHead})` : ''}, tfjs ${versions.tfjs ?? '(not run)'}, torch ${versions.torch ?? '(not run)'}. ` +
        `Read bandwidth: ${(bw.t1 / GB).toFixed(1)} GB/s (1 thread), ${(bw.t2 / GB).toFixed(1)} GB/s (2 threads). ${json.generated}.`,
      '',
      table,
      '',
      ...legend.map((l) => `${l}  `),
      ...(notes.length ? ['', 'Notes:', '', ...notes.map((n) => `- ${n}`)] : []),
      ...(conc ? ['', '## Async under load', '', conc.table] : []),
      ...(check
        ? ['', '## Self-check', '', check.table, ...(check.problems.length ? ['', ...check.problems.map((p) => `- ${p}`)] : [])]
        : []),
      '',
    ].join('\n'),
  )

  const panel = (loss, title) => {
    const sel = rows.filter((r) => r.loss === loss && r.mode === 'forward+grad')
    const series = impls.map((im) => ({
      key: im.key,
      label: im.label,
      points: sel.filter((r) => r.results[im.key]?.medianMs).map((r) => [r.elements, r.results[im.key].elementsPerSecond]),
    }))
    series.push({
      key: 'bound',
      label: `memory bound, 1 thread (${(bw.t1 / GB).toFixed(0)} GB/s)`,
      points: sel.filter((r) => r.boundMs['1t']).map((r) => [r.elements, r.elements / (r.boundMs['1t'] / 1e3)]),
    })
    return { title, subtitle: 'forward + gradient, float32, mean', series, xLabel: 'elements (N·C or n)' }
  }
  const panels = [
    panel('crossEntropy', 'crossEntropy (class-index targets)'),
    panel('binaryCrossEntropyWithLogits', 'binaryCrossEntropyWithLogits'),
  ].filter((p) => p.series.some((s) => s.points.length))
  const svgPath = path.join(OUT, `chart${SUFFIX}.svg`)
  if (panels.length) {
    writeFileSync(
      svgPath,
      renderChart({
        title: 'losskit vs plain JS, TensorFlow.js and PyTorch — throughput',
        subtitle: `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}${QUICK ? ' (quick run)' : ''}`,
        panels,
        note: 'Median time per call; elements/s = input elements ÷ time. Log–log axes; higher is better. Dotted: DRAM bound (reads and writes).',
      }),
    )
  }
  console.log(
    `\nwrote ${path.relative(ROOT, jsonPath)}, ${path.relative(ROOT, mdPath)}${panels.length ? `, ${path.relative(ROOT, svgPath)}` : ''} in ${(msSince(t0) / 1e3).toFixed(0)} s`,
  )
  if (check?.problems.length) console.log(`\n${check.problems.length} self-check mismatch(es): see above.`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
