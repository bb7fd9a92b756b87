// nllLoss / nllLossWithGrad / NLLLoss vs PyTorch's F.nll_loss.
// Golden values: fixtures/nll.json (fixtures/generate.py), e.g.
//   F.nll_loss(x, t, weight=w, ignore_index=-100, reduction='mean')
// with the gradient from torch.autograd.

import test from 'ava'
import { NLLLoss, nllLoss, nllLossWithGrad } from 'losskit'
import { checkFiniteDifferences, f32Values, type LossApi, registerContractTests, registerLossFixtures } from './_loss_runner.js'
import { type DType, floatCtor, Rng } from './_util.js'

const api: LossApi = {
  name: 'nllLoss',
  fn: nllLoss,
  withGrad: nllLossWithGrad,
  Module: NLLLoss as unknown as LossApi['Module'],
}

const registered = registerLossFixtures(test, 'nll', { nllLoss: api })

test('nll fixtures are all registered', (t) => {
  t.true(registered > 400, `only ${registered} fixture tests registered`)
})

registerContractTests(test, api, {
  floatTarget: false,
  floatOptions: ['weight'],
  sample: (dtype: DType) => {
    const F = floatCtor(dtype)
    return {
      input: { data: F.from(f32Values([-0.5, -1.25, -2, -0.125, -1, -1.5, -0.75, -0.25, -2, 0, -3, -0.5])), shape: [3, 4] },
      target: { data: BigInt64Array.from([0n, 3n, 1n]), shape: [3] },
      options: { weight: { data: F.from([0.5, 1, 2, 0.25]), shape: [4] }, ignoreIndex: 3 },
      noneShape: [3],
    }
  },
})

test('nllLoss gradient matches float64 finite differences', (t) => {
  const rng = new Rng(23)
  const w = (c: number) => ({ data: rng.uniforms(c, 0.2, 2), shape: [c] })
  const tg = Int32Array.from([0, 2, -100, 1, 2])
  checkFiniteDifferences(
    t,
    api,
    {
      input: { data: rng.normals(15), shape: [5, 3] },
      target: { data: tg, shape: [5] },
      options: { weight: w(3), reduction: 'mean' },
    },
    '(5,3) weighted mean with ignored',
  )
  checkFiniteDifferences(
    t,
    api,
    {
      input: { data: rng.normals(12), shape: [2, 3, 2] },
      target: { data: BigInt64Array.from([0n, 2n, 1n, 1n]), shape: [2, 2] },
      options: { reduction: 'none', ignoreIndex: 1 },
      gradOutput: { data: rng.normals(4), shape: [2, 2] },
    },
    '(2,3,2) none ignoreIndex=1 random gradOutput',
  )
  checkFiniteDifferences(
    t,
    api,
    {
      input: { data: rng.normals(5), shape: [5] },
      target: 4,
      options: { reduction: 'sum', weight: w(5) },
      gradOutput: 0.7,
    },
    '(5) number target weighted sum g=0.7',
  )
})
