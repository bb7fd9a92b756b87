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
import {
  type ArgsCase,
  argValue,
  checkFiniteDifferences,
  type LossApi,
  registerArgsFixtures,
  registerContractTests,
  registerLossFixtures,
} from './_loss_runner.js'
import { assertGradMatchesFiniteDifference, type DType, dotLoss, FIXTURE_DIR, floatCtor, loadFixtures, Rng, toOptions } from './_util.js'

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
  // The losses of one input and one target of its shape use the (input, target)
  // fixture schema; the others list their positional tensors ("args").
  const argsSchema = 'args' in (loadFixtures<object>(fixture).cases[0] ?? {})
  const registered = argsSchema ? registerArgsFixtures(test, fixture, api) : registerLossFixtures(test, fixture, { [name]: api })
  test(`${fixture} fixtures are all registered`, (t) => {
    t.true(registered >= 40, `only ${registered} fixture tests registered`)
  })

  if (argsSchema) {
    registerArgsFiniteDifferences(api, fixture)
    continue
  }
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

/**
 * d(gradOutput · loss)/d(argument) by float64 central differences against the
 * gradient losskit returns, for every differentiable argument, on the fixture's
 * finite float64 value cases away from edges (hinges not near their kinks).
 */
function registerArgsFiniteDifferences(api: LossApi, fixture: string): void {
  if (api.name === 'ctcLoss') {
    registerCtcFiniteDifferences(api, fixture)
    return
  }
  const cases = loadFixtures<ArgsCase>(fixture).cases.filter(
    (c) =>
      c.expected !== undefined &&
      !c.name.startsWith('edge') &&
      !/tie|zero|nan|inf|empty/i.test(c.name) &&
      c.args.every((a) => a.data.every(Number.isFinite)) &&
      c.args[0].data.length > 0,
  )
  test(`${api.name} gradients match float64 finite differences for every differentiable argument (${Math.min(cases.length, 8)} fixture cases)`, (t) => {
    t.true(cases.length > 0, 'no fixture case to differentiate')
    for (const c of cases.slice(0, 8)) {
      const args = c.args.map((a) => argValue(a, 'float64'))
      const o = toOptions(c.options, 'float64')
      const g = c.gradOutput === undefined ? 1 : typeof c.gradOutput === 'number' ? c.gradOutput : Float64Array.from(c.gradOutput.data)
      const res = api.withGrad(...args, {
        ...o,
        gradOutput:
          typeof g === 'number' || c.gradOutput === undefined
            ? (c.gradOutput ?? undefined)
            : { data: g, shape: (c.gradOutput as { shape: number[] }).shape },
      })
      for (const name of Object.keys(c.expected?.grads ?? {})) {
        const k = c.args.findIndex((a) => a.name === name)
        const analytic = (res.grads ? res.grads[name] : res.grad).data
        const f = (x: Float64Array): number => {
          const a2 = args.slice()
          a2[k] = { data: x, shape: c.args[k].shape }
          return dotLoss(api.fn(...a2, o), g)
        }
        assertGradMatchesFiniteDifference(t, f, Float64Array.from(c.args[k].data), analytic, `${c.name}: d/d${name}`)
      }
    }
  })
}

/**
 * CTC's gradient is PyTorch's formula, which assumes `logProbs` came from a
 * log-softmax: it is checked as the gradient of the loss with respect to the
 * logits, `z = logSoftmax(logits)`, carried through the log-softmax
 * (`g − softmax·Σg` per frame), against float64 central differences in the
 * logits, on the fixture's finite cases.
 */
function registerCtcFiniteDifferences(api: LossApi, fixture: string): void {
  const cases = loadFixtures<ArgsCase>(fixture).cases.filter(
    (c) => c.expected !== undefined && c.args[0].data.every(Number.isFinite) && !/inf|zero|length 0|infeasible/i.test(c.name),
  )
  test(`ctcLoss gradient through a log-softmax matches float64 finite differences in the logits (${Math.min(cases.length, 8)} fixture cases)`, (t) => {
    t.true(cases.length > 0, 'no fixture case to differentiate')
    for (const c of cases.slice(0, 8)) {
      const [lpSpec, ...rest] = c.args
      const shape = lpSpec.shape
      const cDim = shape[shape.length - 1]
      const logits = Float64Array.from(lpSpec.data) // log-probabilities are logits whose log-softmax is themselves
      const others = rest.map((a) =>
        a.kind === 'number' ? a.data[0] : { data: BigInt64Array.from(a.data, (v) => BigInt(v)), shape: a.shape },
      )
      const o = toOptions(c.options, 'float64')
      const g = c.gradOutput === undefined ? 1 : typeof c.gradOutput === 'number' ? c.gradOutput : Float64Array.from(c.gradOutput.data)
      const gradOutput =
        c.gradOutput === undefined || typeof c.gradOutput === 'number' ? c.gradOutput : { data: g, shape: c.gradOutput.shape }
      const lsm = (z: Float64Array) => ({ data: (L.logSoftmax({ data: z, shape }, { dim: -1 }) as Any).data as Float64Array, shape })
      const f = (z: Float64Array): number => dotLoss(api.fn(lsm(z), ...others, o), g)
      const lp = lsm(logits)
      const gl = (api.withGrad(lp, ...others, { ...o, gradOutput }) as Any).grad.data as Float64Array
      const p = lp.data.map(Math.exp)
      const analytic = new Float64Array(gl.length)
      for (let r = 0; r < gl.length / cDim; r++) {
        let s = 0
        for (let k = 0; k < cDim; k++) s += gl[r * cDim + k]
        for (let k = 0; k < cDim; k++) analytic[r * cDim + k] = gl[r * cDim + k] - p[r * cDim + k] * s
      }
      assertGradMatchesFiniteDifference(t, f, logits, analytic, `${c.name}: d/dlogits`)
    }
  })
}

