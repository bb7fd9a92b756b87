// Property tests (fast-check, seeded): identities between the losses, the
// reductions' denominators, gradients against float64 central differences,
// float32 against float64, and bit-identical results across thread counts.
//
// Shapes, options and reductions come from fast-check; the values come from a
// seeded generator (`Rng` of _util.ts) whose seed fast-check also draws, so a
// counterexample is reproducible from the printed record.

import test from 'ava'
import fc from 'fast-check'
import {
  binaryCrossEntropy,
  binaryCrossEntropyWithGrad,
  binaryCrossEntropyWithLogits,
  binaryCrossEntropyWithLogitsWithGrad,
  crossEntropy,
  crossEntropyWithGrad,
  entropy,
  getNumThreads,
  klDiv,
  klDivWithGrad,
  logSoftmax,
  nllLoss,
  nllLossWithGrad,
  setNumThreads,
  sigmoid,
  softmax,
} from 'losskit'
import { compareArrays, type DType, F32, FD, finiteDifferenceGrad, floatCtor, Rng, type Tolerance } from './_util.js'

// biome-ignore lint/suspicious/noExplicitAny: one loose signature for every loss
type Any = any
type FloatArray = Float32Array | Float64Array
type Res = number | { data: FloatArray; shape: readonly number[] }

const RUNS = { seed: 42, numRuns: 100, includeErrorInReport: true }
/** float64 results of two algebraically equal computations */
const F64_IDENTITY: Tolerance = { rtol: 1e-10, atol: 1e-12 }

function tolFor(dtype: DType): Tolerance {
  return dtype === 'float32' ? F32 : F64_IDENTITY
}

function flat(r: Res): number[] {
  return typeof r === 'number' ? [r] : Array.from(r.data)
}

/** Throws (for fast-check) unless `actual` ≈ `expected`, naming the worst element. */
function close(label: string, actual: Res | number[], expected: Res | number[], tol: Tolerance): void {
  const a = Array.isArray(actual) ? actual : flat(actual)
  const e = Array.isArray(expected) ? expected : flat(expected)
  if (a.length !== e.length) throw new Error(`${label}: length ${a.length} vs ${e.length}`)
  const { bad, worst } = compareArrays(a, e, tol)
  if (bad.length > 0 && worst) {
    throw new Error(
      `${label}: ${bad.length}/${e.length} outside rtol=${tol.rtol} atol=${tol.atol}; worst [${worst.index}]: ${worst.actual} vs ${worst.expected}`,
    )
  }
}

function prod(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1)
}

// ---------------------------------------------------------------------------
// arbitraries

const dtypeArb = fc.constantFrom<DType>('float32', 'float64')

/** (C) unbatched or (N, C, d1…) with N ≤ 8, C ≤ 12, up to two extra dims ≤ 3. */
const classShapeArb = fc
  .record({
    batched: fc.oneof({ arbitrary: fc.constant(false), weight: 1 }, { arbitrary: fc.constant(true), weight: 4 }),
    n: fc.integer({ min: 1, max: 8 }),
    c: fc.integer({ min: 1, max: 12 }),
    extra: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
  })
  .map(({ batched, n, c, extra }) => (batched ? [n, c, ...extra] : [c]))

/** any shape of up to 4 dims, ≤ ~300 elements, for the elementwise losses */
const elemShapeArb = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 0, maxLength: 4 }).filter((s) => prod(s) <= 300)

type Ignore = 'default-absent' | 'default-present' | 'class-present' | 'other-absent'
const classOptsArb = fc.record({
  seed: fc.integer(),
  scale: fc.constantFrom(0.5, 2, 6),
  weighted: fc.boolean(),
  ignore: fc.constantFrom<Ignore>('default-absent', 'default-present', 'class-present', 'other-absent'),
  reduction: fc.constantFrom('none', 'mean', 'sum'),
  intType: fc.constantFrom('int32', 'int64', 'number'),
  smoothing: fc.constantFrom(0, 0, 0.1, 0.5, 1),
})

interface ClassCase {
  shape: number[]
  C: number
  lossShape: number[]
  x: Float64Array
  /** class indices (ignored ones = ignoreIndex) */
  t: number[]
  ignoreIndex: number | undefined
  weight: Float64Array | undefined
  probs: Float64Array
}

