// Runs every case of a loss fixture file against losskit's functional, WithGrad and
// module forms, in float64 and (unless the case is f64-only) float32.
//
// Per case and dtype one ava test checks:
//   - fn(input, target, o)                       → loss (value, number-vs-Tensor, dtype, shape)
//   - fnWithGrad(input, target, {…o, gradOutput}) → loss and grad (grad always a Tensor like input)
//   - new Module(o).forward / .forwardWithGrad(…, gradOutput)
//   - bare typed arrays for 1-D tensors (input, float target, weight/posWeight, gradOutput)
//   - the other integer type for class-index targets (Int32Array <-> BigInt64Array; number <-> 0-d tensor)
//   - subarray views with junk around them
//   - `out` and `gradOut` preallocated buffers: written in place and returned inside the result
//   - `gradOut` = the input's own buffer (gradient over the logits)
//   - nothing the caller passed is modified
// Error cases: every form throws the SPEC'd class and code; the functional form's message
// names the function; a module whose options alone are invalid throws in its constructor.

import type { ExecutionContext, TestFn } from 'ava'
import {
  asOffsetView,
  assertClose,
  assertDtype,
  assertGradMatchesFiniteDifference,
  assertUnchanged,
  type DType,
  describe,
  dotLoss,
  type ErrorSpec,
  type FloatArray,
  fitsInt32,
  floatCtor,
  isTensorLike,
  type LossCase,
  loadFixtures,
  type Options,
  type OptionValue,
  shapeSize,
  snapshot,
  type TargetValue,
  type Tensor,
  type TensorSpec,
  toFloatArray,
  toGradOutput,
  toInput,
  tolFor,
  toOptions,
  toTarget,
} from './_util.js'

// biome-ignore lint/suspicious/noExplicitAny: the runner drives every loss through one loose signature
type AnyFn = (...args: any[]) => any

export interface LossModule {
  forward(...args: unknown[]): unknown
  forwardWithGrad(...args: unknown[]): { loss: unknown; grad?: unknown; grads?: Record<string, unknown> }
}

export interface LossApi {
  /** the functional name, as the error messages must name it, e.g. 'crossEntropy' */
  name: string
  fn: AnyFn
  withGrad: AnyFn
  Module: new (options?: Options) => LossModule
}

export const DTYPES: readonly DType[] = ['float64', 'float32']

export function dtypesFor(c: LossCase | { input: { dtype?: DType } }): DType[] {
  return c.input.dtype === 'float64' ? ['float64'] : ['float64', 'float32']
}

const TAG: Record<DType, string> = { float64: 'f64', float32: 'f32' }

interface Built {
  input: Tensor<FloatArray>
  target: TargetValue
  /** tensors after the target (GaussianNLL's variance) */
  extra: unknown[]
  options: Options
  gradOutput: number | Tensor<FloatArray> | undefined
}

function build(c: LossCase, dtype: DType): Built {
  return {
    input: toInput(c.input, dtype),
    target: toTarget(c.target, dtype),
    extra: c.variance === undefined ? [] : [typeof c.variance === 'number' ? c.variance : toInput(c.variance, dtype)],
    options: toOptions(c.options, dtype),
    gradOutput: toGradOutput(c.gradOutput, dtype),
  }
}

/** Whether the case's loss has a second differentiable tensor (a `{ loss, grads }` result). */
function multiGrad(c: LossCase): boolean {
  return c.variance !== undefined
}

/** 1-D tensors as bare typed arrays (SPEC: a bare typed array is a 1-D tensor). */
function bare<V>(v: V): V | ArrayBufferView {
  if (isTensorLike(v) && v.shape.length === 1) return v.data as unknown as ArrayBufferView
  return v
}

function bareOptions(o: Options): Options {
  const out: Options = { ...o }
  for (const k of ['weight', 'posWeight']) if (k in out) out[k] = bare(out[k])
  return out
}

function viewOf<T>(v: T): T {
  if (isTensorLike(v)) {
    return { data: asOffsetView(v.data as unknown as FloatArray), shape: [...v.shape] } as T
  }
  return v
}

function expectedFor(c: LossCase, dtype: DType) {
  const e = c.expected
  if (!e) throw new Error(`${c.name}: no expectation`)
  if (dtype === 'float32')
    return { loss: e.lossF32 ?? e.loss, grad: e.gradF32 ?? e.grad, gradVariance: e.gradVarianceF32 ?? e.gradVariance }
  return { loss: e.loss, grad: e.grad, gradVariance: e.gradVariance }
}

function lossShape(c: LossCase): number[] {
  const l = c.expected?.loss
  return typeof l === 'number' || l === undefined ? [] : l.shape
}

