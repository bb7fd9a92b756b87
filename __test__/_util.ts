// Shared helpers for the parity specs: fixture loading/decoding, typed-array
// conversion, named tolerances, a closeness assertion that says where it failed,
// buffer snapshots and a float64 finite-difference gradient checker.
//
// The fixtures are made by __test__/fixtures/generate.py (PyTorch, float64).

import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ExecutionContext } from 'ava'

export type FloatArray = Float32Array | Float64Array
export type IndexArray = Int32Array | BigInt64Array
export type DType = 'float32' | 'float64'

export interface Tensor<A = FloatArray> {
  data: A
  shape: readonly number[]
}

// ---------------------------------------------------------------------------
// fixture schema (after decoding: "nan"/"inf"/"-inf" are numbers again)

export interface TensorSpec {
  data: number[]
  shape: number[]
  /** 'float32': values are float32-representable, the case also runs in float32. */
  dtype?: DType
}

export type TargetKind = 'int32' | 'int64' | 'number' | 'float'

export interface TargetSpec {
  data: number[]
  shape: number[]
  kind: TargetKind
}

export interface ErrorSpec {
  class: 'TypeError' | 'RangeError'
  code: string
  /** the options alone are invalid: the module constructor must throw already */
  optionError: boolean
  /** what torch 1.13 did with the same call (documentation only) */
  torchRaises: boolean | null
  torchMessage: string | null
}

export type OptionValue = number | string | boolean | TensorSpec

export interface LossCase {
  name: string
  fn: string
  torch?: string
  input: TensorSpec
  target: TargetSpec
  options: Record<string, OptionValue>
  gradOutput?: number | TensorSpec
  /** GaussianNLL's third tensor (or one number), passed after the target */
  variance?: number | TensorSpec
  expected?: {
    loss: number | TensorSpec
    grad: TensorSpec
    lossF32?: number | TensorSpec
    gradF32?: TensorSpec
    /** d/d variance, for a tensor variance: the result is then `{ loss, grads: { input, variance } }` */
    gradVariance?: TensorSpec
    gradVarianceF32?: TensorSpec
  }
  error?: ErrorSpec
}

export interface HelperCase {
  name: string
  fn: string
  torch?: string
  input: TensorSpec
  options: Record<string, OptionValue>
  expected?: { value: number | TensorSpec; valueF32?: number | TensorSpec }
  error?: ErrorSpec
}

export interface FixtureFile<C> {
  generator: string
  torch: string
  doc: string
  cases: C[]
}

// ---------------------------------------------------------------------------
// loading

export const TEST_DIR = dirname(fileURLToPath(import.meta.url))
export const FIXTURE_DIR = join(TEST_DIR, 'fixtures')

/** Keys whose string values are text, never encoded floats. */
const TEXT_KEYS = new Set(['name', 'fn', 'torch', 'doc', 'generator', 'reduction', 'kind', 'dtype', 'class', 'code', 'torchMessage'])

const SPECIAL: Record<string, number> = { nan: Number.NaN, inf: Number.POSITIVE_INFINITY, '-inf': Number.NEGATIVE_INFINITY }

/** JSON cannot hold NaN/±Infinity: the generator writes "nan", "inf", "-inf". */
export function decodeSpecial(key: string, value: unknown): unknown {
  if (typeof value === 'string' && !TEXT_KEYS.has(key) && Object.hasOwn(SPECIAL, value)) {
    return SPECIAL[value]
  }
  return value
}

export function loadFixtures<C = LossCase>(name: string): FixtureFile<C> {
  const text = readFileSync(join(FIXTURE_DIR, `${name}.json`), 'utf8')
  const parsed = JSON.parse(text, decodeSpecial) as FixtureFile<C>
  if (!Array.isArray(parsed.cases) || parsed.cases.length === 0) {
    throw new Error(`fixture ${name}.json has no cases; run /usr/bin/python3 __test__/fixtures/generate.py`)
  }
  return parsed
}

// ---------------------------------------------------------------------------
// conversion

export function floatCtor(dtype: DType): Float32ArrayConstructor | Float64ArrayConstructor {
  return dtype === 'float32' ? Float32Array : Float64Array
}

export function toFloatArray(data: readonly number[], dtype: DType): FloatArray {
  return dtype === 'float32' ? Float32Array.from(data) : Float64Array.from(data)
}

/** A float tensor of the requested type (the values of float32 cases are exact in both). */
export function toInput(spec: TensorSpec, dtype: DType): Tensor<FloatArray> {
  return { data: toFloatArray(spec.data, dtype), shape: [...spec.shape] }
}

export type TargetValue = number | Tensor<FloatArray> | Tensor<Int32Array> | Tensor<BigInt64Array>