function classCase(shape: number[], o: Any): ClassCase {
  const rng = new Rng(o.seed)
  const batched = shape.length > 1
  const C = batched ? shape[1] : shape[0]
  const lossShape = batched ? [shape[0], ...shape.slice(2)] : []
  const x = Float64Array.from(rng.normals(prod(shape), o.scale), Math.fround)
  const nt = prod(lossShape)
  const t = Array.from({ length: nt }, () => rng.int(C))
  let ignoreIndex: number | undefined
  if (o.ignore === 'default-present') {
    for (let i = 0; i < nt; i++) if (rng.uniform() < 0.3) t[i] = -100
  } else if (o.ignore === 'class-present') {
    ignoreIndex = rng.int(C)
  } else if (o.ignore === 'other-absent') {
    ignoreIndex = rng.uniform() < 0.5 ? -1 : C + 7
  }
  const weight = o.weighted ? Float64Array.from(rng.uniforms(C, 0.1, 2), Math.fround) : undefined
  // class probabilities along dim 1 (or 0 when unbatched), some exact zeros
  const outer = batched ? shape[0] : 1
  const inner = batched ? prod(shape.slice(2)) : 1
  const probs = new Float64Array(prod(shape))
  for (let a = 0; a < outer; a++) {
    for (let b = 0; b < inner; b++) {
      let s = 0
      for (let k = 0; k < C; k++) {
        const v = rng.uniform() < 0.2 ? 0 : Math.exp(rng.normal())
        probs[(a * C + k) * inner + b] = v
        s += v
      }
      if (s === 0) {
        probs[a * C * inner + b] = 1
        s = 1
      }
      // normalised in float64 (not rounded to float32: entropy() normalises, klDiv and crossEntropy do not)
      for (let k = 0; k < C; k++) probs[(a * C + k) * inner + b] /= s
    }
  }
  return { shape, C, lossShape, x, t, ignoreIndex, weight, probs }
}

function indexTarget(cc: ClassCase, intType: string): unknown {
  if (cc.lossShape.length === 0 && intType === 'number') return cc.t[0]
  const data = intType === 'int64' ? BigInt64Array.from(cc.t, BigInt) : Int32Array.from(cc.t)
  return { data, shape: cc.lossShape }
}

function classOptions(cc: ClassCase, F: typeof Float32Array | typeof Float64Array, o: Any, smoothing: number): Record<string, unknown> {
  const r: Record<string, unknown> = { reduction: o.reduction }
  if (cc.weight) r.weight = F.from(cc.weight)
  if (cc.ignoreIndex !== undefined) r.ignoreIndex = cc.ignoreIndex
  if (smoothing) r.labelSmoothing = smoothing
  return r
}

// ---------------------------------------------------------------------------
// identities

test('crossEntropy(x, t) = nllLoss(logSoftmax(x, {dim: 1}), t) for class indices (no smoothing)', (t) => {
  fc.assert(
    fc.property(dtypeArb, classShapeArb, classOptsArb, (dtype, shape, o) => {
      const F = floatCtor(dtype)
      const cc = classCase(shape, o)
      const x = { data: F.from(cc.x), shape }
      const target = indexTarget(cc, o.intType)
      const opt = classOptions(cc, F, o, 0)
      const lsm = logSoftmax(x, { dim: shape.length > 1 ? 1 : 0 })
      const ce = crossEntropy(x as Any, target as Any, opt as Any) as Res
      const nll = nllLoss(lsm as Any, target as Any, opt as Any) as Res
      close(`[${dtype}] shape [${shape}] ${JSON.stringify({ ...opt, weight: !!opt.weight })}`, ce, nll, tolFor(dtype))
      // and the gradients: d CE/dx = J_lsmᵀ · d NLL/d lsm, i.e. grad_nll - softmax · Σ_class grad_nll
      const g = crossEntropyWithGrad(x as Any, target as Any, opt as Any) as Any
      const gn = nllLossWithGrad(lsm as Any, target as Any, opt as Any) as Any
      const sm = softmax(x, { dim: shape.length > 1 ? 1 : 0 }) as Any
      const C = cc.C
      const inner = shape.length > 1 ? prod(shape.slice(2)) : 1
      const outer = shape.length > 1 ? shape[0] : 1
      const expect = new Float64Array(prod(shape))
      for (let a = 0; a < outer; a++) {
        for (let b = 0; b < inner; b++) {
          let s = 0
          for (let k = 0; k < C; k++) s += gn.grad.data[(a * C + k) * inner + b]
          for (let k = 0; k < C; k++) {
            const i = (a * C + k) * inner + b
            expect[i] = gn.grad.data[i] - sm.data[i] * s
          }
        }
      }
      close(
        `[${dtype}] shape [${shape}] grad`,
        Array.from(g.grad.data),
        Array.from(expect),
        dtype === 'float32' ? F32 : { rtol: 1e-9, atol: 1e-12 },
      )
    }),
    RUNS,
  )
  t.pass()
})