/** Register one ava test per (case, dtype) of `fixture` for `api`. */
export function registerLossFixtures(test: TestFn, fixture: string, apis: Record<string, LossApi>): number {
  const file = loadFixtures<LossCase>(fixture)
  let n = 0
  for (const c of file.cases) {
    const api = apis[c.fn]
    if (!api) throw new Error(`${fixture}: case ${c.name} uses ${c.fn}, which this spec does not know`)
    for (const dtype of dtypesFor(c)) {
      const title = `${fixture} | ${c.name} [${TAG[dtype]}]`
      if (c.error) test(title, (t) => runErrorCase(t, api, c, dtype))
      else test(title, (t) => runValueCase(t, api, c, dtype))
      n++
    }
  }
  return n
}

type T = ExecutionContext

function checkLoss(t: T, got: unknown, c: LossCase, dtype: DType, form: string) {
  const exp = expectedFor(c, dtype)
  const label = `${c.name} [${TAG[dtype]}] ${form} loss`
  assertClose(t, got, exp.loss, { ...tolFor(dtype), label })
  assertDtype(t, got, dtype, label)
}

function checkGrad(t: T, got: unknown, c: LossCase, dtype: DType, form: string, which: 'grad' | 'gradVariance' = 'grad') {
  const exp = expectedFor(c, dtype)
  const label = `${c.name} [${TAG[dtype]}] ${form} ${which}`
  if (!isTensorLike(got)) {
    t.fail(`${label}: a gradient must always be a Tensor shaped like its tensor, got ${describe(got)}`)
    return
  }
  assertClose(t, got, exp[which] as TensorSpec, { ...tolFor(dtype), label })
  assertDtype(t, got, dtype, label)
}

/** The input's gradient of a `{ loss, grad }` or `{ loss, grads: { input, … } }` result. */
function inputGrad(res: unknown): unknown {
  const r = res as { grad?: unknown; grads?: { input?: unknown } }
  return r.grads !== undefined ? r.grads.input : r.grad
}

function checkWithGrad(t: T, res: unknown, c: LossCase, dtype: DType, form: string) {
  const key = multiGrad(c) ? 'grads' : 'grad'
  if (typeof res !== 'object' || res === null || !('loss' in res) || !(key in res)) {
    t.fail(`${c.name} [${TAG[dtype]}] ${form}: expected {loss, ${key}}, got ${describe(res)}`)
    return
  }
  const r = res as { loss: unknown; grad?: unknown; grads?: Record<string, unknown> }
  checkLoss(t, r.loss, c, dtype, form)
  checkGrad(t, inputGrad(r), c, dtype, form)
  if (r.grads !== undefined) {
    const keys = Object.keys(r.grads).sort()
    const hasVar = expectedFor(c, dtype).gradVariance !== undefined
    t.deepEqual(keys, hasVar ? ['input', 'variance'] : ['input'], `${c.name} ${form}: grads keys`)
    if (hasVar) checkGrad(t, r.grads.variance, c, dtype, form, 'gradVariance')
  }
}

/** `gradOut` for the case: one buffer, or `{ input, variance }` for a loss with several gradients. */
function gradOutFor(c: LossCase, input: FloatArray, variance?: FloatArray): unknown {
  if (!multiGrad(c)) return input
  return variance === undefined ? { input } : { input, variance }
}

function withGradOptions(b: Built): Options {
  return b.gradOutput === undefined ? { ...b.options } : { ...b.options, gradOutput: b.gradOutput }
}

