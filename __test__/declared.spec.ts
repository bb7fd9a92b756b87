// Every loss declared in index.ts's LOSSES without a spec of its own (the
// regression losses) against PyTorch: fixtures/<snake_case name>.json, made by
// fixtures/generate.py, e.g.
//   F.smooth_l1_loss(x, t, beta=0.5, reduction='sum')
//   F.gaussian_nll_loss(x, t, var, full=True, eps=1e-2)
// A declared loss gets its fixtures, contract and finite-difference tests here
// from its declaration alone: its name, module and argument list.

import { existsSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import * as L from 'losskit'
import { checkFiniteDifferences, type LossApi, registerContractTests, registerLossFixtures } from './_loss_runner.js'
import { type DType, FIXTURE_DIR, floatCtor, Rng } from './_util.js'

// biome-ignore lint/suspicious/noExplicitAny: the losses are looked up by name
type Any = any

/** Losses whose spec files (kl_div, bce, bce_with_logits) test them with more than this file does. */
const OWN_SPEC = new Set(['klDiv', 'binaryCrossEntropy', 'binaryCrossEntropyWithLogits'])

const snake = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase()

for (const [name, decl] of Object.entries(L.__impl.losses)) {
  if (OWN_SPEC.has(name)) continue
  const api: LossApi = {
    name,
    fn: (L as Any)[name],
    withGrad: (L as Any)[`${name}WithGrad`],
    Module: (L as Any)[decl.module],
  }
  const fixture = snake(name)
  test(`${name}: exported as a function, a WithGrad function and the module ${decl.module}, with fixtures/${fixture}.json`, (t) => {
    t.is(typeof api.fn, 'function')
    t.is(typeof api.withGrad, 'function')
    t.is(typeof api.Module, 'function')
    t.true(
      existsSync(join(FIXTURE_DIR, `${fixture}.json`)),
      `fixtures/${fixture}.json is missing: run /usr/bin/python3 __test__/fixtures/generate.py`,
    )
  })
  if (!existsSync(join(FIXTURE_DIR, `${fixture}.json`))) continue
  const registered = registerLossFixtures(test, fixture, { [name]: api })
  test(`${fixture} fixtures are all registered`, (t) => {
    t.true(registered >= 40, `only ${registered} fixture tests registered`)
  })

  const withVariance = decl.args.length === 2
  registerContractTests(test, api, {
    floatTarget: true,
    floatOptions: [],
    sample: (dtype: DType) => {
      const F = floatCtor(dtype)
      return {
        input: { data: F.from([0.5, 1.25, 2, 0.125, 1, 1.5]), shape: [2, 3] },
        target: { data: F.from([0, 1, 1, 0.5, 0, 1]), shape: [2, 3] },
        extra: withVariance ? [{ data: F.from([0.5, 1, 2, 0.25, 1.5, 3]), shape: [2, 3] }] : [],
        options: {},
        noneShape: [2, 3],
      }
    },
  })

  test(`${name} gradient matches float64 finite differences (every reduction)`, (t) => {
    const rng = new Rng(53)
    for (const reduction of ['none', 'mean', 'sum'] as const) {
      // inputs away from the kinks of L1 / SmoothL1 / Huber (|x − t| not near 0 or beta/delta)
      const target = rng.uniforms(12, -1, 1)
      const input = Float64Array.from(target, (v, i) => v + (i % 2 ? 1 : -1) * (0.3 + 0.2 * (i % 3)))
      const extra = withVariance ? [{ data: rng.uniforms(12, 0.2, 2), shape: [4, 3] }] : []
      const fd = (o: Record<string, unknown>) =>
        checkFiniteDifferences(
          t,
          {
            ...api,
            fn: (x: unknown, tt: unknown, opts: unknown) => api.fn(x, tt, ...extra, opts),
            withGrad: (x: unknown, tt: unknown, opts: unknown) => {
              const r = api.withGrad(x, tt, ...extra, opts)
              return r.grads ? { loss: r.loss, grad: r.grads.input } : r
            },
          },
          {
            input: { data: name === 'poissonNllLoss' && o.logInput === false ? input.map(Math.abs) : input, shape: [4, 3] },
            target: { data: name === 'poissonNllLoss' ? target.map(Math.abs) : target, shape: [4, 3] },
            options: o,
            gradOutput: reduction === 'none' ? { data: rng.normals(12), shape: [4, 3] } : 0.7,
          },
          `(4,3) ${reduction} ${JSON.stringify(o)}`,
        )
      fd({ reduction })
      for (const [key, sd] of Object.entries(decl.scalars)) {
        if (sd.kind === 'boolean') fd({ reduction, [key]: !sd.default })
      }
    }
  })
}

// losskit/async: every declared loss's async twin gives the sync form's bits,
// small (staged at once) and large (staged in slices), with and without out/gradOut.
for (const name of Object.keys(L.__impl.losses)) {
  const decl = (L.__impl.losses as Any)[name]
  test(`${name} through losskit/async: the same bits as sync (small and staged, out/gradOut)`, async (t) => {
    const A: Any = await import('losskit/async')
    const rng = new Rng(7)
    for (const n of [12, 300_000]) {
      for (const reduction of ['none', 'mean'] as const) {
        const shape = [n / 3, 3]
        const u = rng.uniforms(n, 0.05, 0.95)
        const x = { data: Float32Array.from(u), shape }
        const tt = { data: Float32Array.from(rng.uniforms(n, 0, 1)), shape }
        const extra = decl.args.length === 2 ? [{ data: Float32Array.from(rng.uniforms(n, 0.2, 2)), shape }] : []
        const multi = extra.length > 0
        const buffers = () => {
          const g = new Float32Array(n)
          return { out: reduction === 'none' ? new Float32Array(n) : undefined, g, gradOut: multi ? { input: g } : g }
        }
        const b1 = buffers()
        const sync = (L as Any)[`${name}WithGrad`](x, tt, ...extra, { reduction, out: b1.out, gradOut: b1.gradOut })
        const b2 = buffers()
        const asy = await A[`${name}WithGrad`](x, tt, ...extra, { reduction, out: b2.out, gradOut: b2.gradOut })
        const label = `${name} n=${n} ${reduction}`
        const same = (a: Float32Array, b: Float32Array) => Buffer.compare(Buffer.from(a.buffer), Buffer.from(b.buffer)) === 0
        if (reduction === 'none') t.true(same(asy.loss.data, sync.loss.data), `${label} loss`)
        else t.is(Object.is(asy.loss, sync.loss), true, `${label} loss ${asy.loss} vs ${sync.loss}`)
        t.true(same(b2.g, b1.g), `${label} grad`)
        t.is(multi ? asy.grads.input.data : asy.grad.data, b2.g, `${label}: the gradient is the caller's gradOut`)
        const plain = await A[name](x, tt, ...extra, { reduction })
        if (reduction === 'mean') t.is(Object.is(plain, sync.loss), true, `${label} forward`)
      }
    }
    await t.throwsAsync(A[name]('x', 'y', ...(decl.args.length === 2 ? [1] : []), {}), { code: 'ERR_INVALID_ARG_TYPE' })
  })
}