test("klDiv(logSoftmax(x), p, 'sum') = -Σ entropy(p) + crossEntropy(x, p, 'sum') (unbatched and batched)", (t) => {
  fc.assert(
    fc.property(dtypeArb, classShapeArb, fc.integer(), fc.constantFrom(0.5, 2, 6), (dtype, shape, seed, scale) => {
      const F = floatCtor(dtype)
      const cc = classCase(shape, {
        seed,
        scale,
        weighted: false,
        ignore: 'default-absent',
        reduction: 'sum',
        intType: 'int32',
        smoothing: 0,
      })
      const dim = shape.length > 1 ? 1 : 0
      const x = { data: F.from(cc.x), shape }
      const p = { data: F.from(cc.probs), shape }
      const lsm = logSoftmax(x, { dim }) as Any
      const kl = klDiv(lsm, p as Any, { reduction: 'sum' }) as number
      const h = entropy(p as Any, { dim }) as Res
      const ce = crossEntropy(x as Any, p as Any, { reduction: 'sum' }) as number
      const hsum = flat(h).reduce((a, b) => a + b, 0)
      // f32: the three results are each within float32 tolerance of the exact value
      const tol = dtype === 'float32' ? { rtol: 1e-5, atol: 1e-4 * Math.max(1, prod(shape) / cc.C) } : F64_IDENTITY
      close(`[${dtype}] shape [${shape}]`, [kl], [-hsum + ce], tol)
      // the 'none' forms agree elementwise too: Σ_class kl_none = -H + ce_none
      const kln = klDiv(lsm, p as Any, { reduction: 'none' }) as Any
      const cen = crossEntropy(x as Any, p as Any, { reduction: 'none' }) as Res
      const C = cc.C
      const inner = shape.length > 1 ? prod(shape.slice(2)) : 1
      const outer = shape.length > 1 ? shape[0] : 1
      const rows: number[] = []
      for (let a = 0; a < outer; a++) {
        for (let b = 0; b < inner; b++) {
          let s = 0
          for (let k = 0; k < C; k++) s += kln.data[(a * C + k) * inner + b]
          rows.push(s)
        }
      }
      const hs = flat(h)
      const cs = flat(cen)
      close(
        `[${dtype}] shape [${shape}] 'none'`,
        rows,
        cs.map((v, i) => v - hs[i]),
        dtype === 'float32' ? { rtol: 1e-5, atol: 1e-5 } : F64_IDENTITY,
      )
    }),
    RUNS,
  )
  t.pass()
})

// ---------------------------------------------------------------------------
// 'sum' = 'mean' × denominator

test("crossEntropy / nllLoss with class indices: 'sum' = 'mean' × Σ weight[t] over the non-ignored targets", (t) => {
  fc.assert(
    fc.property(dtypeArb, classShapeArb, classOptsArb, fc.boolean(), (dtype, shape, o, nll) => {
      const F = floatCtor(dtype)
      const cc = classCase(shape, o)
      const x = { data: F.from(cc.x), shape }
      const target = indexTarget(cc, o.intType)
      const base = classOptions(cc, F, o, nll ? 0 : o.smoothing)
      const fn = (nll ? nllLoss : crossEntropy) as Any
      const sum = fn(x, target, { ...base, reduction: 'sum' }) as number
      const mean = fn(x, target, { ...base, reduction: 'mean' }) as number
      const ii = cc.ignoreIndex ?? -100
      let denom = 0
      for (const k of cc.t) if (k !== ii) denom += cc.weight ? F.from([cc.weight[k]])[0] : 1
      const label = `[${dtype}] ${nll ? 'nll' : 'ce'} shape [${shape}] ${JSON.stringify({ ...base, weight: !!base.weight })}`
      if (denom === 0) {
        if (!Number.isNaN(mean)) throw new Error(`${label}: all targets ignored: mean must be NaN, got ${mean}`)
        close(`${label} all ignored sum`, [sum], [0], F64_IDENTITY)
        return
      }
      close(label, [mean * denom], [sum], tolFor(dtype))
      // and the gradients scale the same way
      const gs = (nll ? nllLossWithGrad : crossEntropyWithGrad) as Any
      const a = gs(x, target, { ...base, reduction: 'sum' }).grad.data
      const b = gs(x, target, { ...base, reduction: 'mean' }).grad.data
      close(
        `${label} grad`,
        Array.from(b, (v: number) => v * denom),
        Array.from(a),
        tolFor(dtype),
      )
    }),
    RUNS,
  )
  t.pass()
})