function runValueCase(t: T, api: LossApi, c: LossCase, dtype: DType): void {
  const tag = `${c.name} [${TAG[dtype]}]`
  // 1. functional
  {
    const b = build(c, dtype)
    const snaps = snapshot({ input: b.input, target: b.target, variance: b.extra[0], options: b.options })
    checkLoss(t, api.fn(b.input, b.target, ...b.extra, b.options), c, dtype, `${api.name}()`)
    assertUnchanged(t, snaps, `${tag} ${api.name}()`)
  }
  // 2. WithGrad (tensor forms)
  {
    const b = build(c, dtype)
    const o = withGradOptions(b)
    const snaps = snapshot({ input: b.input, target: b.target, options: b.options, gradOutput: b.gradOutput })
    checkWithGrad(t, api.withGrad(b.input, b.target, ...b.extra, o), c, dtype, `${api.name}WithGrad()`)
    assertUnchanged(t, snaps, `${tag} ${api.name}WithGrad()`)
  }
  // 3. WithGrad with bare typed arrays for every 1-D tensor
  {
    const b = build(c, dtype)
    const o = bareOptions(withGradOptions(b))
    if (o.gradOutput !== undefined) o.gradOutput = bare(o.gradOutput)
    checkWithGrad(t, api.withGrad(bare(b.input), bare(b.target), ...b.extra.map(bare), o), c, dtype, `${api.name}WithGrad(bare arrays)`)
  }
  // 4. module
  {
    const b = build(c, dtype)
    const m = new api.Module(b.options)
    const args = [b.input, b.target, ...b.extra]
    checkLoss(t, m.forward(...args), c, dtype, 'Module.forward()')
    const res = b.gradOutput === undefined ? m.forwardWithGrad(...args) : m.forwardWithGrad(...args, b.gradOutput)
    checkWithGrad(t, res, c, dtype, 'Module.forwardWithGrad()')
    // the module keeps no state between calls: the second forward gives the same
    checkLoss(t, m.forward(...args), c, dtype, 'Module.forward() again')
  }
  // 5. the other integer type for class-index targets
  if (c.target.kind !== 'float') {
    const others: ('int32' | 'int64' | 'number')[] = []
    if (c.target.kind === 'int64' && fitsInt32(c.target.data)) others.push('int32')
    if (c.target.kind === 'int32') others.push('int64')
    if (c.target.kind === 'number') others.push('int64', 'int32')
    if (c.target.shape.length === 0 && c.target.kind !== 'number') others.push('number')
    for (const kind of others) {
      const b = build(c, dtype)
      const target = toTarget(c.target, dtype, kind)
      checkWithGrad(t, api.withGrad(b.input, target, withGradOptions(b)), c, dtype, `${api.name}WithGrad(target as ${kind})`)
    }
  }
  // 6. subarray views (offset, junk around)
  {
    const b = build(c, dtype)
    const o = withGradOptions(b)
    for (const k of ['weight', 'posWeight', 'gradOutput']) if (k in o) o[k] = viewOf(o[k])
    checkWithGrad(
      t,
      api.withGrad(viewOf(b.input), viewOf(b.target), ...b.extra.map(viewOf), o),
      c,
      dtype,
      `${api.name}WithGrad(subarray views)`,
    )
  }
  // 7. out / gradOut preallocated
  {
    const b = build(c, dtype)
    const Ctor = floatCtor(dtype)
    const lshape = lossShape(c)
    const o = withGradOptions(b)
    const gradOut = new Ctor(shapeSize(c.input.shape)).fill(12345)
    const v = b.extra[0]
    const gradOutVar = isTensorLike(v) ? new Ctor(v.data.length).fill(12345) : undefined
    o.gradOut = gradOutFor(c, gradOut, gradOutVar)
    let out: FloatArray | undefined
    if (lshape.length > 0) {
      out = new Ctor(shapeSize(lshape)).fill(12345)
      o.out = out
    }
    const res = api.withGrad(b.input, b.target, ...b.extra, o) as { loss: unknown; grads?: Record<string, unknown> }
    checkWithGrad(t, res, c, dtype, `${api.name}WithGrad({out, gradOut})`)
    const g = inputGrad(res)
    t.true(isTensorLike(g) && g.data === gradOut, `${tag}: the input's gradient must be the gradOut buffer`)
    if (gradOutVar) {
      const gv = res.grads?.variance
      t.true(isTensorLike(gv) && gv.data === gradOutVar, `${tag}: the variance's gradient must be the gradOut.variance buffer`)
    }
    if (out) t.true(isTensorLike(res.loss) && res.loss.data === out, `${tag}: result.loss.data must be the out buffer`)
    if (out) {
      const out2 = new Ctor(out.length).fill(-1)
      const r2 = api.fn(b.input, b.target, ...b.extra, { ...b.options, out: out2 })
      checkLoss(t, r2, c, dtype, `${api.name}({out})`)
      t.true(isTensorLike(r2) && r2.data === out2, `${tag}: ${api.name}() result.data must be the out buffer`)
    }
  }
  // 8. gradOut = the input's own buffer
  {
    const b = build(c, dtype)
    const o = withGradOptions(b)
    o.gradOut = gradOutFor(c, b.input.data)
    const res = api.withGrad(b.input, b.target, ...b.extra, o)
    checkWithGrad(t, res, c, dtype, `${api.name}WithGrad({gradOut: input.data})`)
    const g = inputGrad(res)
    t.true(isTensorLike(g) && g.data === b.input.data, `${tag}: in-place grad must return the input's buffer`)
  }
}

