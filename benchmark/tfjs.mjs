// TensorFlow.js (4.22) implementations of the benchmarked losses, for the
// `cpu` (pure JS) and `wasm` (WebAssembly SIMD, single thread in Node) backends.
//
// Each case builds its tensors once, outside the timed loop: the inputs are
// uploaded and the class-index targets one-hot encoded beforehand (tfjs has no
// sparse cross entropy), which favours tfjs. The timed call computes the loss
// (and, for `grad`, d(loss)/d(input) via tf.valueAndGrad — or one gradient per
// input via tf.valueAndGrads for the two-input losses), reads the scalar
// loss back and disposes every tensor it made; the gradient stays a tensor, as
// it would in a tfjs training loop.
//
//   crossEntropy    tf.losses.softmaxCrossEntropy(oneHot, logits)
//   nllLoss         -sum(oneHot · logp) / N
//   klDiv           mean(t · (log t - x))
//   binaryCrossEntropy            tf.losses.logLoss(t, p)   (tfjs adds ε = 1e-7
//                                 inside the logs where PyTorch clamps at -100)
//   binaryCrossEntropyWithLogits  tf.losses.sigmoidCrossEntropy(t, x)
//   mseLoss         tf.losses.meanSquaredError(t, x)
//   l1Loss          tf.losses.absoluteDifference(t, x)
//   huberLoss       tf.losses.huberLoss(t, x) (tfjs: 0.5·min(|d|, δ)² + δ·(|d| − min(|d|, δ)),
//                   δ = 1, = PyTorch's huber_loss with delta 1)
//   smoothL1Loss    tf.losses.huberLoss(t, x) with δ = 1 (= PyTorch's smooth_l1_loss at β = 1)
//   gaussianNllLoss no tfjs equivalent (tfSupports() is false: the table shows –)
//   poissonNllLoss  no tfjs equivalent (tfSupports() is false: the table shows –)
//   marginRankingLoss  tf.losses.hingeLoss(labels, x1 − x2), labels = (y + 1)/2 ∈ {0, 1}
//                   made outside the timed loop: tfjs maps them back to y = ±1 and takes
//                   mean(relu(1 − y·(x1 − x2))) = PyTorch's margin_ranking_loss at
//                   margin 1. Both inputs are differentiated (tf.valueAndGrads), as
//                   losskit returns both gradients (the benchmark's input2 is zeros).
//   tripletMarginLoss  no tfjs equivalent (tfSupports() is false: the table shows –)
//   cosineEmbeddingLoss  only the all-targets-1 variant ('y1'): tf.losses.cosineDistance
//                   is mean(1 − Σ a·b) along an axis for inputs already l2-normalised,
//                   which is PyTorch's loss where y = 1 (no hinge for y = −1). Each
//                   input is normalised inside the differentiated function as
//                   x / sqrt(Σx² + 1e-12), so the gradients are with respect to the raw
//                   inputs and Σ x1/‖x1‖ · x2/‖x2‖ = Σx1x2 / sqrt((Σx1² + 1e-12)(Σx2² + 1e-12)),
//                   PyTorch's cos exactly. Mixed ±1 targets: no tfjs column (–).
//   ctcLoss         no tfjs equivalent (TF.js has no CTC loss; tfSupports() is false: –)

import { createRequire } from 'node:module'

const require = createRequire(new URL('../package.json', import.meta.url))

let tf

/** Loads tfjs and the wasm backend; returns { tf, version, wasm } or throws. */
export async function loadTf() {
  if (tf) return info()
  // tfjs's cpu backend greets Node users with a hint to install tfjs-node
  // (native TensorFlow, which needs a download at install time): keep the
  // benchmark's output clean.
  const warn = console.warn
  console.warn = (...a) => {
    if (!String(a[0]).includes('tfjs-node')) warn(...a)
  }
  try {
    tf = require('@tensorflow/tfjs')
    require('@tensorflow/tfjs-backend-wasm')
    await tf.setBackend('cpu')
    tf.tidy(() => tf.add(tf.scalar(1), 1).dataSync())
  } finally {
    console.warn = warn
  }
  return info()
}

async function info() {
  const out = { tf, version: tf.version.tfjs, wasm: null }
  try {
    await tf.setBackend('wasm')
    await tf.ready()
    out.wasm = {
      simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
      multithread: await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'),
    }
  } catch (e) {
    out.wasmError = String(e?.message ?? e)
  }
  await tf.setBackend('cpu')
  return out
}

export async function useBackend(name) {
  const ok = await tf.setBackend(name)
  if (!ok) throw new Error(`tfjs backend ${name} failed to initialise`)
  await tf.ready()
}

