// binaryCrossEntropy / binaryCrossEntropyWithGrad / BCELoss vs PyTorch's F.binary_cross_entropy.
// Golden values: fixtures/bce.json (fixtures/generate.py), e.g.
//   F.binary_cross_entropy(x, t, weight=w, reduction='sum')
// log clamped at −100; gradient g·w·(x − t) / max((1 − x)·x, float32(1e−12)) as in aten.

import test from 'ava'
import { BCELoss, binaryCrossEntropy, binaryCrossEntropyWithGrad } from 'losskit'
import { checkFiniteDifferences, type LossApi, registerContractTests, registerLossFixtures } from './_loss_runner.js'
import { type DType, floatCtor, Rng } from './_util.js'

const api: LossApi = {
  name: 'binaryCrossEntropy',
  fn: binaryCrossEntropy,
  withGrad: binaryCrossEntropyWithGrad,
  Module: BCELoss as unknown as LossApi['Module'],
}

const registered = registerLossFixtures(test, 'bce', { binaryCrossEntropy: api })

test('bce fixtures are all registered', (t) => {
  t.true(registered > 250, `only ${registered} fixture tests registered`)
})

registerContractTests(test, api, {
  floatTarget: true,
  floatOptions: ['weight'],
  sample: (dtype: DType) => {
    const F = floatCtor(dtype)
    return {
      input: { data: F.from([0.5, 0.25, 0.125, 0.75, 0.875, 0.0625]), shape: [2, 3] },
      target: { data: F.from([1, 0, 0.5, 1, 0.25, 0]), shape: [2, 3] },
      options: { weight: { data: F.from([0.5, 2]), shape: [2, 1] } },
      noneShape: [2, 3],
    }
  },
})

test('binaryCrossEntropy gradient matches float64 finite differences (inputs away from 0 and 1)', (t) => {
  const rng = new Rng(41)
  const weights: [string, { data: Float64Array; shape: number[] } | undefined][] = [
    ['none', undefined],
    ['same', { data: rng.uniforms(12, 0.1, 2), shape: [4, 3] }],
    ['lastdim', { data: rng.uniforms(3, 0.1, 2), shape: [3] }],
    ['Nx1', { data: rng.uniforms(4, 0.1, 2), shape: [4, 1] }],
    ['scalar', { data: Float64Array.of(1.7), shape: [] }],
  ]
  for (const reduction of ['none', 'mean', 'sum'] as const) {
    for (const [wl, weight] of weights) {
      const options = weight ? { reduction, weight } : { reduction }
      checkFiniteDifferences(
        t,
        api,
        {
          input: { data: rng.uniforms(12, 0.05, 0.95), shape: [4, 3] },
          target: { data: rng.uniforms(12, 0, 1), shape: [4, 3] },
          options,
          gradOutput: reduction === 'none' ? { data: rng.normals(12), shape: [4, 3] } : 0.7,
        },
        `(4,3) weight=${wl} ${reduction}`,
      )
    }
  }
})
