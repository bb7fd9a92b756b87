// crossEntropy / crossEntropyWithGrad / CrossEntropyLoss vs PyTorch's F.cross_entropy.
// Golden values: fixtures/cross_entropy.json (fixtures/generate.py), e.g.
//   F.cross_entropy(x, t, weight=w, ignore_index=1, reduction='mean', label_smoothing=0.1)
// with the gradient from torch.autograd (loss.backward(gradOutput)).

import test from 'ava'
import { CrossEntropyLoss, crossEntropy, crossEntropyWithGrad, logSoftmax, nllLoss, tensor } from 'losskit'
import { checkFiniteDifferences, f32Values, type LossApi, registerContractTests, registerLossFixtures } from './_loss_runner.js'
import { assertClose, type DType, F64, floatCtor, Rng, type Tensor } from './_util.js'

const api: LossApi = {
  name: 'crossEntropy',
  fn: crossEntropy,
  withGrad: crossEntropyWithGrad,
  Module: CrossEntropyLoss as unknown as LossApi['Module'],
}

const registered = registerLossFixtures(test, 'cross_entropy', { crossEntropy: api })

test('cross_entropy fixtures are all registered', (t) => {
  t.true(registered > 1000, `only ${registered} fixture tests registered`)
})

// --- API contract (wrong types, buffers) ---------------------------------

registerContractTests(test, api, {
  label: 'class indices',
  floatTarget: false,
  floatOptions: ['weight'],
  sample: (dtype: DType) => {
    const F = floatCtor(dtype)
    return {
      input: { data: F.from(f32Values([0.5, -1.25, 2, 0.125, 1, 1.5, -0.75, 0.25, -2, 0, 3, 0.5])), shape: [3, 4] },
      target: { data: Int32Array.from([0, 3, 1]), shape: [3] },
      options: { weight: { data: F.from([0.5, 1, 2, 0.25]), shape: [4] }, labelSmoothing: 0.25 },
      noneShape: [3],
    }
  },
})

registerContractTests(test, api, {
  label: 'class probabilities',
  floatTarget: true,
  floatOptions: ['weight'],
  sample: (dtype: DType) => {
    const F = floatCtor(dtype)
    return {
      input: { data: F.from([0.5, -1.25, 2, 0.125, 1, 1.5, -0.75, 0.25]), shape: [2, 4] },
      target: { data: F.from([0.25, 0.25, 0.5, 0, 0.125, 0.125, 0.25, 0.5]), shape: [2, 4] },
      options: { weight: { data: F.from([0.5, 1, 2, 0.25]), shape: [4] } },
      noneShape: [2],
    }
  },
})

registerContractTests(test, api, {
  label: 'no options',
  floatTarget: false,
  floatOptions: [],
  sample: (dtype: DType) => {
    const F = floatCtor(dtype)
    return {
      input: { data: F.from([0.5, -1.25, 2, 0.125, 1, 1.5]), shape: [2, 3] },
      target: { data: BigInt64Array.from([2n, 0n]), shape: [2] },
      options: {},
      noneShape: [2],
    }
  },
})

test('crossEntropy accepts tensor(data, shape) inputs and a bare Float64Array for an unbatched input', (t) => {
  const x = Float64Array.from([0.5, -1.25, 2, 0.125])
  // F.cross_entropy(torch.tensor([0.5, -1.25, 2, 0.125]), torch.tensor(2)) = 0.3489...; checked against the tensor form
  const a = crossEntropy(tensor(x, [4]), 2)
  const b = crossEntropy(x, 2)
  const c = crossEntropy(tensor(x), 2)
  t.is(typeof a, 'number')
  assertClose(t, b, a as number, { ...F64, label: 'bare vs tensor()' })
  assertClose(t, c, a as number, { ...F64, label: 'tensor(x) default shape' })
  // by hand: logsumexp - x[2]
  const m = Math.max(...x)
  const lse = m + Math.log(x.reduce((s, v) => s + Math.exp(v - m), 0))
  assertClose(t, a as number, lse - x[2], { ...F64, label: 'by hand' })
})

// --- gradients vs finite differences of the loss (float64) ---------------