function runErrorCase(t: T, api: LossApi, c: LossCase, dtype: DType): void {
  const err = c.error
  if (!err) throw new Error('not an error case')
  const instanceOf = err.class === 'RangeError' ? RangeError : TypeError
  const expectation = { instanceOf, code: err.code }
  const tag = `${c.name} [${TAG[dtype]}]`
  {
    const b = build(c, dtype)
    const snaps = snapshot({ input: b.input, target: b.target, variance: b.extra[0], options: b.options })
    const e = t.throws(() => api.fn(b.input, b.target, ...b.extra, b.options), expectation, `${tag} ${api.name}()`)
    if (e) t.true(e.message.includes(api.name), `${tag}: the message must name ${api.name}: ${JSON.stringify(e.message)}`)
    assertUnchanged(t, snaps, `${tag} ${api.name}() (throwing)`)
  }
  {
    const b = build(c, dtype)
    const snaps = snapshot({ input: b.input, target: b.target, variance: b.extra[0], options: b.options })
    t.throws(() => api.withGrad(b.input, b.target, ...b.extra, b.options), expectation, `${tag} ${api.name}WithGrad()`)
    assertUnchanged(t, snaps, `${tag} ${api.name}WithGrad() (throwing)`)
  }
  {
    // SPEC: "nothing the caller passed is modified" -- also when the gradient was to be
    // written over the input (gradOut = input.data): the error must come before any write.
    const b = build(c, dtype)
    const snaps = snapshot({ input: b.input, target: b.target, variance: b.extra[0], options: b.options })
    t.throws(
      () => api.withGrad(b.input, b.target, ...b.extra, { ...b.options, gradOut: gradOutFor(c, b.input.data) }),
      expectation,
      `${tag} ${api.name}WithGrad({gradOut: input.data})`,
    )
    assertUnchanged(t, snaps, `${tag} ${api.name}WithGrad({gradOut: input.data}) (throwing)`)
  }
  {
    const b = build(c, dtype)
    t.throws(() => new api.Module(b.options).forwardWithGrad(b.input, b.target, ...b.extra), expectation, `${tag} Module.forwardWithGrad()`)
    t.throws(() => new api.Module(b.options).forward(b.input, b.target, ...b.extra), expectation, `${tag} Module.forward()`)
    if (err.optionError) {
      // SPEC: "new CrossEntropyLoss(options) validates its options at once"
      t.throws(() => new api.Module(b.options), expectation, `${tag} new Module(options)`)
    }
  }
}

// ---------------------------------------------------------------------------
// API-contract checks that the fixtures cannot express (wrong JS types, buffers)

export interface Sample {
  input: Tensor<FloatArray>
  target: TargetValue
  /** tensors after the target (GaussianNLL's variance) */
  extra?: unknown[]
  /** valid options without `reduction` */
  options: Options
  /** shape of the 'none' loss */
  noneShape: number[]
}

export interface ContractSpec {
  /** a valid call in the given dtype */
  sample: (dtype: DType) => Sample
  /** option names holding float tensors (weight, posWeight) */
  floatOptions: string[]
  /** the target is a float tensor of the input's type */
  floatTarget: boolean
  /** distinguishes several contract suites of one loss in the test titles */
  label?: string
}

function otherDtype(dtype: DType): DType {
  return dtype === 'float32' ? 'float64' : 'float32'
}

function retype(v: Tensor<FloatArray>, dtype: DType): Tensor<FloatArray> {
  return { data: floatCtor(dtype).from(v.data), shape: [...v.shape] }
}

