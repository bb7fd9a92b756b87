// binaryCrossEntropyWithLogits / binaryCrossEntropyWithLogitsWithGrad / BCEWithLogitsLoss
// vs PyTorch's F.binary_cross_entropy_with_logits.
// Golden values: fixtures/bce_with_logits.json (fixtures/generate.py), e.g.
//   F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, reduction='mean')

import test from 'ava'
import { BCEWithLogitsLoss, binaryCrossEntropy, binaryCrossEntropyWithLogits, binaryCrossEntropyWithLogitsWithGrad, sigmoid } from 'losskit'
import { checkFiniteDifferences, type LossApi, registerContractTests, registerLossFixtures } from './_loss_runner.js'
import { assertClose, type DType, floatCtor, Rng } from './_util.js'

const api: LossApi = {
  name: 'binaryCrossEntropyWithLogits',
  fn: binaryCrossEntropyWithLogits,
  withGrad: binaryCrossEntropyWithLogitsWithGrad,
  Module: BCEWithLogitsLoss as unknown as LossApi['Module'],
}

const registered = registerLossFixtures(test, 'bce_with_logits', { binaryCrossEntropyWithLogits: api })

test('bce_with_logits fixtures are all registered', (t) => {
  t.true(registered > 500, `only ${registered} fixture tests registered`)
})

registerContractTests(test, api, {
  floatTarget: true,
  floatOptions: ['weight', 'posWeight'],
  sample: (dtype: DType) => {
    const F = floatCtor(dtype)
    return {
      input: { data: F.from([0.5, -2.25, 3.125, 0.75, -0.875, 10]), shape: [2, 3] },
      target: { data: F.from([1, 0, 0.5, 1, 0.25, 0]), shape: [2, 3] },
      options: { weight: { data: F.from([0.5, 2]), shape: [2, 1] }, posWeight: { data: F.from([1, 3, 0.5]), shape: [3] } },
      noneShape: [2, 3],
    }
  },
})

test('binaryCrossEntropyWithLogits gradient matches float64 finite differences', (t) => {
  const rng = new Rng(43)
  const shapes: [string, number[] | undefined][] = [
    ['none', undefined],
    ['lastdim', [3]],
    ['Nx1', [4, 1]],
    ['single', [1]],
  ]
  for (const reduction of ['none', 'mean', 'sum'] as const) {
    for (const [wl, ws] of shapes) {
      for (const [pl, ps] of shapes) {
        const options: Record<string, unknown> = { reduction }
        if (ws)
          options.weight = {
            data: rng.uniforms(
              ws.reduce((a, b) => a * b, 1),
              0.1,
              2,
            ),
            shape: ws,
          }
        if (ps)
          options.posWeight = {
            data: rng.uniforms(
              ps.reduce((a, b) => a * b, 1),
              0.2,
              4,
            ),
            shape: ps,
          }
        checkFiniteDifferences(
          t,
          api,
          {
            input: { data: rng.normals(12, 3), shape: [4, 3] },
            target: { data: rng.uniforms(12, 0, 1), shape: [4, 3] },
            options,
            gradOutput: reduction === 'none' ? { data: rng.normals(12), shape: [4, 3] } : 0.7,
          },
          `(4,3) weight=${wl} posWeight=${pl} ${reduction}`,
        )
      }
    }
  }
})

test('binaryCrossEntropyWithLogits(x, t) equals binaryCrossEntropy(sigmoid(x), t) for moderate logits', (t) => {
  const rng = new Rng(47)
  const x = { data: rng.normals(20, 2), shape: [4, 5] }
  const tg = { data: rng.uniforms(20), shape: [4, 5] }
  const weight = { data: rng.uniforms(5, 0.1, 2), shape: [5] }
  for (const reduction of ['none', 'mean', 'sum'] as const) {
    const a = binaryCrossEntropyWithLogits(x, tg, { reduction, weight })
    const b = binaryCrossEntropy(sigmoid(x), tg, { reduction, weight })
    assertClose(t, a, b as number, { rtol: 1e-10, atol: 1e-12, label: reduction })
  }
})
