// klDiv / klDivWithGrad / KLDivLoss vs PyTorch's F.kl_div.
// Golden values: fixtures/kl_div.json (fixtures/generate.py), e.g.
//   F.kl_div(x, t, reduction='batchmean', log_target=True)
// with the gradient from torch.autograd (−t·g, or −exp(t)·g for logTarget).

import test from 'ava'
import { crossEntropy, entropy, KLDivLoss, klDiv, klDivWithGrad, logSoftmax } from 'losskit'
import { checkFiniteDifferences, type LossApi, registerContractTests, registerLossFixtures } from './_loss_runner.js'
import { assertClose, type DType, F64, floatCtor, isTensorLike, Rng, type Tensor } from './_util.js'

const api: LossApi = {
  name: 'klDiv',
  fn: klDiv,
  withGrad: klDivWithGrad,
  Module: KLDivLoss as unknown as LossApi['Module'],
}

const registered = registerLossFixtures(test, 'kl_div', { klDiv: api })

test('kl_div fixtures are all registered', (t) => {
  t.true(registered > 150, `only ${registered} fixture tests registered`)
})

registerContractTests(test, api, {
  floatTarget: true,
  floatOptions: [],
  sample: (dtype: DType) => {
    const F = floatCtor(dtype)
    return {
      input: { data: F.from([-0.5, -1.25, -2, -0.125, -1, -1.5]), shape: [2, 3] },
      target: { data: F.from([0.25, 0.25, 0.5, 0, 0.75, 0.25]), shape: [2, 3] },
      options: {},
      noneShape: [2, 3],
    }
  },
})

test('klDiv accepts reduction batchmean and logTarget in the module too', (t) => {
  const x = { data: Float64Array.from([-0.5, -1.25, -2, -0.125]), shape: [2, 2] }
  const p = { data: Float64Array.from([0.25, 0.75, 0.5, 0.5]), shape: [2, 2] }
  const sum = klDiv(x, p, { reduction: 'sum' }) as number
  assertClose(t, klDiv(x, p, { reduction: 'batchmean' }), sum / 2, { ...F64, label: 'batchmean = sum / N' })
  assertClose(t, new KLDivLoss({ reduction: 'batchmean' }).forward(x, p), sum / 2, { ...F64, label: 'module batchmean' })
  const logp = { data: p.data.map(Math.log), shape: p.shape }
  assertClose(t, klDiv(x, logp, { reduction: 'sum', logTarget: true }), sum, { ...F64, label: 'logTarget' })
  assertClose(t, new KLDivLoss({ reduction: 'sum', logTarget: true }).forward(x, logp), sum, { ...F64, label: 'module logTarget' })
})

test('klDiv gradient matches float64 finite differences', (t) => {
  const rng = new Rng(31)
  for (const reduction of ['none', 'mean', 'sum', 'batchmean'] as const) {
    for (const logTarget of [false, true]) {
      const p = rng.simplexRows(3, 4)
      const target = { data: logTarget ? p.map(Math.log) : p, shape: [3, 4] }
      const input = { data: rng.normals(12), shape: [3, 4] }
      checkFiniteDifferences(
        t,
        api,
        {
          input,
          target,
          options: { reduction, logTarget },
          gradOutput: reduction === 'none' ? { data: rng.normals(12), shape: [3, 4] } : 0.7,
        },
        `(3,4) ${reduction} logTarget=${logTarget}`,
      )
    }
  }
  checkFiniteDifferences(
    t,
    api,
    {
      input: { data: Float64Array.of(-0.7), shape: [] },
      target: { data: Float64Array.of(0.3), shape: [] },
      options: { reduction: 'none' },
      gradOutput: -1.7,
    },
    '0-d none',
  )
})

test('klDiv(logSoftmax(x), p, sum) equals -Σ entropy(p) + crossEntropy(x, p, sum) (seed identity)', (t) => {
  const rng = new Rng(37)
  for (const [n, c] of [
    [1, 10],
    [4, 3],
    [6, 7],
  ]) {
    const x = { data: rng.normals(n * c, 2), shape: [n, c] }
    const p = { data: rng.simplexRows(n, c), shape: [n, c] }
    const kl = klDiv(logSoftmax(x, { dim: -1 }) as Tensor<Float64Array>, p, { reduction: 'sum' }) as number
    const h = entropy(p, { dim: -1 })
    const hs = isTensorLike(h) ? Array.from(h.data as Float64Array).reduce((a, b) => a + b, 0) : (h as number)
    const ce = crossEntropy(x, p, { reduction: 'sum' }) as number
    t.is(typeof kl, 'number')
    assertClose(t, kl, -hs + ce, { rtol: 1e-9, atol: 1e-12, label: `[${n}, ${c}]` })
  }
  // unbatched, exactly as in the seed document
  const x = { data: rng.normals(10), shape: [10] }
  const p = { data: rng.simplexRows(1, 10), shape: [10] }
  const kl = klDiv(logSoftmax(x) as Tensor<Float64Array>, p, { reduction: 'sum' })
  const ce: unknown = (crossEntropy as LossApi['fn'])(x, p, { reduction: 'none' })
  const h = entropy(p)
  t.is(typeof ce, 'number', "crossEntropy 'none' on unbatched input is a number")
  t.is(typeof kl, 'number')
  t.is(typeof h, 'number', 'entropy of a 1-d distribution is a number')
  assertClose(t, kl, -(h as number) + (ce as number), { ...F64, label: 'unbatched' })
})