export function fitsInt32(values: readonly number[]): boolean {
  return values.every((v) => Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31)
}

/**
 * The target as losskit takes it. `kind` overrides the recorded kind (used to run
 * an int64 case once more with an Int32Array and vice versa).
 */
export function toTarget(spec: TargetSpec, dtype: DType, kind: TargetKind = spec.kind): TargetValue {
  switch (kind) {
    case 'number':
      if (spec.data.length !== 1) throw new Error(`number target needs exactly one value, got ${spec.data.length}`)
      return spec.data[0]
    case 'int64':
      return { data: BigInt64Array.from(spec.data, (v) => BigInt(v)), shape: [...spec.shape] }
    case 'int32':
      if (!fitsInt32(spec.data)) throw new Error('target does not fit in an Int32Array')
      return { data: Int32Array.from(spec.data), shape: [...spec.shape] }
    case 'float':
      return { data: toFloatArray(spec.data, dtype), shape: [...spec.shape] }
    default:
      throw new Error(`unknown target kind ${String(kind)}`)
  }
}

export function isTensorSpec(v: unknown): v is TensorSpec {
  return typeof v === 'object' && v !== null && Array.isArray((v as TensorSpec).data) && Array.isArray((v as TensorSpec).shape)
}

export type Options = Record<string, unknown>

/** Fixture options → losskit options; tensors (weight, posWeight) become typed arrays of `dtype`. */
export function toOptions(spec: Record<string, OptionValue>, dtype: DType): Options {
  const out: Options = {}
  for (const [k, v] of Object.entries(spec)) {
    out[k] = isTensorSpec(v) ? toInput(v, dtype) : v
  }
  return out
}

export function toGradOutput(spec: number | TensorSpec | undefined, dtype: DType): number | Tensor<FloatArray> | undefined {
  if (spec === undefined || typeof spec === 'number') return spec
  return toInput(spec, dtype)
}

export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1)
}

/** Copy `arr` into the middle of a larger buffer and return the subarray view over it. */
export function asOffsetView<A extends FloatArray | IndexArray>(arr: A, before = 3, after = 2): A {
  const Ctor = arr.constructor as { new (n: number): A }
  const big = new Ctor(arr.length + before + after)
  // junk around the view: a kernel that reads outside it gets obviously wrong values
  if (big instanceof BigInt64Array) big.fill(987654321n)
  else (big as FloatArray).fill(Number.NaN)
  ;(big as unknown as { set(a: A, o: number): void }).set(arr, before)
  return (big as unknown as { subarray(a: number, b: number): A }).subarray(before, before + arr.length)
}

// ---------------------------------------------------------------------------
// tolerances and comparison

export interface Tolerance {
  rtol: number
  atol: number
}

/** float64 parity with PyTorch's float64 answers. */
export const F64: Tolerance = { rtol: 1e-9, atol: 1e-12 }
/** torch.testing.assert_close's float32 defaults. */
export const F32: Tolerance = { rtol: 1.3e-6, atol: 1e-5 }
/** analytic gradient vs float64 central differences. */
export const FD: Tolerance = { rtol: 1e-6, atol: 1e-7 }

export function tolFor(dtype: DType): Tolerance {
  return dtype === 'float32' ? F32 : F64
}

function fmt(v: number): string {
  return Object.is(v, -0) ? '-0' : String(v)
}

export interface Mismatch {
  index: number
  actual: number
  expected: number
  /** how far beyond the tolerance (Infinity for NaN/inf mismatches) */
  excess: number
}

/** Elementwise closeness: NaN matches NaN only, ±inf must match exactly, else |a-e| <= atol + rtol*|e|. */
export function compareArrays(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
): { bad: Mismatch[]; worst?: Mismatch; maxAbs: number } {
  const bad: Mismatch[] = []
  let worst: Mismatch | undefined
  let maxAbs = 0
  for (let i = 0; i < expected.length; i++) {
    const a = Number(actual[i])
    const e = Number(expected[i])
    let excess = 0
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (!(Number.isNaN(e) && Number.isNaN(a))) excess = Number.POSITIVE_INFINITY
    } else if (!Number.isFinite(e) || !Number.isFinite(a)) {
      if (a !== e) excess = Number.POSITIVE_INFINITY
    } else {
      const d = Math.abs(a - e)
      if (d > maxAbs) maxAbs = d
      const allowed = tol.atol + tol.rtol * Math.abs(e)
      if (d > allowed) excess = d - allowed
    }
    if (excess > 0) {
      const m = { index: i, actual: a, expected: e, excess }
      bad.push(m)
      if (!worst || excess > worst.excess) worst = m
    }
  }
  return { bad, worst, maxAbs }
}