test("crossEntropy with class probabilities: 'sum' = 'mean' × N·d (1 unbatched), weights and smoothing included", (t) => {
  fc.assert(
    fc.property(dtypeArb, classShapeArb, classOptsArb, (dtype, shape, o) => {
      const F = floatCtor(dtype)
      const cc = classCase(shape, o)
      const x = { data: F.from(cc.x), shape }
      const p = { data: F.from(cc.probs), shape }
      const base: Record<string, unknown> = {}
      if (cc.weight) base.weight = F.from(cc.weight)
      if (o.smoothing) base.labelSmoothing = o.smoothing
      const sum = crossEntropy(x as Any, p as Any, { ...base, reduction: 'sum' } as Any) as number
      const mean = crossEntropy(x as Any, p as Any, { ...base, reduction: 'mean' } as Any) as number
      const denom = prod(shape) / cc.C
      close(`[${dtype}] shape [${shape}] ${JSON.stringify(Object.keys(base))}`, [mean * denom], [sum], tolFor(dtype))
    }),
    RUNS,
  )
  t.pass()
})

const elemOptsArb = fc.record({
  seed: fc.integer(),
  logTarget: fc.boolean(),
  weighted: fc.boolean(),
  posWeighted: fc.boolean(),
  hard: fc.boolean(),
})

interface ElemCase {
  x: Float64Array
  t: Float64Array
  weight?: { data: Float64Array; shape: number[] }
  posWeight?: { data: Float64Array; shape: number[] }
}

/** Inputs for KL (log-probs input, probs or log-probs target), BCE (probabilities) or BCE with logits. */
function elemCase(which: 'kl' | 'bce' | 'bcel', shape: number[], o: Any): ElemCase {
  const rng = new Rng(o.seed)
  const n = prod(shape)
  const r = (v: number) => Math.fround(v)
  let x: Float64Array
  let tt: Float64Array
  if (which === 'kl') {
    x = Float64Array.from({ length: n }, () => r(-Math.abs(rng.normal()) - 0.05))
    tt = Float64Array.from({ length: n }, () =>
      o.logTarget ? r(-Math.abs(rng.normal()) - 0.05) : rng.uniform() < 0.15 ? 0 : r(rng.uniform(0, 1)),
    )
  } else if (which === 'bce') {
    x = Float64Array.from({ length: n }, () => r(rng.uniform(0.02, 0.98)))
    tt = Float64Array.from({ length: n }, () => (o.hard ? rng.int(2) : r(rng.uniform())))
  } else {
    x = Float64Array.from({ length: n }, () => r(rng.normal() * 3))
    tt = Float64Array.from({ length: n }, () => (o.hard ? rng.int(2) : r(rng.uniform())))
  }
  // a weight that broadcasts: along the last dim, or (d0, 1, …) , or a single value
  const bshape = (): number[] => {
    if (shape.length === 0) return []
    const k = rng.int(3)
    if (k === 0) return [shape[shape.length - 1]]
    if (k === 1) return [shape[0], ...shape.slice(1).map(() => 1)]
    return [1]
  }
  const mk = () => {
    const s = bshape()
    return { data: Float64Array.from({ length: prod(s) }, () => r(rng.uniform(0.2, 3))), shape: s }
  }
  return {
    x,
    t: tt,
    weight: which !== 'kl' && o.weighted ? mk() : undefined,
    posWeight: which === 'bcel' && o.posWeighted ? mk() : undefined,
  }
}

function elemOptions(
  ec: ElemCase,
  F: typeof Float32Array | typeof Float64Array,
  o: Any,
  which: string,
  reduction: string,
): Record<string, unknown> {
  const r: Record<string, unknown> = { reduction }
  if (which === 'kl') r.logTarget = o.logTarget
  if (ec.weight) r.weight = { data: F.from(ec.weight.data), shape: ec.weight.shape }
  if (ec.posWeight) r.posWeight = { data: F.from(ec.posWeight.data), shape: ec.posWeight.shape }
  return r
}