// losskit/async: every declared loss's async twin gives the sync form's bits,
// small (one inline call) and large (a time-sliced job), with and without out/gradOut.
/** The bits of a result: its loss and every gradient, as one byte string. */
function bits(r: Any): string {
  const parts: ArrayBufferView[] = []
  const add = (v: Any) => {
    if (typeof v === 'number') parts.push(Float64Array.of(v))
    else if (v?.data) parts.push(v.data)
  }
  add(r.loss ?? r)
  if (r.grad) add(r.grad)
  for (const k of Object.keys(r.grads ?? {}).sort()) add(r.grads[k])
  return parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('hex')).join('|')
}

for (const name of Object.keys(L.__impl.losses)) {
  const decl = (L.__impl.losses as Any)[name]
  const fixture = snake(name)
  if (existsSync(join(FIXTURE_DIR, `${fixture}.json`)) && 'args' in (loadFixtures<object>(fixture).cases[0] ?? {})) {
    test(`${name} through losskit/async: the same bits as sync on its fixture's value cases, float32 and float64`, async (t) => {
      const A: Any = await import('losskit/async')
      const cases = loadFixtures<ArgsCase>(fixture).cases.filter((c) => c.expected !== undefined)
      for (const c of cases) {
        for (const F of [Float64Array, Float32Array]) {
          const args = () => c.args.map((a) => argValue(a, F === Float64Array ? 'float64' : 'float32'))
          const o = toOptions(c.options, F === Float64Array ? 'float64' : 'float32')
          t.is(bits(await A[`${name}WithGrad`](...args(), o)), bits((L as Any)[`${name}WithGrad`](...args(), o)), `${c.name} WithGrad`)
          t.is(bits(await A[name](...args(), o)), bits((L as Any)[name](...args(), o)), `${c.name}`)
        }
      }
    })
    continue
  }
  test(`${name} through losskit/async: the same bits as sync (small and sliced, out/gradOut)`, async (t) => {
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

// Properties of every declared loss on inputs large enough to run on the pool
// (>= 2^17 elements): identical bits for 1, 2 and 3 threads, loss and every
// gradient, each reduction.
function largeArgs(name: string, decl: Any, rng: Rng): unknown[] {
  const [N, D] = [2048, 96]
  const f = (lo: number, hi: number) => ({ data: Float32Array.from(rng.uniforms(N * D, lo, hi)), shape: [N, D] })
  const first = name === 'binaryCrossEntropy' ? f(0.02, 0.98) : name === 'klDiv' ? f(-4, -0.1) : f(-2, 2)
  if (name === 'ctcLoss') {
    const [T, B, C, S] = [200, 24, 30, 40]
    const lp = L.logSoftmax({ data: Float32Array.from(rng.normals(T * B * C)), shape: [T, B, C] })
    const tg = Int32Array.from({ length: B * S }, () => 1 + Math.floor(rng.uniform(0, C - 1)))
    return [
      lp,
      { data: tg, shape: [B, S] },
      Int32Array.from({ length: B }, (_, b) => T - b),
      Int32Array.from({ length: B }, (_, b) => S - b),
    ]
  }
  if (name === 'multilabelMarginLoss') {
    const tg = Int32Array.from({ length: N * D }, (_, i) => (i % D < 3 ? (i * 7) % D : -1))
    return [first, { data: tg, shape: [N, D] }]
  }
  if (name === 'multiMarginLoss') return [first, Int32Array.from({ length: N }, (_, i) => (i * 5) % D)]
  if (name === 'cosineEmbeddingLoss') return [first, f(-2, 2), Float32Array.from({ length: N }, (_, i) => (i % 2 ? 1 : -1))]
  if (name === 'gaussianNllLoss') return [first, f(-2, 2), f(0.1, 2)]
  const rest = decl.args.map((a: Any) => (a.name === 'target' && ['binaryCrossEntropy', 'klDiv'].includes(name) ? f(0, 1) : f(-2, 2)))
  return [first, ...rest]
}

for (const [name, decl] of Object.entries(L.__impl.losses as Record<string, Any>)) {
  test(`${name}: identical bits for 1, 2 and 3 threads on a pool-sized input (loss and every gradient, each reduction)`, (t) => {
    const before = L.getNumThreads()
    try {
      for (const reduction of ['mean', 'sum', 'none'] as const) {
        const seen: string[] = []
        for (const threads of [1, 2, 3]) {
          L.setNumThreads(threads)
          const args = largeArgs(name, decl, new Rng(11))
          seen.push(bits((L as Any)[`${name}WithGrad`](...args, { reduction })))
        }
        t.is(seen[1], seen[0], `${reduction}: 2 threads`)
        t.is(seen[2], seen[0], `${reduction}: 3 threads`)
      }
    } finally {
      L.setNumThreads(before)
    }
  })
}

// ---------------------------------------------------------------------------
// Bad input for the losses of the args schema (the elementwise ones are in
// bad_input.spec.ts's generated table): every argument of a wrong type, from the
// "doc example" case, and every error case of the fixture through losskit/async —
// the sync class and code, and no argument changed.

/** A copy of every typed array reachable from `v` (to check that nothing was written). */
function snapshotArrays(v: unknown): [ArrayBufferView, Uint8Array][] {
  const out: [ArrayBufferView, Uint8Array][] = []
  const walk = (x: unknown): void => {
    if (ArrayBuffer.isView(x)) out.push([x, new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength))])
    else if (x !== null && typeof x === 'object') for (const y of Object.values(x)) walk(y)
  }
  walk(v)
  return out
}
const unchanged = (snaps: [ArrayBufferView, Uint8Array][]): boolean =>
  snaps.every(([a, b]) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b)))