function lossFn(w, d) {
  switch (w.loss) {
    case 'crossEntropy': {
      const labels = tf.tidy(() => tf.oneHot(tf.tensor1d(d.target, 'int32'), w.c).toFloat())
      const x = tf.tensor2d(d.input, [w.n, w.c])
      return { x, keep: [labels], f: (xx) => tf.losses.softmaxCrossEntropy(labels, xx) }
    }
    case 'nllLoss': {
      // tf.gather's gradient (UnsortedSegmentSum) is quadratic on the cpu
      // backend and missing on wasm: a one-hot mask is tfjs's practical NLL.
      const labels = tf.tidy(() => tf.oneHot(tf.tensor1d(d.target, 'int32'), w.c).toFloat())
      const x = tf.tensor2d(d.input, [w.n, w.c])
      return { x, keep: [labels], f: (xx) => tf.div(tf.sum(tf.mul(labels, xx)), -w.n) }
    }
    case 'klDiv': {
      const t = tf.tensor1d(d.target)
      return { x: tf.tensor1d(d.input), keep: [t], f: (xx) => tf.mean(tf.mul(t, tf.sub(tf.log(t), xx))) }
    }
    case 'binaryCrossEntropy': {
      const t = tf.tensor1d(d.target)
      return { x: tf.tensor1d(d.input), keep: [t], f: (xx) => tf.losses.logLoss(t, xx) }
    }
    case 'binaryCrossEntropyWithLogits': {
      const t = tf.tensor1d(d.target)
      return { x: tf.tensor1d(d.input), keep: [t], f: (xx) => tf.losses.sigmoidCrossEntropy(t, xx) }
    }
    case 'mseLoss': {
      const t = tf.tensor1d(d.target)
      return { x: tf.tensor1d(d.input), keep: [t], f: (xx) => tf.losses.meanSquaredError(t, xx) }
    }
    case 'l1Loss': {
      const t = tf.tensor1d(d.target)
      return { x: tf.tensor1d(d.input), keep: [t], f: (xx) => tf.losses.absoluteDifference(t, xx) }
    }
    case 'huberLoss': {
      const t = tf.tensor1d(d.target)
      return { x: tf.tensor1d(d.input), keep: [t], f: (xx) => tf.losses.huberLoss(t, xx, undefined, 1) }
    }
    case 'smoothL1Loss': {
      // tfjs has no smooth L1: its Huber loss with δ = 1 is the same function at β = 1
      const t = tf.tensor1d(d.target)
      return { x: tf.tensor1d(d.input), keep: [t], f: (xx) => tf.losses.huberLoss(t, xx, undefined, 1) }
    }
    case 'marginRankingLoss': {
      const [input1, input2, target] = d.args
      const labels = tf.tidy(() => tf.div(tf.add(tf.tensor1d(target), 1), 2))
      return {
        xs: [tf.tensor1d(input1), tf.tensor1d(input2)],
        keep: [labels],
        f: (a, b) => tf.losses.hingeLoss(labels, tf.sub(a, b)),
      }
    }
    case 'cosineEmbeddingLoss': {
      if (w.variant !== 'y1') throw new Error('tfjs: cosineEmbeddingLoss only with every target 1')
      const [input1, input2] = d.args
      const shape = [w.n, w.dim]
      const unit = (x) => tf.div(x, tf.sqrt(tf.add(tf.sum(tf.square(x), 1, true), 1e-12)))
      return {
        xs: [tf.tensor2d(input1, shape), tf.tensor2d(input2, shape)],
        keep: [],
        f: (a, b) => tf.losses.cosineDistance(unit(a), unit(b), 1),
      }
    }
    default:
      throw new Error(`tfjs: unknown loss ${w.loss}`)
  }
}

const SUPPORTED = new Set([
  'crossEntropy',
  'nllLoss',
  'klDiv',
  'binaryCrossEntropy',
  'binaryCrossEntropyWithLogits',
  'mseLoss',
  'l1Loss',
  'huberLoss',
  'smoothL1Loss',
  'marginRankingLoss',
])
/** Whether tfjs has a counterpart of `loss` (workload variant `variant`) here (no column entry otherwise). */
export function tfSupports(loss, variant) {
  if (loss === 'cosineEmbeddingLoss') return variant === 'y1'
  return SUPPORTED.has(loss)
}

/**
 * Prepares workload `w` (with data `d`) on the current backend.
 * Returns { call, dispose } where call() runs one timed iteration.
 */
export function tfCase(w, d, grad) {
  const { x, xs, keep, f } = lossFn(w, d)
  let call
  if (xs) {
    // several inputs: f(...xs), and with grad one gradient per input
    if (!grad) {
      call = () => {
        const l = tf.tidy(() => f(...xs))
        const v = l.dataSync()[0]
        l.dispose()
        return v
      }
    } else {
      const vg = tf.valueAndGrads(f)
      call = () => {
        const { value, grads } = vg(xs)
        const v = value.dataSync()[0]
        value.dispose()
        for (const g of grads) g.dispose()
        return v
      }
    }
  } else if (!grad) {
    call = () => {
      const l = tf.tidy(() => f(x))
      const v = l.dataSync()[0]
      l.dispose()
      return v
    }
  } else {
    const vg = tf.valueAndGrad(f)
    call = () => {
      const { value, grad: g } = vg(x)
      const v = value.dataSync()[0]
      value.dispose()
      g.dispose()
      return v
    }
  }
  return {
    call,
    dispose() {
      x?.dispose()
      for (const t of xs ?? []) t.dispose()
      for (const t of keep) t.dispose()
    },
  }
}

export function numTensors() {
  return tf.memory().numTensors
}