test('crossEntropy gradient matches float64 finite differences', (t) => {
  const rng = new Rng(7)
  const w = (c: number) => ({ data: rng.uniforms(c, 0.2, 2), shape: [c] })
  const cls = (n: number, c: number) => Int32Array.from({ length: n }, () => rng.int(c))

  // (N, C), weight, label smoothing, ignored targets, mean
  const t1 = cls(5, 4)
  t1[2] = -100
  checkFiniteDifferences(
    t,
    api,
    {
      input: { data: rng.normals(20, 2), shape: [5, 4] },
      target: { data: t1, shape: [5] },
      options: { weight: w(4), labelSmoothing: 0.2, reduction: 'mean' },
    },
    '(5,4) weight ls=0.2 ignore mean',
  )

  // (N, C, d) 'none' with a random upstream gradient
  checkFiniteDifferences(
    t,
    api,
    {
      input: { data: rng.normals(24, 1.5), shape: [3, 4, 2] },
      target: { data: BigInt64Array.from(cls(6, 4), (v) => BigInt(v)), shape: [3, 2] },
      options: { reduction: 'none', labelSmoothing: 0.1 },
      gradOutput: { data: rng.normals(6), shape: [3, 2] },
    },
    '(3,4,2) none ls=0.1 random gradOutput',
  )

  // (N, C, d1, d2) custom ignoreIndex that is a class, weighted mean, ls 0.5
  checkFiniteDifferences(
    t,
    api,
    {
      input: { data: rng.normals(2 * 3 * 2 * 2), shape: [2, 3, 2, 2] },
      target: { data: Int32Array.from([0, 1, 2, 1, 2, 0, 1, 2]), shape: [2, 2, 2] },
      options: { weight: w(3), ignoreIndex: 1, labelSmoothing: 0.5, reduction: 'mean' },
      gradOutput: 0.7,
    },
    '(2,3,2,2) ignoreIndex=1 ls=0.5 weighted mean g=0.7',
  )

  // class probabilities, weight, label smoothing, sum
  checkFiniteDifferences(
    t,
    api,
    {
      input: { data: rng.normals(12, 2), shape: [3, 4] },
      target: { data: rng.simplexRows(3, 4), shape: [3, 4] },
      options: { weight: w(4), labelSmoothing: 0.3, reduction: 'sum' },
      gradOutput: 0.7,
    },
    '(3,4) probabilities weight ls=0.3 sum',
  )

  // class probabilities over (N, C, d) with mean over N·d
  checkFiniteDifferences(
    t,
    api,
    {
      input: { data: rng.normals(18), shape: [2, 3, 3] },
      target: { data: rng.uniforms(18, 0, 1), shape: [2, 3, 3] },
      options: { reduction: 'mean' },
    },
    '(2,3,3) unnormalised probabilities mean',
  )

  // unbatched with a number target, 'none' → a number, gradOutput a number
  checkFiniteDifferences(
    t,
    api,
    {
      input: { data: rng.normals(6, 3), shape: [6] },
      target: 2,
      options: { reduction: 'none', labelSmoothing: 0.1 },
      gradOutput: -1.3,
    },
    '(6) number target none g=-1.3',
  )
})

// --- seed identity: crossEntropy = nllLoss ∘ logSoftmax ------------------

test('crossEntropy(x, t) equals nllLoss(logSoftmax(x, {dim: classDim}), t) (seed identity)', (t) => {
  const rng = new Rng(11)
  const cases: { shape: number[]; classDim: number }[] = [
    { shape: [7], classDim: 0 },
    { shape: [5, 4], classDim: 1 },
    { shape: [3, 5, 2], classDim: 1 },
    { shape: [2, 3, 2, 3], classDim: 1 },
  ]
  for (const { shape, classDim } of cases) {
    const C = shape[classDim]
    const n = shape.reduce((a, b) => a * b, 1)
    const x: Tensor<Float64Array> = { data: rng.normals(n, 3), shape }
    const tshape = shape.length === 1 ? [] : [shape[0], ...shape.slice(2)]
    const tn = tshape.reduce((a, b) => a * b, 1)
    const tgt = Int32Array.from({ length: tn }, () => rng.int(C))
    if (tn > 2) tgt[1] = -100
    const target = shape.length === 1 ? tgt[0] : { data: tgt, shape: tshape }
    const weight = { data: rng.uniforms(C, 0.1, 2), shape: [C] }
    const lsm = logSoftmax(x, { dim: classDim })
    for (const reduction of ['none', 'mean', 'sum'] as const) {
      for (const o of [{ reduction }, { reduction, weight }]) {
        const label = `shape [${shape}] ${reduction}${'weight' in o ? ' weighted' : ''}`
        const ce: unknown = api.fn(x, target, o)
        const nll: unknown = (nllLoss as LossApi['fn'])(lsm, target, o)
        assertClose(t, ce, typeof nll === 'number' ? nll : (nll as Tensor), { ...F64, label })
      }
    }
    // logSoftmax with the default dim is the class dim only for 1-d input
    if (shape.length === 1) {
      assertClose(t, logSoftmax(x), lsm as Tensor, { ...F64, label: 'logSoftmax default dim on 1-d' })
    }
  }
})