const ELEM = {
  kl: { fn: klDiv, withGrad: klDivWithGrad },
  bce: { fn: binaryCrossEntropy, withGrad: binaryCrossEntropyWithGrad },
  bcel: { fn: binaryCrossEntropyWithLogits, withGrad: binaryCrossEntropyWithLogitsWithGrad },
} as Any

test("klDiv: 'sum' = 'mean' × numel = 'batchmean' × size(0); the BCEs: 'sum' = 'mean' × numel", (t) => {
  fc.assert(
    fc.property(dtypeArb, elemShapeArb, fc.constantFrom('kl', 'bce', 'bcel'), elemOptsArb, (dtype, shape, which, o) => {
      const F = floatCtor(dtype)
      const ec = elemCase(which, shape, o)
      const x = { data: F.from(ec.x), shape }
      const tg = { data: F.from(ec.t), shape }
      const { fn } = ELEM[which]
      const sum = fn(x, tg, elemOptions(ec, F, o, which, 'sum')) as number
      const mean = fn(x, tg, elemOptions(ec, F, o, which, 'mean')) as number
      const label = `[${dtype}] ${which} shape [${shape}] ${JSON.stringify(o)}`
      close(`${label} mean`, [mean * prod(shape)], [sum], tolFor(dtype))
      if (which === 'kl') {
        const bm = fn(x, tg, elemOptions(ec, F, o, which, 'batchmean')) as number
        const size0 = shape.length === 0 ? 1 : shape[0]
        close(`${label} batchmean`, [bm * size0], [sum], tolFor(dtype))
      }
    }),
    RUNS,
  )
  t.pass()
})

// ---------------------------------------------------------------------------
// gradients against float64 central differences

function fdCheck(label: string, f: (x: Float64Array) => number, x: Float64Array, analytic: ArrayLike<number>): void {
  const fd = finiteDifferenceGrad(f, x)
  close(`${label} (analytic vs central differences)`, Array.from(analytic), Array.from(fd), FD)
}

function dot(loss: Res, g: number | Float64Array): number {
  if (typeof loss === 'number') return loss * (typeof g === 'number' ? g : g[0])
  let s = 0
  for (let i = 0; i < loss.data.length; i++) s += loss.data[i] * (typeof g === 'number' ? g : g[i])
  return s
}

const smallClassShapeArb = fc
  .record({
    batched: fc.boolean(),
    n: fc.integer({ min: 1, max: 5 }),
    c: fc.integer({ min: 1, max: 7 }),
    extra: fc.array(fc.integer({ min: 1, max: 2 }), { maxLength: 2 }),
  })
  .map(({ batched, n, c, extra }) => (batched ? [n, c, ...extra] : [c]))

test('crossEntropy / nllLoss gradients (index and probability targets, weight, ignoreIndex, smoothing, every reduction) = float64 central differences', (t) => {
  fc.assert(
    fc.property(
      smallClassShapeArb,
      classOptsArb.map((o) => ({ ...o, scale: Math.min(o.scale, 2) })),
      fc.constantFrom('ce-index', 'ce-prob', 'nll'),
      fc.integer(),
      (shape, o, kind, gseed) => {
        const cc = classCase(shape, o)
        const target = kind === 'ce-prob' ? { data: cc.probs, shape } : indexTarget(cc, o.intType)
        const base = classOptions(cc, Float64Array, o, kind === 'nll' ? 0 : o.smoothing)
        if (kind === 'ce-prob') delete base.ignoreIndex
        const lossShape = kind === 'ce-prob' || cc.lossShape.length > 0 ? cc.lossShape : []
        const grng = new Rng(gseed)
        const none = o.reduction === 'none'
        const g = none ? (lossShape.length === 0 ? grng.normal() : grng.normals(prod(lossShape))) : grng.normal()
        const gradOutput = typeof g === 'number' ? g : { data: g, shape: lossShape }
        const fn = (kind === 'nll' ? nllLoss : crossEntropy) as Any
        const withGrad = (kind === 'nll' ? nllLossWithGrad : crossEntropyWithGrad) as Any
        const f = (xx: Float64Array) => dot(fn({ data: xx, shape }, target, base), g)
        const r = withGrad({ data: cc.x, shape }, target, { ...base, gradOutput })
        // every target ignored under 'mean': the loss is NaN (0/0) and there is nothing to differentiate
        if (typeof r.loss === 'number' && Number.isNaN(r.loss)) return
        fdCheck(`${kind} shape [${shape}] ${JSON.stringify({ ...base, weight: !!base.weight })}`, f, cc.x, r.grad.data)
      },
    ),
    { ...RUNS, numRuns: 60 },
  )
  t.pass()
})