export interface CloseOptions extends Tolerance {
  label: string
}

function unflatten(index: number, shape: readonly number[] | undefined): string {
  if (!shape || shape.length === 0) return `[${index}]`
  const idx: number[] = []
  let rest = index
  for (let d = shape.length - 1; d >= 0; d--) {
    const s = shape[d] || 1
    idx.unshift(rest % s)
    rest = Math.floor(rest / s)
  }
  return `[${idx.join(', ')}] (flat ${index})`
}

/**
 * Assert that `actual` (a number, a Tensor or an array of numbers) is close to
 * `expected` (a number or a TensorSpec/Tensor). On failure the message names the
 * case (`label`), the number of bad elements, the worst |Δ|, where it was, and the
 * actual vs expected values there.
 */
export function assertClose(
  t: ExecutionContext,
  actual: unknown,
  expected: number | TensorSpec | Tensor<ArrayLike<number>> | ArrayLike<number>,
  opts: CloseOptions,
): boolean {
  const { label } = opts
  let expData: ArrayLike<number>
  let expShape: readonly number[] | undefined
  if (typeof expected === 'number') {
    if (typeof actual !== 'number') {
      t.fail(`${label}: expected a number (shape []), got ${describe(actual)}`)
      return false
    }
    expData = [expected]
    expShape = []
  } else if (isArrayLike(expected)) {
    expData = expected
  } else {
    expData = expected.data as ArrayLike<number>
    expShape = expected.shape
  }
  let actData: ArrayLike<number>
  if (typeof actual === 'number') {
    if (expShape !== undefined && expShape.length !== 0) {
      t.fail(`${label}: expected a Tensor of shape [${expShape.join(', ')}], got the number ${fmt(actual)}`)
      return false
    }
    actData = [actual]
  } else if (isArrayLike(actual)) {
    actData = actual as ArrayLike<number>
  } else if (isTensorLike(actual)) {
    if (expShape !== undefined) {
      const got = Array.from(actual.shape)
      if (got.length !== expShape.length || got.some((v, i) => v !== expShape?.[i])) {
        t.fail(`${label}: shape [${got.join(', ')}] !== expected [${expShape.join(', ')}]`)
        return false
      }
    }
    actData = actual.data as ArrayLike<number>
  } else {
    t.fail(`${label}: expected ${typeof expected === 'number' ? 'a number' : 'a Tensor'}, got ${describe(actual)}`)
    return false
  }
  if (actData.length !== expData.length) {
    t.fail(`${label}: length ${actData.length} !== expected ${expData.length}`)
    return false
  }
  const { bad, worst, maxAbs } = compareArrays(actData, expData, opts)
  if (bad.length === 0 || !worst) {
    t.pass()
    return true
  }
  const lines = [
    `${label}: ${bad.length}/${expData.length} element(s) outside rtol=${opts.rtol}, atol=${opts.atol}`,
    `  worst at ${unflatten(worst.index, expShape)}: actual ${fmt(worst.actual)} vs expected ${fmt(worst.expected)}` +
      ` (|Δ| = ${fmt(Math.abs(worst.actual - worst.expected))})`,
    `  max finite |Δ| over all elements: ${maxAbs}`,
  ]
  for (const m of bad.slice(0, 5)) {
    if (m !== worst) lines.push(`  also at ${unflatten(m.index, expShape)}: ${fmt(m.actual)} vs ${fmt(m.expected)}`)
  }
  t.fail(lines.join('\n'))
  return false
}

function isArrayLike(v: unknown): v is ArrayLike<number> {
  return Array.isArray(v) || ArrayBuffer.isView(v)
}

export function isTensorLike(v: unknown): v is Tensor<ArrayLike<number>> {
  return typeof v === 'object' && v !== null && 'data' in v && 'shape' in v && ArrayBuffer.isView((v as Tensor).data)
}

export function describe(v: unknown): string {
  if (v === null) return 'null'
  if (typeof v === 'number') return `the number ${fmt(v)}`
  if (ArrayBuffer.isView(v)) return `a bare ${v.constructor.name}`
  if (isTensorLike(v)) return `a Tensor ${v.data.constructor.name} of shape [${Array.from(v.shape).join(', ')}]`
  if (typeof v === 'object') return `an object with keys {${Object.keys(v as object).join(', ')}}`
  return `${typeof v} ${String(v)}`
}

/** The result data is of the input's float type. */
export function assertDtype(t: ExecutionContext, value: unknown, dtype: DType, label: string): void {
  if (typeof value === 'number') {
    t.pass()
    return
  }
  const Ctor = floatCtor(dtype)
  if (isTensorLike(value) && value.data instanceof Ctor) t.pass()
  else t.fail(`${label}: expected ${Ctor.name} data (input is ${dtype}), got ${describe(value)}`)
}