for (const name of Object.keys(L.__impl.losses)) {
  const fixture = snake(name)
  if (!existsSync(join(FIXTURE_DIR, `${fixture}.json`))) continue
  const file = loadFixtures<ArgsCase>(fixture)
  if (!('args' in (file.cases[0] ?? {}))) continue
  const doc = file.cases.find((c) => c.name === 'doc example')
  const errors = file.cases.filter((c) => c.error !== undefined)
  const build = (c: ArgsCase) => c.args.map((a) => argValue(a, 'float32'))

  test(`${name}: an argument of a wrong type is a TypeError ERR_INVALID_ARG_TYPE naming ${name}, sync and async, nothing changed`, async (t) => {
    const A: Any = await import('losskit/async')
    if (!doc) {
      t.fail(`${fixture}.json has no "doc example" case`)
      return
    }
    const wrongs = (a: ArgsCase['args'][number]): [string, unknown][] => {
      const w: [string, unknown][] = [
        ['a string', 'not a tensor'],
        ['null', null],
      ]
      if (a.kind === 'float') w.push(['an Int32Array', { data: Int32Array.from(a.data), shape: a.shape }])
      if (a.kind === 'float') w.push(['a Float64Array beside float32 tensors', { data: Float64Array.from(a.data), shape: a.shape }])
      if (a.kind === 'int64') w.push(['a Uint8Array', { data: Uint8Array.from(a.data, (v) => Math.max(0, v)), shape: a.shape }])
      return w
    }
    const expectation = { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' } as Any
    let checked = 0
    doc.args.forEach((spec, i) => {
      // the first float tensor decides the dtype: a Float64Array there is not "beside" anything
      for (const [what, bad] of wrongs(spec)) {
        if (i === 0 && what.startsWith('a Float64Array')) continue
        const label = `${name}: argument ${i + 1} (${spec.name}) as ${what}`
        const args = build(doc)
        args[i] = bad as Any
        const snaps = snapshotArrays(args)
        const e = t.throws(() => (L as Any)[name](...args), expectation, label)
        if (e) t.true(e.message.startsWith(`${name}: `), `${label}: message ${JSON.stringify(e.message)}`)
        t.throws(() => (L as Any)[`${name}WithGrad`](...args), expectation, `${label} (WithGrad)`)
        t.true(unchanged(snaps), `${label}: an argument was changed`)
        checked++
      }
    })
    for (const spec of doc.args.map((_, i) => i)) {
      const args = build(doc)
      args[spec] = 'not a tensor' as Any
      await t.throwsAsync(A[name](...args), expectation, `${name} async: argument ${spec + 1} as a string`)
    }
    t.log(`${checked} wrong-type arguments`)
  })

  if (errors.length > 0) {
    test(`${name}: the ${errors.length} error cases of fixtures/${fixture}.json reject through losskit/async with the sync class and code, nothing changed`, async (t) => {
      const A: Any = await import('losskit/async')
      for (const c of errors) {
        const err = c.error as { class: string; code: string }
        const expectation = { instanceOf: err.class === 'RangeError' ? RangeError : TypeError, code: err.code } as Any
        for (const fn of [name, `${name}WithGrad`]) {
          const args = build(c)
          const o = toOptions(c.options, 'float32')
          const snaps = snapshotArrays([args, o])
          await t.throwsAsync(() => A[fn](...args, o), expectation, `${c.name}: async ${fn}`)
          t.true(unchanged(snaps), `${c.name}: async ${fn} changed an argument`)
        }
      }
    })
  }
}