test('klDiv / binaryCrossEntropy / binaryCrossEntropyWithLogits gradients (weights, posWeight, logTarget, every reduction) = float64 central differences', (t) => {
  fc.assert(
    fc.property(
      elemShapeArb.filter((s) => prod(s) <= 60),
      fc.constantFrom('kl', 'bce', 'bcel'),
      elemOptsArb,
      fc.constantFrom('none', 'mean', 'sum', 'batchmean'),
      fc.integer(),
      (shape, which, o, red, gseed) => {
        const reduction = red === 'batchmean' && which !== 'kl' ? 'mean' : red
        const ec = elemCase(which, shape, o)
        const tg = { data: ec.t, shape }
        const opt = elemOptions(ec, Float64Array, o, which, reduction)
        const grng = new Rng(gseed)
        const none = reduction === 'none'
        const g = none && shape.length > 0 ? grng.normals(prod(shape)) : grng.normal()
        const gradOutput = typeof g === 'number' ? g : { data: g, shape }
        const { fn, withGrad } = ELEM[which]
        const f = (xx: Float64Array) => dot(fn({ data: xx, shape }, tg, opt), g)
        const r = withGrad({ data: ec.x, shape }, tg, { ...opt, gradOutput })
        fdCheck(`${which} shape [${shape}] ${reduction} ${JSON.stringify(o)}`, f, ec.x, r.grad.data)
      },
    ),
    RUNS,
  )
  t.pass()
})

// ---------------------------------------------------------------------------
// float32 against float64 (the same float32-representable values)

test('float32 results (losses and gradients) are within float32 tolerance of the float64 ones', (t) => {
  fc.assert(
    fc.property(
      classShapeArb,
      classOptsArb,
      fc.constantFrom('ce-index', 'ce-prob', 'nll', 'kl', 'bce', 'bcel'),
      elemOptsArb,
      (shape, o, kind, eo) => {
        const run = (dtype: DType) => {
          const F = floatCtor(dtype)
          if (kind === 'kl' || kind === 'bce' || kind === 'bcel') {
            const ec = elemCase(kind, shape, eo)
            const { withGrad } = ELEM[kind]
            return withGrad({ data: F.from(ec.x), shape }, { data: F.from(ec.t), shape }, elemOptions(ec, F, eo, kind, o.reduction))
          }
          const cc = classCase(shape, o)
          const x = { data: F.from(cc.x), shape }
          if (kind === 'ce-prob') {
            const base = classOptions(cc, F, o, o.smoothing)
            delete base.ignoreIndex
            return crossEntropyWithGrad(x as Any, { data: F.from(cc.probs), shape } as Any, base as Any)
          }
          const fn = (kind === 'nll' ? nllLossWithGrad : crossEntropyWithGrad) as Any
          return fn(x, indexTarget(cc, o.intType), classOptions(cc, F, o, kind === 'nll' ? 0 : o.smoothing))
        }
        const a = run('float32') as Any
        const b = run('float64') as Any
        if (a.grad.data.constructor !== Float32Array || (typeof a.loss !== 'number' && a.loss.data.constructor !== Float32Array)) {
          throw new Error('float32 input must give float32 results')
        }
        // torch.testing.assert_close's float32 tolerance (rtol 1.3e-6, atol 1e-5)
        const label = `${kind} shape [${shape}] ${o.reduction}`
        close(`${label} loss`, a.loss, b.loss, F32)
        close(`${label} grad`, a.grad, b.grad, F32)
      },
    ),
    RUNS,
  )
  t.pass()
})

// ---------------------------------------------------------------------------
// identical bits whatever the thread count

function bits(r: Any): Buffer[] {
  const parts: Buffer[] = []
  const add = (v: Any) => {
    if (typeof v === 'number') parts.push(Buffer.from(Float64Array.of(v).buffer))
    else parts.push(Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength))
  }
  if (r && typeof r === 'object' && 'grad' in r) {
    add(r.loss)
    add(r.grad)
  } else add(r)
  return parts
}

function firstDiff(a: Buffer[], b: Buffer[]): string | undefined {
  if (a.length !== b.length) return `${a.length} vs ${b.length} parts`
  for (let i = 0; i < a.length; i++) {
    if (!a[i].equals(b[i])) {
      let j = 0
      while (j < a[i].length && a[i][j] === b[i][j]) j++
      return `part ${i} (${i === 0 ? 'loss' : 'grad'}) differs first at byte ${j} of ${a[i].length}`
    }
  }
  return undefined
}