// ---------------------------------------------------------------------------
// "inputs are not modified"

interface Snap {
  label: string
  view: ArrayBufferView
  bytes: Buffer
}

function collectViews(label: string, v: unknown, out: { label: string; view: ArrayBufferView }[]): void {
  if (ArrayBuffer.isView(v)) out.push({ label, view: v })
  else if (isTensorLike(v)) out.push({ label, view: v.data as unknown as ArrayBufferView })
  else if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) collectViews(`${label}.${k}`, x, out)
  }
}

/** Byte snapshots of every typed array reachable from the named values. */
export function snapshot(values: Record<string, unknown>): Snap[] {
  const views: { label: string; view: ArrayBufferView }[] = []
  for (const [k, v] of Object.entries(values)) collectViews(k, v, views)
  return views.map(({ label, view }) => ({
    label,
    view,
    bytes: Buffer.from(new Uint8Array(view.buffer, view.byteOffset, view.byteLength)),
  }))
}

export function assertUnchanged(t: ExecutionContext, snaps: Snap[], label: string): void {
  for (const s of snaps) {
    const now = Buffer.from(new Uint8Array(s.view.buffer, s.view.byteOffset, s.view.byteLength))
    if (!now.equals(s.bytes)) {
      t.fail(`${label}: the caller's ${s.label} was modified`)
      return
    }
  }
  t.pass()
}

// ---------------------------------------------------------------------------
// finite differences (float64)

/**
 * Central-difference gradient of a scalar function at `x`:
 * (f(x + h e_i) - f(x - h e_i)) / 2h with h = relStep * max(1, |x_i|).
 * Use away from kinks and clamps.
 */
export function finiteDifferenceGrad(f: (x: Float64Array) => number, x: Float64Array, relStep = 1e-6): Float64Array {
  const g = new Float64Array(x.length)
  const xp = Float64Array.from(x)
  for (let i = 0; i < x.length; i++) {
    const h = relStep * Math.max(1, Math.abs(x[i]))
    xp[i] = x[i] + h
    const fp = f(xp)
    xp[i] = x[i] - h
    const fm = f(xp)
    xp[i] = x[i]
    g[i] = (fp - fm) / (2 * h)
  }
  return g
}

/** Assert `analytic` ≈ the finite-difference gradient of `f` at `x` (FD tolerance). */
export function assertGradMatchesFiniteDifference(
  t: ExecutionContext,
  f: (x: Float64Array) => number,
  x: Float64Array,
  analytic: ArrayLike<number>,
  label: string,
  tol: Tolerance = FD,
): boolean {
  const fd = finiteDifferenceGrad(f, x)
  return assertClose(t, analytic, fd, { ...tol, label: `${label} (analytic vs finite differences)` })
}

/** Σ g·loss for a 'none' loss (a number or a Tensor), used as the scalar for finite differences. */
export function dotLoss(loss: unknown, g: number | ArrayLike<number>): number {
  if (typeof loss === 'number') return typeof g === 'number' ? loss * g : loss * g[0]
  if (!isTensorLike(loss)) throw new Error(`expected a loss, got ${describe(loss)}`)
  let s = 0
  for (let i = 0; i < loss.data.length; i++) s += loss.data[i] * (typeof g === 'number' ? g : g[i])
  return s
}

// ---------------------------------------------------------------------------
// deterministic random numbers for the property-style checks

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let r = Math.imul(a ^ (a >>> 15), 1 | a)
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296
  }
}

export class Rng {
  private readonly next: () => number
  constructor(seed: number) {
    this.next = mulberry32(seed)
  }
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next()
  }
  normal(): number {
    const u = Math.max(this.next(), 1e-300)
    const v = this.next()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  normals(n: number, scale = 1): Float64Array {
    return Float64Array.from({ length: n }, () => this.normal() * scale)
  }
  uniforms(n: number, lo = 0, hi = 1): Float64Array {
    return Float64Array.from({ length: n }, () => this.uniform(lo, hi))
  }
  /** `rows` probability rows of length `c` (softmax of normals), row-major. */
  simplexRows(rows: number, c: number): Float64Array {
    const out = new Float64Array(rows * c)
    for (let r = 0; r < rows; r++) {
      let s = 0
      for (let k = 0; k < c; k++) {
        const e = Math.exp(this.normal())
        out[r * c + k] = e
        s += e
      }
      for (let k = 0; k < c; k++) out[r * c + k] /= s
    }
    return out
  }
}