const ARG_TYPE = { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' }
const ARG_VALUE = { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' }

export function registerContractTests(test: TestFn, api: LossApi, spec: ContractSpec): void {
  const n = api.name
  // A loss with several gradients takes `gradOut` as an object; the input's is `gradOut.input`.
  const wrap = (g: FloatArray): unknown => ((spec.sample('float64').extra ?? []).length > 0 ? { input: g } : g)
  for (const dtype of DTYPES) {
    const tag = `${n} contract${spec.label ? ` (${spec.label})` : ''} [${TAG[dtype]}]`

    test(`${tag}: defaults are PyTorch's (reduction 'mean'); options and module options may be omitted`, (t) => {
      const s = spec.sample(dtype)
      const withMean = api.fn(s.input, s.target, ...(s.extra ?? []), { ...s.options, reduction: 'mean' })
      t.is(typeof withMean, 'number')
      const label = `${tag} defaults`
      if (Object.keys(s.options).length === 0) {
        assertClose(t, api.fn(s.input, s.target, ...(s.extra ?? [])), withMean as number, { ...tolFor(dtype), label: `${label} fn(x, t)` })
        assertClose(t, new api.Module().forward(s.input, s.target, ...(s.extra ?? [])), withMean as number, {
          ...tolFor(dtype),
          label: `${label} new Module()`,
        })
        const r = api.withGrad(s.input, s.target, ...(s.extra ?? [])) as { loss: unknown; grad: unknown }
        assertClose(t, r.loss, withMean as number, { ...tolFor(dtype), label: `${label} fnWithGrad(x, t)` })
      }
      assertClose(t, api.fn(s.input, s.target, ...(s.extra ?? []), s.options), withMean as number, {
        ...tolFor(dtype),
        label: `${label} fn(x, t, o)`,
      })
      assertClose(t, new api.Module(s.options).forward(s.input, s.target, ...(s.extra ?? [])), withMean as number, {
        ...tolFor(dtype),
        label: `${label} Module(o)`,
      })
    })

    test(`${tag}: 'none' result is a Tensor of the input's type; scalar reductions are numbers`, (t) => {
      const s = spec.sample(dtype)
      const none = api.fn(s.input, s.target, ...(s.extra ?? []), { ...s.options, reduction: 'none' })
      t.true(isTensorLike(none), `'none' must give a Tensor, got ${describe(none)}`)
      if (isTensorLike(none)) {
        t.deepEqual(Array.from(none.shape), s.noneShape)
        t.true(none.data instanceof floatCtor(dtype))
      }
      t.is(typeof api.fn(s.input, s.target, ...(s.extra ?? []), { ...s.options, reduction: 'sum' }), 'number')
      const r = api.withGrad(s.input, s.target, ...(s.extra ?? []), { ...s.options, reduction: 'sum' }) as { loss: unknown }
      t.is(typeof r.loss, 'number')
      const g = inputGrad(r) as Tensor
      t.deepEqual(Array.from(g.shape), Array.from(s.input.shape))
      t.true(g.data instanceof floatCtor(dtype))
      t.not(g.data, s.input.data, 'without gradOut the gradient gets a fresh buffer')
    })

    test(`${tag}: input of the wrong type throws ERR_INVALID_ARG_TYPE`, (t) => {
      const s = spec.sample(dtype)
      const ints = { data: Int32Array.from(s.input.data, (v) => Math.round(v)), shape: s.input.shape }
      t.throws(() => api.fn(ints, s.target, ...(s.extra ?? []), s.options), ARG_TYPE, 'Int32Array input')
      t.throws(
        () => api.fn({ data: Array.from(s.input.data), shape: s.input.shape }, s.target, ...(s.extra ?? []), s.options),
        ARG_TYPE,
        'plain array data',
      )
      t.throws(() => api.fn('x', s.target, ...(s.extra ?? []), s.options), ARG_TYPE, 'string input')
      t.throws(() => api.fn(null, s.target, ...(s.extra ?? []), s.options), ARG_TYPE, 'null input')
      t.throws(() => api.withGrad(ints, s.target, ...(s.extra ?? []), s.options), ARG_TYPE, 'Int32Array input (WithGrad)')
      t.throws(() => new api.Module(s.options).forward(ints, s.target, ...(s.extra ?? [])), ARG_TYPE, 'Int32Array input (Module)')
    })

    test(`${tag}: target of the wrong type throws ERR_INVALID_ARG_TYPE`, (t) => {
      const s = spec.sample(dtype)
      t.throws(() => api.fn(s.input, 'a', s.options), ARG_TYPE, 'string target')
      t.throws(() => api.fn(s.input, null, s.options), ARG_TYPE, 'null target')
      if (spec.floatTarget && isTensorLike(s.target)) {
        const wrong = retype(s.target as Tensor<FloatArray>, otherDtype(dtype))
        t.throws(() => api.fn(s.input, wrong, s.options), ARG_TYPE, `${otherDtype(dtype)} target for a ${dtype} input`)
        t.throws(() => api.withGrad(s.input, wrong, s.options), ARG_TYPE, `${otherDtype(dtype)} target (WithGrad)`)
      }
    })

    for (const key of spec.floatOptions) {
      test(`${tag}: option ${key} of the wrong type throws ERR_INVALID_ARG_TYPE`, (t) => {
        const s = spec.sample(dtype)
        const w = s.options[key] as Tensor<FloatArray>
        t.true(isTensorLike(w), `sample must hold a ${key}`)
        const wrong = retype(w, otherDtype(dtype))
        t.throws(
          () => api.fn(s.input, s.target, ...(s.extra ?? []), { ...s.options, [key]: wrong }),
          ARG_TYPE,
          `${otherDtype(dtype)} ${key}`,
        )
        t.throws(() => api.fn(s.input, s.target, ...(s.extra ?? []), { ...s.options, [key]: 'heavy' }), ARG_TYPE, `string ${key}`)
        t.throws(
          () => api.fn(s.input, s.target, ...(s.extra ?? []), { ...s.options, [key]: Array.from(w.data) }),
          ARG_TYPE,
          `plain array ${key}`,
        )
        t.throws(() => new api.Module({ ...s.options, [key]: 'heavy' }), ARG_TYPE, `string ${key} (Module constructor)`)
      })
    }

    test(`${tag}: reduction of the wrong type throws a TypeError`, (t) => {
      // SPEC lists a wrong type under ERR_INVALID_ARG_TYPE and an unknown reduction under
      // ERR_INVALID_ARG_VALUE; Node's own validateOneOf() uses ERR_INVALID_ARG_VALUE for any
      // value outside the list. Either code is accepted for a non-string reduction.
      const s = spec.sample(dtype)
      const either = (e: unknown, what: string) => {
        const code = (e as { code?: unknown } | undefined)?.code
        t.true(code === 'ERR_INVALID_ARG_TYPE' || code === 'ERR_INVALID_ARG_VALUE', `${what}: code ${String(code)}`)
      }
      either(
        t.throws(() => api.fn(s.input, s.target, ...(s.extra ?? []), { ...s.options, reduction: 1 }), { instanceOf: TypeError }),
        'fn',
      )
      either(
        t.throws(() => new api.Module({ ...s.options, reduction: 1 }), { instanceOf: TypeError }),
        'Module',
      )
      either(
        t.throws(() => api.fn(s.input, s.target, ...(s.extra ?? []), { ...s.options, reduction: null }), { instanceOf: TypeError }),
        'fn null',
      )
    })

    test(`${tag}: out / gradOut of the wrong type or length are rejected`, (t) => {
      const s = spec.sample(dtype)
      const Other = floatCtor(otherDtype(dtype))
      const Ctor = floatCtor(dtype)
      const nIn = s.input.data.length
      const nOut = shapeSize(s.noneShape)
      const snaps = snapshot({ input: s.input, target: s.target, options: s.options })
      t.throws(
        () => api.withGrad(s.input, s.target, ...(s.extra ?? []), { ...s.options, gradOut: wrap(new Other(nIn)) }),
        ARG_TYPE,
        'gradOut of the other float type',
      )
      t.throws(
        () => api.withGrad(s.input, s.target, ...(s.extra ?? []), { ...s.options, gradOut: wrap(new Ctor(nIn + 1)) }),
        ARG_VALUE,
        'gradOut too long',
      )
      t.throws(
        () => api.withGrad(s.input, s.target, ...(s.extra ?? []), { ...s.options, gradOut: wrap(new Ctor(nIn - 1)) }),
        ARG_VALUE,
        'gradOut too short',
      )
      t.throws(
        () => api.fn(s.input, s.target, ...(s.extra ?? []), { ...s.options, reduction: 'none', out: new Ctor(nOut + 1) }),
        ARG_VALUE,
        'out too long',
      )
      t.throws(
        () => api.fn(s.input, s.target, ...(s.extra ?? []), { ...s.options, reduction: 'none', out: new Other(nOut) }),
        ARG_TYPE,
        'out of the other float type',
      )
      assertUnchanged(t, snaps, `${tag} rejected buffers`)
    })

    test(`${tag}: gradOutput of the wrong shape for 'none' throws ERR_INVALID_ARG_VALUE`, (t) => {
      const s = spec.sample(dtype)
      const Ctor = floatCtor(dtype)
      const nOut = shapeSize(s.noneShape)
      t.throws(
        () =>
          api.withGrad(s.input, s.target, ...(s.extra ?? []), {
            ...s.options,
            reduction: 'none',
            gradOutput: { data: new Ctor(nOut + 1).fill(1), shape: [nOut + 1] },
          }),
        ARG_VALUE,
      )
      t.throws(
        () =>
          new api.Module({ ...s.options, reduction: 'none' }).forwardWithGrad(s.input, s.target, ...(s.extra ?? []), {
            data: new Ctor(nOut + 1),
            shape: [nOut + 1],
          }),
        ARG_VALUE,
      )
    })
  }
}

// ---------------------------------------------------------------------------
// finite differences of the loss itself (float64)

export interface FdCase {
  input: Tensor<Float64Array>
  target: TargetValue
  options: Options
  gradOutput?: number | Tensor<Float64Array>
}

/** d/dx of (gradOutput · loss(x)) by central differences vs fnWithGrad's grad. */
export function checkFiniteDifferences(t: ExecutionContext, api: LossApi, s: FdCase, label: string): void {
  const g = s.gradOutput
  const f = (x: Float64Array): number => {
    const loss = api.fn({ data: x, shape: s.input.shape }, s.target, s.options)
    if (typeof loss === 'number') return loss * (typeof g === 'number' ? g : 1)
    return dotLoss(loss, g === undefined ? 1 : typeof g === 'number' ? g : g.data)
  }
  const o = g === undefined ? { ...s.options } : { ...s.options, gradOutput: g }
  const res = api.withGrad(s.input, s.target, o) as { loss: unknown; grad: Tensor }
  if (!isTensorLike(res?.grad)) {
    t.fail(`${label}: no grad tensor, got ${describe(res)}`)
    return
  }
  assertGradMatchesFiniteDifference(t, f, Float64Array.from(s.input.data), res.grad.data, `${api.name} ${label}`)
}

/** A float32-representable float64 array (so the same sample works in both dtypes). */
export function f32Values(values: ArrayLike<number>): number[] {
  return Array.from(values, (v) => Math.fround(v))
}

// ---------------------------------------------------------------------------
// fixtures with positional tensor arguments ("args") and named gradients ("grads")

export interface ArgSpec {
  name: string
  kind: 'float' | 'int64' | 'number'
  data: number[]
  shape: number[]
}

export interface ArgsCase {
  name: string
  fn: string
  torch?: string
  args: ArgSpec[]
  options: Record<string, OptionValue>
  gradOutput?: number | TensorSpec
  f64Only?: boolean
  expected?: {
    loss: number | TensorSpec
    grads: Record<string, TensorSpec>
    lossF32?: number | TensorSpec
    gradsF32?: Record<string, TensorSpec>
  }
  error?: ErrorSpec
}

/** An argument as losskit takes it; `as` overrides an index argument's type. */
export function argValue(a: ArgSpec, dtype: DType, as?: 'int32' | 'int64'): unknown {
  if (a.kind === 'number') return a.data[0]
  if (a.kind === 'int64') {
    if (as === 'int32') return { data: Int32Array.from(a.data), shape: [...a.shape] }
    return { data: BigInt64Array.from(a.data, (v) => BigInt(v)), shape: [...a.shape] }
  }
  return { data: toFloatArray(a.data, dtype), shape: [...a.shape] }
}

/** Register one ava test per (case, dtype) of an args-schema fixture for `api`. */
export function registerArgsFixtures(test: TestFn, fixture: string, api: LossApi): number {
  const file = loadFixtures<ArgsCase>(fixture)
  let n = 0
  for (const c of file.cases) {
    if (c.fn !== api.name) throw new Error(`${fixture}: case ${c.name} is for ${c.fn}, not ${api.name}`)
    for (const dtype of c.f64Only ? (['float64'] as DType[]) : DTYPES) {
      const title = `${fixture} | ${c.name} [${TAG[dtype]}]`
      if (c.error) test(title, (t) => runArgsError(t, api, c, dtype))
      else test(title, (t) => runArgsValue(t, api, c, dtype))
      n++
    }
  }
  return n
}

function argsExpected(c: ArgsCase, dtype: DType) {
  const e = c.expected
  if (!e) throw new Error(`${c.name}: no expectation`)
  return dtype === 'float32' ? { loss: e.lossF32 ?? e.loss, grads: e.gradsF32 ?? e.grads } : { loss: e.loss, grads: e.grads }
}

function checkArgsResult(t: T, res: unknown, c: ArgsCase, dtype: DType, form: string, withGrad: boolean): void {
  const exp = argsExpected(c, dtype)
  const tag = `${c.name} [${TAG[dtype]}] ${form}`
  const loss = withGrad ? (res as { loss?: unknown })?.loss : res
  assertClose(t, loss, exp.loss, { ...tolFor(dtype), label: `${tag} loss` })
  assertDtype(t, loss, dtype, `${tag} loss`)
  if (!withGrad) return
  const names = Object.keys(exp.grads)
  const r = res as { grad?: unknown; grads?: Record<string, unknown> }
  // one differentiable tensor: { loss, grad }; several: { loss, grads: { name: … } }
  const got: Record<string, unknown> = names.length === 1 && r.grads === undefined ? { [names[0]]: r.grad } : (r.grads ?? {})
  if (names.length > 1 || r.grads !== undefined) t.deepEqual(Object.keys(got).sort(), [...names].sort(), `${tag}: gradient keys`)
  for (const k of names) {
    const g = got[k]
    if (!isTensorLike(g)) {
      t.fail(`${tag} grad ${k}: expected a Tensor, got ${describe(g)}`)
      continue
    }
    assertClose(t, g, exp.grads[k], { ...tolFor(dtype), label: `${tag} grad ${k}` })
    assertDtype(t, g, dtype, `${tag} grad ${k}`)
  }
}

function argsOptions(c: ArgsCase, dtype: DType, withGrad: boolean): Options {
  const o = toOptions(c.options, dtype)
  if (withGrad && c.gradOutput !== undefined) o.gradOutput = toGradOutput(c.gradOutput, dtype)
  return o
}

function runArgsValue(t: T, api: LossApi, c: ArgsCase, dtype: DType): void {
  const build = (as?: 'int32' | 'int64') => c.args.map((a) => argValue(a, dtype, as))
  const names = Object.keys(c.expected?.grads ?? {})
  const multi = names.length > 1
  // 1. functional, nothing modified
  {
    const args = build()
    const o = argsOptions(c, dtype, false)
    const snaps = snapshot({ args: Object.fromEntries(args.map((v, i) => [i, v])), o })
    checkArgsResult(t, api.fn(...args, o), c, dtype, `${api.name}()`, false)
    assertUnchanged(t, snaps, `${c.name} ${api.name}()`)
  }
  // 2. WithGrad, nothing modified
  {
    const args = build()
    const o = argsOptions(c, dtype, true)
    const snaps = snapshot({ args: Object.fromEntries(args.map((v, i) => [i, v])) })
    checkArgsResult(t, api.withGrad(...args, o), c, dtype, `${api.name}WithGrad()`, true)
    assertUnchanged(t, snaps, `${c.name} ${api.name}WithGrad()`)
  }
  // 3. bare arrays for 1-D tensors, subarray views, the other index type
  {
    const args = build().map((v) => (isTensorLike(v) && v.shape.length === 1 ? v.data : v))
    checkArgsResult(t, api.withGrad(...args, argsOptions(c, dtype, true)), c, dtype, `${api.name}WithGrad(bare arrays)`, true)
    const views = build().map((v) => (isTensorLike(v) ? { data: asOffsetView(v.data as FloatArray), shape: v.shape } : v))
    checkArgsResult(t, api.withGrad(...views, argsOptions(c, dtype, true)), c, dtype, `${api.name}WithGrad(subarray views)`, true)
    if (c.args.some((a) => a.kind === 'int64') && c.args.every((a) => a.kind !== 'int64' || fitsInt32(a.data))) {
      checkArgsResult(t, api.withGrad(...build('int32'), argsOptions(c, dtype, true)), c, dtype, `${api.name}WithGrad(Int32Array)`, true)
    }
  }
  // 4. module
  {
    const args = build()
    const o = toOptions(c.options, dtype)
    const m = new api.Module(o)
    checkArgsResult(t, m.forward(...args), c, dtype, 'Module.forward()', false)
    const g = c.gradOutput === undefined ? [] : [toGradOutput(c.gradOutput, dtype)]
    checkArgsResult(t, m.forwardWithGrad(...args, ...g), c, dtype, 'Module.forwardWithGrad()', true)
  }
  // 5. out / gradOut preallocated, and the input's gradient in place
  {
    const args = build()
    const Ctor = floatCtor(dtype)
    const o = argsOptions(c, dtype, true)
    const bufs: Record<string, FloatArray> = {}
    for (const k of names) {
      const a = c.args.find((x) => x.name === k) as ArgSpec
      bufs[k] = new Ctor(a.data.length).fill(12345)
    }
    o.gradOut = multi ? bufs : bufs[names[0]]
    const loss = c.expected?.loss
    const out = typeof loss === 'object' ? new Ctor(loss.data.length).fill(12345) : undefined
    if (out && o.reduction === 'none') o.out = out
    const res = api.withGrad(...args, o) as { loss: unknown; grad?: Tensor; grads?: Record<string, Tensor> }
    checkArgsResult(t, res, c, dtype, `${api.name}WithGrad({out, gradOut})`, true)
    for (const k of names) {
      const g = multi ? res.grads?.[k] : res.grad
      t.true(g?.data === bufs[k], `${c.name}: the gradient of ${k} must be its gradOut buffer`)
    }
    if (o.out) t.true(isTensorLike(res.loss) && res.loss.data === out, `${c.name}: the loss must be the out buffer`)
    const inPlace = build()
    const first = inPlace[0] as Tensor
    const o2 = argsOptions(c, dtype, true)
    o2.gradOut = multi ? { [names[0]]: first.data } : first.data
    const r2 = api.withGrad(...inPlace, o2) as { grad?: Tensor; grads?: Record<string, Tensor> }
    checkArgsResult(t, r2, c, dtype, `${api.name}WithGrad(in place)`, true)
    t.true((multi ? r2.grads?.[names[0]] : r2.grad)?.data === first.data, `${c.name}: in place, the gradient is the input's buffer`)
  }
}

function runArgsError(t: T, api: LossApi, c: ArgsCase, dtype: DType): void {
  const err = c.error as ErrorSpec
  const expectation = { instanceOf: err.class === 'RangeError' ? RangeError : TypeError, code: err.code }
  const tag = `${c.name} [${TAG[dtype]}]`
  const build = () => c.args.map((a) => argValue(a, dtype))
  {
    const args = build()
    const o = toOptions(c.options, dtype)
    const snaps = snapshot({ args: Object.fromEntries(args.map((v, i) => [i, v])) })
    const e = t.throws(() => api.fn(...args, o), expectation, `${tag} ${api.name}()`)
    if (e) t.true(e.message.includes(api.name), `${tag}: the message must name ${api.name}: ${JSON.stringify(e.message)}`)
    t.throws(() => api.withGrad(...args, o), expectation, `${tag} ${api.name}WithGrad()`)
    assertUnchanged(t, snaps, `${tag} (throwing)`)
  }
  {
    const args = build()
    const o = toOptions(c.options, dtype)
    if (err.optionError) t.throws(() => new api.Module(o), expectation, `${tag} new Module(options)`)
    else {
      const m = new api.Module(o)
      t.throws(() => m.forward(...args), expectation, `${tag} Module.forward()`)
      t.throws(() => m.forwardWithGrad(...args), expectation, `${tag} Module.forwardWithGrad()`)
    }
  }
}