interface Big {
  name: string
  run: () => Any
}

function bigCases(dtype: DType): Big[] {
  const F = floatCtor(dtype)
  const rng = new Rng(dtype === 'float32' ? 5 : 6)
  const N = 64
  const C = 4096
  const x = { data: F.from(rng.normals(N * C, 3)), shape: [N, C] }
  const tgt = Int32Array.from({ length: N }, (_, i) => (i % 7 === 3 ? -100 : rng.int(C)))
  const w = F.from(rng.uniforms(C, 0.1, 2))
  const probs = { data: F.from(rng.simplexRows(N, C)), shape: [N, C] }
  const M = 300_000
  const lx = { data: F.from(rng.normals(M, 4)), shape: [M] }
  const lt = { data: F.from(rng.uniforms(M)), shape: [M] }
  const px = { data: F.from(rng.uniforms(M, 0.01, 0.99)), shape: [1000, 300] }
  const pt = { data: F.from(rng.uniforms(M)), shape: [1000, 300] }
  const pw = F.from(rng.uniforms(300, 0.5, 2))
  const rw = { data: F.from(rng.uniforms(1000)), shape: [1000, 1] }
  const ce3 = { data: F.from(rng.normals(8 * 64 * 512, 2)), shape: [8, 64, 512] }
  const t3 = { data: Int32Array.from({ length: 8 * 512 }, () => rng.int(64)), shape: [8, 512] }
  const g3 = { data: F.from(rng.normals(8 * 512)), shape: [8, 512] }
  const lsm = logSoftmax(x, { dim: 1 }) as Any
  return [
    { name: `(64, 4096) crossEntropyWithGrad mean [${dtype}]`, run: () => crossEntropyWithGrad(x as Any, tgt) },
    {
      name: `(64, 4096) crossEntropyWithGrad weight, smoothing 0.1, sum [${dtype}]`,
      run: () => crossEntropyWithGrad(x as Any, tgt, { weight: w as Any, labelSmoothing: 0.1, reduction: 'sum' }),
    },
    { name: `(64, 4096) crossEntropyWithGrad probabilities mean [${dtype}]`, run: () => crossEntropyWithGrad(x as Any, probs as Any) },
    {
      name: `(8, 64, 512) crossEntropyWithGrad 'none' with gradOutput [${dtype}]`,
      run: () => crossEntropyWithGrad(ce3 as Any, t3 as Any, { reduction: 'none', gradOutput: g3 as Any }),
    },
    { name: `(64, 4096) nllLossWithGrad weighted mean [${dtype}]`, run: () => nllLossWithGrad(lsm, tgt, { weight: w as Any }) },
    {
      name: `300k binaryCrossEntropyWithLogitsWithGrad mean [${dtype}]`,
      run: () => binaryCrossEntropyWithLogitsWithGrad(lx as Any, lt as Any),
    },
    {
      name: `(1000, 300) binaryCrossEntropyWithLogitsWithGrad weight, posWeight, sum [${dtype}]`,
      run: () =>
        binaryCrossEntropyWithLogitsWithGrad({ data: lx.data, shape: [1000, 300] } as Any, { data: lt.data, shape: [1000, 300] } as Any, {
          weight: rw as Any,
          posWeight: pw as Any,
          reduction: 'sum',
        }),
    },
    {
      name: `(1000, 300) binaryCrossEntropyWithGrad mean [${dtype}]`,
      run: () => binaryCrossEntropyWithGrad(px as Any, pt as Any, { weight: pw as Any }),
    },
    { name: `(64, 4096) klDivWithGrad batchmean [${dtype}]`, run: () => klDivWithGrad(lsm, probs as Any, { reduction: 'batchmean' }) },
    {
      name: `(64, 4096) logSoftmax / softmax / entropy [${dtype}]`,
      run: () => ({ loss: entropy(probs as Any), grad: softmax(x as Any, { dim: 0 }) }),
    },
    { name: `300k sigmoid [${dtype}]`, run: () => sigmoid(lx as Any) },
  ]
}

test('identical bits for 1, 2 and 3 threads (parallel path: ≥ 2^17 elements), forward and every gradient element', (t) => {
  const before = getNumThreads()
  t.teardown(() => setNumThreads(before))
  t.log(`default thread count: ${before}`)
  for (const dtype of ['float32', 'float64'] as DType[]) {
    for (const c of bigCases(dtype)) {
      setNumThreads(1)
      const one = bits(c.run())
      for (const n of [2, 3]) {
        setNumThreads(n)
        const other = bits(c.run())
        const d = firstDiff(one, other)
        t.is(d, undefined, `${c.name}: 1 vs ${n} threads: ${d}`)
      }
      // and run-to-run with the same thread count
      setNumThreads(2)
      t.is(firstDiff(bits(c.run()), bits(c.run())), undefined, `${c.name}: two runs with 2 threads`)
    }
  }
  setNumThreads(before)
  t.is(getNumThreads(), before)
})

test('identical bits across thread counts for random large shapes (property)', (t) => {
  const before = getNumThreads()
  t.teardown(() => setNumThreads(before))
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 200 }),
      fc.integer({ min: 2, max: 3000 }),
      dtypeArb,
      fc.integer(),
      fc.constantFrom('none', 'mean', 'sum'),
      (n, c, dtype, seed, reduction) => {
        // at least 2^17 elements
        const N = Math.max(n, Math.ceil(2 ** 17 / c))
        const F = floatCtor(dtype)
        const rng = new Rng(seed)
        const x = { data: F.from(rng.normals(N * c, 2)), shape: [N, c] }
        const tg = Int32Array.from({ length: N }, () => rng.int(c))
        const bt = { data: F.from(rng.uniforms(N * c)), shape: [N, c] }
        const runs = (k: number) => {
          setNumThreads(k)
          return [
            ...bits(crossEntropyWithGrad(x as Any, tg, { reduction, labelSmoothing: 0.05 } as Any)),
            ...bits(binaryCrossEntropyWithLogitsWithGrad(x as Any, bt as Any, { reduction } as Any)),
          ]
        }
        const a = runs(1)
        const b = runs(2)
        const d = firstDiff(a, b)
        if (d) throw new Error(`(${N}, ${c}) ${dtype} ${reduction}: 1 vs 2 threads: ${d}`)
      },
    ),
    { seed: 42, numRuns: 15 },
  )
  setNumThreads(before)
  t.pass()
})

test('a NaN input gives NaN results whatever its payload bits (float32 data from files, wasm or GPUs can carry any)', (t) => {
  // PyTorch propagates every NaN; so must the kernels, on each path: short rows (tiles),
  // long rows, and the elementwise losses' and helpers' vector bodies and tails.
  const payloads = [0x7fc00000, 0xffc00000, 0x7fc00001, 0x7fc0ffff, 0x7f800001, 0xffffffff]
  const fails: string[] = []
  for (const bits of payloads) {
    for (const [n, c, at] of [
      [3, 10, 14],
      [2, 100, 37],
      [1, 1000, 999],
    ]) {
      const x = Float32Array.from({ length: n * c }, (_, i) => Math.sin(i))
      new DataView(x.buffer).setUint32(4 * at, bits, true)
      const row = Math.floor(at / c)
      const tgt = Int32Array.from({ length: n }, (_, i) => (i * 7 + 1) % c)
      const tag = `0x${bits.toString(16)} at ${at} of (${n}, ${c})`
      const ce = crossEntropyWithGrad({ data: x, shape: [n, c] }, tgt, { reduction: 'none' }) as Any
      if (!Number.isNaN(ce.loss.data[row])) fails.push(`crossEntropy loss[${row}], ${tag}: ${ce.loss.data[row]}`)
      if (!Number.isNaN(ce.grad.data[at])) fails.push(`crossEntropy grad[${at}], ${tag}: ${ce.grad.data[at]}`)
      const sm = softmax({ data: x, shape: [n, c] }) as Any
      if (!Number.isNaN(sm.data[at])) fails.push(`softmax[${at}], ${tag}: ${sm.data[at]}`)
      const sg = sigmoid(x) as Any
      if (!Number.isNaN((sg.data ?? sg)[at])) fails.push(`sigmoid[${at}], ${tag}`)
      const t01 = Float32Array.from({ length: n * c }, (_, i) => (i % 3) / 2)
      const bl = binaryCrossEntropyWithLogitsWithGrad(x, t01, { reduction: 'none' }) as Any
      if (!Number.isNaN(bl.loss.data[at]) || !Number.isNaN(bl.grad.data[at]))
        fails.push(`binaryCrossEntropyWithLogits at ${at}, ${tag}: ${bl.loss.data[at]}, ${bl.grad.data[at]}`)
    }
  }
  t.deepEqual(fails, [])
})
