// Bad input, generated as a table: every public function and argument gets wrong
// types, wrong typed-array types, wrong shapes, bad sizes, out-of-range values,
// unknown options, detached buffers, bad or overlapping out/gradOut and bad
// gradOutput. For each case (SPEC "Errors"):
//   - the SPEC's error class and `code`,
//   - a message naming the function (as called) and the argument,
//   - every buffer the caller passed byte-for-byte unchanged (and option objects
//     and shape arrays not mutated),
//   - through `losskit/async` the same call returns a Promise that rejects
//     (never throws synchronously) with the same class and code.
// Then the positive side of the same rules: SharedArrayBuffer-backed arguments,
// subarray views at nonzero offsets and non-overlapping views of one ArrayBuffer
// give the same bits as plain arrays, and gradOut === the input's own buffer works.

import test from 'ava'
import * as L from 'losskit'
import * as LA from 'losskit/async'
import { type DType, floatCtor } from './_util.js'

// biome-ignore lint/suspicious/noExplicitAny: bad input is untyped by design
type Any = any
type FloatCtor = Float32ArrayConstructor | Float64ArrayConstructor
type FloatArray = Float32Array | Float64Array

// ---------------------------------------------------------------------------
// expectations

interface Expect {
  desc: string
  /** acceptable [class, code] pairs */
  ok: [ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor, string][]
}
const TYPE: Expect = { desc: 'TypeError ERR_INVALID_ARG_TYPE', ok: [[TypeError, 'ERR_INVALID_ARG_TYPE']] }
const VALUE: Expect = { desc: 'TypeError ERR_INVALID_ARG_VALUE', ok: [[TypeError, 'ERR_INVALID_ARG_VALUE']] }
const RANGE: Expect = { desc: 'RangeError ERR_OUT_OF_RANGE', ok: [[RangeError, 'ERR_OUT_OF_RANGE']] }
/** a non-string reduction: SPEC's "wrong type" or Node's validateOneOf (ERR_INVALID_ARG_VALUE) */
const TYPE_OR_VALUE: Expect = { desc: 'TypeError ERR_INVALID_ARG_TYPE|VALUE', ok: [...TYPE.ok, ...VALUE.ok] }
/**
 * A detached buffer passed as a bare array: SPEC fixes no code, the async module
 * documents TypeError ERR_INVALID_ARG_VALUE. Any SPEC error is accepted, but it
 * must be an error (a detached buffer is not an empty array).
 */
const DETACHED: Expect = { desc: 'a SPEC error (detached buffer)', ok: [...TYPE.ok, ...VALUE.ok, ...RANGE.ok] }

function matchesExpect(e: unknown, x: Expect): boolean {
  const code = (e as { code?: unknown } | null)?.code
  return x.ok.some(([C, c]) => e instanceof C && code === c && (C !== TypeError || !(e instanceof RangeError)))
}

function describeErr(e: unknown): string {
  if (e instanceof Error) return `${e.constructor.name}(code=${String((e as { code?: unknown }).code)}): ${JSON.stringify(e.message)}`
  return `non-Error ${String(e)}`
}

function describeVal(v: unknown): string {
  if (typeof v === 'number') return `the number ${v}`
  if (typeof v === 'object' && v !== null && 'data' in v && 'shape' in v) return `a Tensor of shape [${(v as { shape: number[] }).shape}]`
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`
  return typeof v
}

/** The argument name as a word in the message (not part of a longer identifier, `out` not "out of range"). */
function namesArg(message: string, arg: string): boolean {
  const tail = arg === 'out' ? '(?![A-Za-z0-9_])(?! of range)' : '(?![A-Za-z0-9_])'
  return new RegExp(`(?<![A-Za-z0-9_])${arg.replace('.', '\\.')}${tail}`).test(message)
}

// ---------------------------------------------------------------------------
// "nothing the caller passed is modified": bytes of every buffer, identity of
// every property of every plain object / array reachable from the arguments

interface BufSnap {
  label: string
  get: () => Uint8Array | 'detached'
  bytes: Uint8Array | 'detached'
}
interface PropSnap {
  label: string
  obj: object
  key: PropertyKey
  value: unknown
}

function bytesOf(buf: ArrayBufferLike, off: number, len: number): Uint8Array | 'detached' {
  try {
    return new Uint8Array(buf, off, len).slice()
  } catch {
    return 'detached'
  }
}

function takeSnapshot(values: Record<string, unknown>): { bufs: BufSnap[]; props: PropSnap[] } {
  const bufs: BufSnap[] = []
  const props: PropSnap[] = []
  const seen = new WeakSet<object>()
  const walk = (label: string, v: unknown): void => {
    if ((typeof v !== 'object' && typeof v !== 'function') || v === null) return
    if (seen.has(v)) return
    seen.add(v)
    if (ArrayBuffer.isView(v)) {
      const view = v
      const off = view.byteOffset
      const len = view.byteLength
      // a detached view reports length 0; remember what it was at call time
      const get = () => (len === 0 && view.byteLength === 0 ? bytesOf(view.buffer, 0, 0) : bytesOf(view.buffer, off, len))
      bufs.push({ label, get, bytes: get() })
      return
    }
    if (v instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && v instanceof SharedArrayBuffer)) {
      const b = v as ArrayBufferLike
      const get = () => bytesOf(b, 0, b.byteLength)
      bufs.push({ label, get, bytes: get() })
      return
    }
    if (typeof v === 'function') return
    for (const key of Reflect.ownKeys(v)) {
      const d = Object.getOwnPropertyDescriptor(v, key)
      if (!d || !('value' in d)) continue
      props.push({ label: `${label}.${String(key)}`, obj: v, key, value: d.value })
      walk(`${label}.${String(key)}`, d.value)
    }
  }
  for (const [k, v] of Object.entries(values)) walk(k, v)
  return { bufs, props }
}

function changes(s: { bufs: BufSnap[]; props: PropSnap[] }): string[] {
  const out: string[] = []
  for (const b of s.bufs) {
    const now = b.get()
    if (now === 'detached' || b.bytes === 'detached') {
      if (now !== b.bytes) out.push(`${b.label} detached state changed`)
    } else if (now.length !== b.bytes.length || !Buffer.from(now).equals(Buffer.from(b.bytes))) out.push(`${b.label} bytes modified`)
  }
  for (const p of s.props) {
    const d = Object.getOwnPropertyDescriptor(p.obj, p.key)
    if (!d || !Object.is(d.value, p.value)) out.push(`${p.label} modified`)
  }
  return out
}

// ---------------------------------------------------------------------------
// building blocks

const other = (F: FloatCtor): FloatCtor => (F === Float32Array ? Float64Array : Float32Array)

/** A typed array whose buffer has been transferred away (length 0 now). */
function detached<A extends ArrayBufferView>(a: A): A {
  structuredClone(a, { transfer: [a.buffer as ArrayBuffer] })
  return a
}

/** `[view, rest]`: `view` holds `values` at element offset `before` of a larger buffer. */
function embedded(F: FloatCtor, values: ArrayLike<number>, before: number, after: number): { view: FloatArray; whole: FloatArray } {
  const whole = new F(values.length + before + after).fill(0.25)
  whole.set(values, before)
  return { view: whole.subarray(before, before + values.length), whole }
}

const WRONG_TYPES: [string, () => unknown][] = [
  ['a string', () => 'x'],
  ['null', () => null],
  ['undefined', () => undefined],
  ['a number', () => 42],
  ['a boolean', () => true],
  ['a bigint', () => 3n],
  ['a symbol', () => Symbol('s')],
  ['a function', () => () => 1],
  ['a plain object', () => ({})],
  ['an ArrayBuffer', () => new ArrayBuffer(48)],
  ['a DataView', () => new DataView(new ArrayBuffer(48))],
]

/** Wrong typed-array types for a float tensor of `n` elements. */
function wrongArrays(n: number, F: FloatCtor): [string, () => unknown][] {
  return [
    ['a plain array', () => Array.from({ length: n }, (_, i) => i / n)],
    ['an Int32Array', () => new Int32Array(n)],
    ['a Uint8Array', () => new Uint8Array(n)],
    ['a Uint8ClampedArray', () => new Uint8ClampedArray(n)],
    ['an Int16Array', () => new Int16Array(n)],
    ['a Uint32Array', () => new Uint32Array(n)],
    ['a BigInt64Array', () => new BigInt64Array(n)],
    ['a BigUint64Array', () => new BigUint64Array(n)],
    ['a Buffer', () => Buffer.alloc(n * 4)],
    ['{data: plain array, shape}', () => ({ data: Array.from({ length: n }, () => 0.5), shape: [n] })],
    ['{data: Int32Array, shape}', () => ({ data: new Int32Array(n), shape: [n] })],
    ['{data: string, shape}', () => ({ data: 'abc', shape: [3] })],
    ['{data} without shape', () => ({ data: new F(n) })],
    ['{shape} without data', () => ({ shape: [n] })],
  ]
}

/** Bad shapes for a float tensor `data` of logical shape `shape`: [label, shape, expect]. */
function badShapes(shape: readonly number[]): [string, unknown, Expect][] {
  const p = shape.reduce((a, b) => a * b, 1)
  const rest = shape.slice(1)
  return [
    ['shape product too large', [...shape, 2], VALUE],
    ['shape product too small', [Math.max(0, p - 1)], VALUE],
    ['shape [] for several elements', [], VALUE],
    ['a negative size', [-shape[0], ...rest], VALUE],
    ['a fractional size', [shape[0] + 0.5, ...rest], VALUE],
    ['a NaN size', [Number.NaN, ...rest], VALUE],
    ['an Infinity size', [Number.POSITIVE_INFINITY, ...rest], VALUE],
    ['a size of 2**53', [2 ** 53, ...rest], VALUE],
    ['a size of 1e300', [1e300, ...rest], VALUE],
    ['a size 2**53 - 1 times 0', [2 ** 53 - 1, 0], VALUE],
    ['a string size', [String(shape[0]), ...rest], VALUE],
    ['a bigint size', [BigInt(shape[0]), ...rest], VALUE],
    ['a null size', [null, ...rest], VALUE],
    ['shape a string', 'ab', TYPE],
    ['shape a number', p, TYPE],
    ['shape null', null, TYPE],
    ['shape an Int32Array', Int32Array.from(shape), TYPE],
    ['shape an array-like object', { length: 1, 0: p }, TYPE],
  ]
}

// ---------------------------------------------------------------------------
// the losses

type LossName = string
type Variant = 'fn' | 'withGrad' | 'forward' | 'forwardWithGrad'

interface Call {
  input: unknown
  target: unknown
  options: unknown
  gradOutput?: unknown
}

interface LossDesc {
  name: LossName
  Module: string
  label: string
  kind: 'index' | 'prob' | 'elem'
  /** a valid call: input shape, 'none' loss shape, class count */
  inShape: number[]
  noneShape: number[]
  base: (F: FloatCtor) => Call
}

const X34 = [0.5, -1.25, 2, 0.125, 1, 1.5, -0.75, 0.25, -2, 0, 3, 0.5]
const P34 = [0.25, 0.25, 0.5, 0, 0.125, 0.125, 0.25, 0.5, 0.5, 0.5, 0, 0]
const LOSSES: LossDesc[] = [
  {
    name: 'crossEntropy',
    Module: 'CrossEntropyLoss',
    label: 'class indices',
    kind: 'index',
    inShape: [3, 4],
    noneShape: [3],
    base: (F) => ({ input: { data: F.from(X34), shape: [3, 4] }, target: Int32Array.from([0, 3, 1]), options: {} }),
  },
  {
    name: 'crossEntropy',
    Module: 'CrossEntropyLoss',
    label: 'class probabilities',
    kind: 'prob',
    inShape: [3, 4],
    noneShape: [3],
    base: (F) => ({ input: { data: F.from(X34), shape: [3, 4] }, target: { data: F.from(P34), shape: [3, 4] }, options: {} }),
  },
  {
    name: 'nllLoss',
    Module: 'NLLLoss',
    label: 'class indices',
    kind: 'index',
    inShape: [3, 4],
    noneShape: [3],
    base: (F) => ({
      input: { data: F.from(X34, (v) => -Math.abs(v) - 0.1), shape: [3, 4] },
      target: { data: BigInt64Array.from([0n, 3n, 1n]), shape: [3] },
      options: {},
    }),
  },
  {
    name: 'klDiv',
    Module: 'KLDivLoss',
    label: 'elementwise',
    kind: 'elem',
    inShape: [2, 3],
    noneShape: [2, 3],
    base: (F) => ({
      input: { data: F.from([-1.2, -0.9, -1.3, -0.5, -2, -1.5]), shape: [2, 3] },
      target: { data: F.from([0.2, 0.5, 0.3, 0.6, 0.1, 0.3]), shape: [2, 3] },
      options: {},
    }),
  },
  {
    name: 'binaryCrossEntropy',
    Module: 'BCELoss',
    label: 'elementwise',
    kind: 'elem',
    inShape: [2, 3],
    noneShape: [2, 3],
    base: (F) => ({
      input: { data: F.from([0.1, 0.5, 0.875, 0.25, 0.625, 0.75]), shape: [2, 3] },
      target: { data: F.from([0, 1, 1, 0.5, 0, 1]), shape: [2, 3] },
      options: {},
    }),
  },
  {
    name: 'binaryCrossEntropyWithLogits',
    Module: 'BCEWithLogitsLoss',
    label: 'elementwise',
    kind: 'elem',
    inShape: [2, 3],
    noneShape: [2, 3],
    base: (F) => ({
      input: { data: F.from([-2, 0.5, 3, -0.25, 1, 0]), shape: [2, 3] },
      target: { data: F.from([0, 1, 1, 0.5, 0, 1]), shape: [2, 3] },
      options: {},
    }),
  },
]

// Every loss declared in index.ts's LOSSES that takes (input, target) and has no
// entry above gets one here, from its declaration: a new loss is in this table
// without a line of its own.
{
  const listed = new Set(LOSSES.map((d) => d.name))
  for (const [name, decl] of Object.entries(L.__impl.losses)) {
    // (input, target) of one shape: the elementwise losses; the others are covered by their fixtures' error cases
    if (listed.has(name) || decl.args.length !== 1 || 'index' in decl.args[0] || 'lossShape' in decl) continue
    LOSSES.push({
      name,
      Module: decl.module,
      label: 'elementwise',
      kind: 'elem',
      inShape: [2, 3],
      noneShape: [2, 3],
      base: (F) => ({
        input: { data: F.from([0.5, 1.25, 2, 0.125, 1, 1.5]), shape: [2, 3] },
        target: { data: F.from([0, 1, 1, 0.5, 0, 1]), shape: [2, 3] },
        options: {},
      }),
    })
  }
}

/** The declaration of a loss in index.ts's LOSSES, if it has one. */
function declOf(name: string): (typeof L.__impl.losses)[keyof typeof L.__impl.losses] | undefined {
  return (L.__impl.losses as Record<string, (typeof L.__impl.losses)[keyof typeof L.__impl.losses]>)[name]
}

interface Mut {
  label: string
  /** the argument the message must name */
  arg: string
  expect: Expect
  /** the module's constructor must reject these options already */
  ctor?: boolean
  /** applies only to the WithGrad forms */
  grad?: boolean
  apply: (c: Call, F: FloatCtor) => void
}

function opts(c: Call): Record<string, unknown> {
  return c.options as Record<string, unknown>
}
function inputData(c: Call): FloatArray {
  return (c.input as { data: FloatArray }).data
}
function targetData(c: Call): ArrayBufferView {
  const t = c.target as Any
  return ArrayBuffer.isView(t) ? t : t.data
}
/** Replaces the input by a view at element offset 1 of a buffer one element longer at each end. */
function embedInput(c: Call, F: FloatCtor): FloatArray {
  const x = c.input as { data: FloatArray; shape: number[] }
  const { view, whole } = embedded(F, x.data, 1, 1)
  c.input = { data: view, shape: x.shape }
  return whole
}

function lossMutations(d: LossDesc): Mut[] {
  const muts: Mut[] = []
  const inLen = d.inShape.reduce((a, b) => a * b, 1)
  const noneLen = d.noneShape.reduce((a, b) => a * b, 1)
  const C = d.inShape[1]
  const isClass = d.kind !== 'elem'
  const m = (x: Mut) => muts.push(x)

  // --- input ---------------------------------------------------------------
  for (const [label, v] of [...WRONG_TYPES, ...wrongArrays(inLen, Float32Array)]) {
    m({
      label: `input ${label}`,
      arg: 'input',
      expect: TYPE,
      apply: (c) => {
        c.input = v()
      },
    })
  }
  for (const [label, shape, expect] of badShapes(d.inShape)) {
    m({
      label: `input ${label}`,
      arg: 'input',
      expect,
      apply: (c) => {
        ;(c.input as Any).shape = shape
      },
    })
  }
  if (isClass) {
    m({
      label: 'input 0-d',
      arg: 'input',
      expect: VALUE,
      apply: (c, F) => {
        c.input = { data: F.of(1), shape: [] }
      },
    })
    m({
      label:
        d.kind === 'prob' ? 'input of the other float type than the probability target' : 'weight of the other float type than the input',
      arg: d.kind === 'prob' ? 'target' : 'weight',
      expect: TYPE,
      apply: (c, F) => {
        if (d.kind === 'prob') c.input = { data: other(F).from(inputData(c)), shape: d.inShape }
        else {
          // index targets fix no float type: a weight of the other type must be rejected
          opts(c).weight = new (other(F))(C).fill(1)
        }
      },
    })
  } else {
    m({
      label: 'input of the other float type than target',
      arg: 'target',
      expect: TYPE,
      apply: (c, F) => {
        c.input = { data: other(F).from(inputData(c)), shape: d.inShape }
      },
    })
  }
  m({ label: 'input tensor over a detached buffer', arg: 'input', expect: VALUE, apply: (c) => void detached(inputData(c)) })
  m({
    label: 'input a bare detached array',
    arg: 'input',
    expect: DETACHED,
    apply: (c) => {
      c.input = detached(inputData(c))
      // the target detached too (both transferred away), or a class index for the unbatched form
      if (d.kind === 'index') c.target = 0
      else c.target = detached(targetData(c))
    },
  })
  if (d.name === 'binaryCrossEntropy') {
    for (const [label, v] of [
      ['1.5', 1.5],
      ['-0.5', -0.5],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['1 + 2**-23', 1 + 2 ** -23],
    ] as [string, number][]) {
      m({
        label: `input value ${label}`,
        arg: 'input',
        expect: RANGE,
        apply: (c) => {
          inputData(c)[4] = v
        },
      })
      m({
        label: `target value ${label}`,
        arg: 'target',
        expect: RANGE,
        apply: (c) => {
          ;(targetData(c) as FloatArray)[2] = v
        },
      })
    }
  }

  // --- target --------------------------------------------------------------
  for (const [label, v] of WRONG_TYPES) {
    if (label === 'a number' && d.kind !== 'elem') continue // a number is a valid (unbatched) class target: below
    m({
      label: `target ${label}`,
      arg: 'target',
      expect: TYPE,
      apply: (c) => {
        c.target = v()
      },
    })
  }
  for (const [label, v] of wrongArrays(d.kind === 'elem' ? inLen : noneLen, Float32Array)) {
    if (label === 'an Int32Array' || label === 'a BigInt64Array' || label === '{data: Int32Array, shape}') {
      if (isClass) continue // valid class-index types
      m({
        label: `target ${label}`,
        arg: 'target',
        expect: TYPE,
        apply: (c) => {
          c.target = v()
        },
      })
      continue
    }
    if (label === '{data} without shape' && d.kind === 'prob') {
      // a Float array inside {data} without shape is not a tensor
      m({
        label: `target ${label}`,
        arg: 'target',
        expect: TYPE,
        apply: (c) => {
          c.target = v()
        },
      })
      continue
    }
    m({
      label: `target ${label}`,
      arg: 'target',
      expect: TYPE,
      apply: (c) => {
        c.target = v()
      },
    })
  }
  if (d.kind === 'index') {
    m({
      label: 'target a Float32Array (nll) or a float target of the wrong shape (ce)',
      arg: 'target',
      expect: d.name === 'nllLoss' ? TYPE : VALUE,
      apply: (c, F) => {
        c.target = new F(noneLen)
      },
    })
    m({
      label: 'target a float array of the other type',
      arg: 'target',
      expect: TYPE,
      apply: (c, F) => {
        c.target = { data: new (other(F))(inLen), shape: d.inShape }
      },
    })
    for (const [label, mk] of [
      ['Int32Array too short', () => new Int32Array(noneLen - 1)],
      ['Int32Array too long', () => new Int32Array(noneLen + 1)],
      ['BigInt64Array too long', () => new BigInt64Array(noneLen + 1)],
      ['empty Int32Array', () => new Int32Array(0)],
      ['tensor of shape [3, 1]', () => ({ data: new Int32Array(3), shape: [3, 1] })],
      ['tensor of shape [1, 3]', () => ({ data: new Int32Array(3), shape: [1, 3] })],
      ['tensor of shape []', () => ({ data: new Int32Array(1), shape: [] })],
      ['tensor with shape product != length', () => ({ data: new Int32Array(3), shape: [4] })],
      ['tensor with a negative size', () => ({ data: new Int32Array(3), shape: [-3] })],
      ['tensor with a fractional size', () => ({ data: new Int32Array(3), shape: [3.5] })],
      ['tensor with shape a string', () => ({ data: new Int32Array(3), shape: '3' })],
      ['a number for a batched input', () => 1],
      ['a detached Int32Array', () => detached(Int32Array.from([0, 1, 2]))],
      ['a tensor over a detached BigInt64Array', () => ({ data: detached(BigInt64Array.from([0n, 1n, 2n])), shape: [3] })],
    ] as [string, () => unknown][]) {
      const expect = label === 'tensor with shape a string' ? TYPE : VALUE
      m({
        label: `target ${label}`,
        arg: 'target',
        expect,
        apply: (c) => {
          c.target = mk()
        },
      })
    }
    // class indices out of range
    const i32: [string, number][] = [
      ['C', C],
      ['C + 5', C + 5],
      ['-1', -1],
      ['-101', -101],
      ['2**31 - 1', 2 ** 31 - 1],
      ['-(2**31)', -(2 ** 31)],
    ]
    for (const [label, v] of i32) {
      m({
        label: `target class ${label} (Int32Array)`,
        arg: 'target',
        expect: RANGE,
        apply: (c) => {
          c.target = Int32Array.from([0, v, 1])
        },
      })
    }
    const i64: [string, bigint][] = [
      ['C', BigInt(C)],
      ['-1', -1n],
      ['2**60', 2n ** 60n],
      ['-(2**60)', -(2n ** 60n)],
      ['2**53 + 1', 2n ** 53n + 1n],
      ['-(2**53) - 100', -(2n ** 53n) - 100n],
      ['2**63 - 1', 2n ** 63n - 1n],
      ['-(2**63)', -(2n ** 63n)],
      ['2**32 (low word 0)', 2n ** 32n],
      ['2**32 - 100 (low word -100)', 2n ** 32n - 100n],
    ]
    for (const [label, v] of i64) {
      m({
        label: `target class ${label} (BigInt64Array)`,
        arg: 'target',
        expect: RANGE,
        apply: (c) => {
          c.target = { data: BigInt64Array.from([0n, 1n, v]), shape: [3] }
        },
      })
    }
    m({
      label: 'target -100 with ignoreIndex 2',
      arg: 'target',
      expect: RANGE,
      apply: (c) => {
        c.target = Int32Array.from([0, -100, 1])
        opts(c).ignoreIndex = 2
      },
    })
    // unbatched input with a number target
    for (const [label, v] of [
      ['C', C],
      ['-1', -1],
      ['1.5', 1.5],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['2**53', 2 ** 53],
      ['-(2**53)', -(2 ** 53)],
      ['1e300', 1e300],
    ] as [string, number][]) {
      m({
        label: `unbatched input, number target ${label}`,
        arg: 'target',
        expect: RANGE,
        apply: (c, F) => {
          c.input = F.from(X34.slice(0, C))
          c.target = v
        },
      })
    }
    m({
      label: 'unbatched input, target an Int32Array of length 1',
      arg: 'target',
      expect: VALUE,
      apply: (c, F) => {
        c.input = F.from(X34.slice(0, C))
        c.target = Int32Array.of(1)
      },
    })
  } else {
    // float targets
    const tshape = d.kind === 'prob' ? d.inShape : d.inShape
    m({
      label: 'target of the other float type',
      arg: 'target',
      expect: TYPE,
      apply: (c, F) => {
        c.target = { data: new (other(F))(inLen).fill(0.5), shape: tshape }
      },
    })
    m({
      label: 'target a bare array of the other float type',
      arg: 'target',
      expect: TYPE,
      apply: (c, F) => {
        c.target = new (other(F))(inLen).fill(0.5)
      },
    })
    m({
      label: 'target of the transposed shape',
      arg: 'target',
      expect: VALUE,
      apply: (c) => {
        ;(c.target as Any).shape = [...tshape].reverse()
      },
    })
    m({
      label: 'target bare (1-d) for a 2-d input',
      arg: 'target',
      expect: VALUE,
      apply: (c) => {
        c.target = targetData(c)
      },
    })
    m({
      label: 'target with one element more',
      arg: 'target',
      expect: VALUE,
      apply: (c, F) => {
        c.target = { data: new F(inLen + 1).fill(0.5), shape: [inLen + 1] }
      },
    })
    m({
      label: 'target with an extra leading dim',
      arg: 'target',
      expect: VALUE,
      apply: (c) => {
        ;(c.target as Any).shape = [1, ...tshape]
      },
    })
    m({ label: 'target over a detached buffer', arg: 'target', expect: VALUE, apply: (c) => void detached(targetData(c)) })
    m({
      label: 'target a bare detached array',
      arg: 'target',
      expect: VALUE,
      apply: (c) => {
        c.target = detached(targetData(c))
      },
    })
    for (const [label, shape, expect] of badShapes(tshape)) {
      m({
        label: `target ${label}`,
        arg: 'target',
        expect,
        apply: (c) => {
          ;(c.target as Any).shape = shape
        },
      })
    }
    if (d.kind === 'prob') {
      for (const ii of [0, 2, 3]) {
        m({
          label: `ignoreIndex ${ii} with class-probability targets`,
          arg: 'ignoreIndex',
          expect: VALUE,
          apply: (c) => {
            opts(c).ignoreIndex = ii
          },
        })
      }
    }
  }

  // --- options ---------------------------------------------------------------
  for (const [label, v] of [
    ['a string', 'x'],
    ['a number', 42],
    ['a boolean', true],
    ['a bigint', 1n],
    ['a symbol', Symbol('o')],
  ] as [string, unknown][]) {
    m({
      label: `options ${label}`,
      arg: 'options',
      expect: TYPE,
      ctor: true,
      apply: (c) => {
        c.options = v
      },
    })
  }
  const reductions = declOf(d.name)?.batchmean ? [] : ['batchmean']
  for (const r of [
    'avg',
    'MEAN',
    '',
    ' mean',
    'Sum',
    'none ',
    'toString',
    '__proto__',
    'constructor',
    'hasOwnProperty',
    'batchMean',
    ...reductions,
  ]) {
    m({
      label: `reduction ${JSON.stringify(r)}`,
      arg: 'reduction',
      expect: VALUE,
      ctor: true,
      apply: (c) => {
        opts(c).reduction = r
      },
    })
  }
  for (const [label, r] of [
    ['1', 1],
    ['0', 0],
    ['null', null],
    ['true', true],
    ['{}', {}],
    ["['mean']", ['mean']],
    ['a symbol', Symbol('mean')],
    ['a String object', new String('mean')],
  ] as [string, unknown][]) {
    m({
      label: `reduction ${label}`,
      arg: 'reduction',
      expect: TYPE_OR_VALUE,
      ctor: true,
      apply: (c) => {
        opts(c).reduction = r
      },
    })
  }

  // weight / posWeight
  const weightKeys: readonly string[] = declOf(d.name)?.tensors ?? ['weight']
  for (const key of weightKeys) {
    for (const [label, v] of [
      ['a string', () => 'heavy'],
      ['a number', () => 1],
      ['a boolean', () => true],
      ['a plain object', () => ({})],
      ['a plain array', () => [1, 1, 1, 1]],
      ['an Int32Array', () => new Int32Array(isClass ? C : 3).fill(1)],
      ['a Uint8Array', () => new Uint8Array(isClass ? C : 3).fill(1)],
      ['{data: plain array, shape}', () => ({ data: [1, 1, 1], shape: [3] })],
    ] as [string, () => unknown][]) {
      m({
        label: `${key} ${label}`,
        arg: key,
        expect: TYPE,
        ctor: true,
        apply: (c) => {
          opts(c)[key] = v()
        },
      })
    }
    m({
      label: `${key} of the other float type`,
      arg: key,
      expect: TYPE,
      apply: (c, F) => {
        opts(c)[key] = new (other(F))(isClass ? C : 3).fill(1)
      },
    })
    m({
      label: `${key} tensor of the other float type`,
      arg: key,
      expect: TYPE,
      apply: (c, F) => {
        opts(c)[key] = { data: new (other(F))(isClass ? C : 3).fill(1), shape: [isClass ? C : 3] }
      },
    })
    m({
      label: `${key} tensor with shape product != length`,
      arg: key,
      expect: VALUE,
      ctor: true,
      apply: (c, F) => {
        opts(c)[key] = { data: new F(3).fill(1), shape: [5] }
      },
    })
    m({
      label: `${key} tensor with a negative size`,
      arg: key,
      expect: VALUE,
      ctor: true,
      apply: (c, F) => {
        opts(c)[key] = { data: new F(3).fill(1), shape: [-3] }
      },
    })
    m({
      label: `${key} detached`,
      arg: key,
      expect: VALUE,
      apply: (c, F) => {
        opts(c)[key] = detached(new F(isClass ? C : 3).fill(1))
      },
    })
    if (isClass) {
      for (const len of [C - 1, C + 1, 0, 1]) {
        m({
          label: `${key} of length ${len} for ${C} classes`,
          arg: key,
          expect: VALUE,
          apply: (c, F) => {
            opts(c)[key] = new F(len).fill(1)
          },
        })
      }
      m({
        label: `${key} 2-d`,
        arg: key,
        expect: VALUE,
        ctor: true,
        apply: (c, F) => {
          opts(c)[key] = { data: new F(C).fill(1), shape: [2, C / 2] }
        },
      })
      m({
        label: `${key} 0-d`,
        arg: key,
        expect: VALUE,
        ctor: true,
        apply: (c, F) => {
          opts(c)[key] = { data: new F(1).fill(1), shape: [] }
        },
      })
    } else {
      for (const [label, w] of [
        ['length 2 against last dim 3', [2]],
        ['length 4 against last dim 3', [4]],
        ['shape [3, 1] against [2, 3]', [3, 1]],
        ['shape [2, 2] against [2, 3]', [2, 2]],
        ['shape [3, 2] against [2, 3]', [3, 2]],
      ] as [string, number[]][]) {
        const n = w.reduce((a, b) => a * b, 1)
        m({
          label: `${key} ${label}`,
          arg: key,
          expect: VALUE,
          apply: (c, F) => {
            opts(c)[key] = { data: new F(n).fill(1), shape: w }
          },
        })
      }
    }
  }

  if (isClass) {
    for (const [label, v] of [
      ['a string', '1'],
      ['null', null],
      ['a boolean', true],
      ['a bigint', 1n],
      ['an object', {}],
    ] as [string, unknown][]) {
      m({
        label: `ignoreIndex ${label}`,
        arg: 'ignoreIndex',
        expect: TYPE,
        ctor: true,
        apply: (c) => {
          opts(c).ignoreIndex = v
        },
      })
    }
    for (const [label, v] of [
      ['1.5', 1.5],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['-Infinity', Number.NEGATIVE_INFINITY],
      ['2**53', 2 ** 53],
      ['-(2**53)', -(2 ** 53)],
      ['1e300', 1e300],
    ] as [string, number][]) {
      m({
        label: `ignoreIndex ${label}`,
        arg: 'ignoreIndex',
        expect: RANGE,
        ctor: true,
        apply: (c) => {
          opts(c).ignoreIndex = v
        },
      })
    }
  }
  if (d.name === 'crossEntropy') {
    for (const [label, v] of [
      ['2', 2],
      ['-0.1', -0.1],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['-Infinity', Number.NEGATIVE_INFINITY],
      ['1 + 2**-52', 1 + 2 ** -52],
      ['-(2**-1074)', -(2 ** -1074)],
    ] as [string, number][]) {
      m({
        label: `labelSmoothing ${label}`,
        arg: 'labelSmoothing',
        expect: RANGE,
        ctor: true,
        apply: (c) => {
          opts(c).labelSmoothing = v
        },
      })
    }
    for (const [label, v] of [
      ['a string', '0.1'],
      ['null', null],
      ['a boolean', true],
      ['an object', {}],
      ['a bigint', 0n],
    ] as [string, unknown][]) {
      m({
        label: `labelSmoothing ${label}`,
        arg: 'labelSmoothing',
        expect: TYPE,
        ctor: true,
        apply: (c) => {
          opts(c).labelSmoothing = v
        },
      })
    }
  }
  // The declared scalar options: booleans and numbers of the wrong type, and
  // numbers outside the range the declaration checks.
  for (const [key, sd] of Object.entries(declOf(d.name)?.scalars ?? {})) {
    const wrong: [string, unknown][] =
      sd.kind === 'boolean'
        ? [
            ['a string', 'yes'],
            ['1', 1],
            ['0', 0],
            ['null', null],
            ['an object', {}],
          ]
        : [
            ['a string', '1'],
            ['a boolean', true],
            ['null', null],
            ['a bigint', 1n],
            ['an object', {}],
          ]
    for (const [label, v] of wrong) {
      m({
        label: `${key} ${label}`,
        arg: key,
        expect: TYPE,
        ctor: true,
        apply: (c) => {
          opts(c)[key] = v
        },
      })
    }
    if (sd.kind === 'number' && 'check' in sd) {
      for (const v of [-1, Number.NaN, Number.NEGATIVE_INFINITY]) {
        m({
          label: `${key} ${v}`,
          arg: key,
          expect: RANGE,
          ctor: true,
          apply: (c) => {
            opts(c)[key] = v
          },
        })
      }
    }
  }

  // --- out (reduction 'none') ------------------------------------------------
  const none = (c: Call) => {
    opts(c).reduction = 'none'
  }
  for (const [label, v] of [
    ['of the other float type', (F: FloatCtor) => new (other(F))(noneLen)],
    ['an Int32Array', () => new Int32Array(noneLen)],
    ['a Uint8Array', () => new Uint8Array(noneLen * 8)],
    ['a plain array', () => new Array(noneLen).fill(0)],
    ['a string', () => 'out'],
    ['a number', () => 1],
    ['a tensor object', (F: FloatCtor) => ({ data: new F(noneLen), shape: d.noneShape })],
    ['null', () => null],
  ] as [string, (F: FloatCtor) => unknown][]) {
    m({
      label: `out ${label}`,
      arg: 'out',
      expect: TYPE,
      apply: (c, F) => {
        none(c)
        opts(c).out = v(F)
      },
    })
  }
  for (const [label, len] of [
    ['one element short', noneLen - 1],
    ['one element long', noneLen + 1],
    ['empty', 0],
    ['input-sized', inLen === noneLen ? inLen + 2 : inLen],
  ] as [string, number][]) {
    m({
      label: `out ${label}`,
      arg: 'out',
      expect: VALUE,
      apply: (c, F) => {
        none(c)
        opts(c).out = new F(len)
      },
    })
  }
  m({
    label: 'out detached',
    arg: 'out',
    expect: VALUE,
    apply: (c, F) => {
      none(c)
      opts(c).out = detached(new F(noneLen))
    },
  })
  m({
    label: 'out overlapping the input (same ArrayBuffer, shifted)',
    arg: 'out',
    expect: VALUE,
    apply: (c, F) => {
      none(c)
      const whole = embedInput(c, F)
      opts(c).out = whole.subarray(0, noneLen)
    },
  })
  if (d.kind === 'elem') {
    m({
      label: 'out === the input buffer',
      arg: 'out',
      expect: VALUE,
      apply: (c) => {
        none(c)
        opts(c).out = inputData(c)
      },
    })
  }
  m({
    label: 'out overlapping the target (a view of the same ArrayBuffer)',
    arg: 'out',
    expect: VALUE,
    apply: (c, F) => {
      none(c)
      const t = targetData(c)
      // a fresh ArrayBuffer holding the target at byte offset 8; `out` starts at 0 and runs into it
      const bytes = Math.max(t.byteLength + 8, noneLen * F.BYTES_PER_ELEMENT) + 16
      const ab = new ArrayBuffer(bytes)
      const T = t.constructor as new (b: ArrayBuffer, o: number, n: number) => ArrayBufferView & { set(a: ArrayLike<unknown>): void }
      const tv = new T(ab, 8, (t as unknown as ArrayLike<unknown>).length)
      tv.set(t as unknown as ArrayLike<unknown>)
      if (ArrayBuffer.isView(c.target)) c.target = tv
      else (c.target as Any).data = tv
      opts(c).out = new F(ab, 0, noneLen)
    },
  })
  if (weightKeys.length > 0) {
    m({
      label: 'out overlapping the weight',
      arg: 'out',
      expect: VALUE,
      apply: (c, F) => {
        none(c)
        const wl = isClass ? C : 3
        const whole = new F(wl + noneLen).fill(1)
        opts(c).weight = whole.subarray(0, wl)
        opts(c).out = whole.subarray(wl - 1, wl - 1 + noneLen)
      },
    })
  }

  // --- gradOut ---------------------------------------------------------------
  for (const [label, v] of [
    ['of the other float type', (F: FloatCtor) => new (other(F))(inLen)],
    ['an Int32Array', () => new Int32Array(inLen)],
    ['a plain array', () => new Array(inLen).fill(0)],
    ['a string', () => 'g'],
    ['a number', () => 0],
    ['a tensor object', (F: FloatCtor) => ({ data: new F(inLen), shape: d.inShape })],
    ['null', () => null],
  ] as [string, (F: FloatCtor) => unknown][]) {
    m({
      label: `gradOut ${label}`,
      arg: 'gradOut',
      expect: TYPE,
      grad: true,
      apply: (c, F) => {
        opts(c).gradOut = v(F)
      },
    })
  }
  for (const [label, len] of [
    ['one element short', inLen - 1],
    ['one element long', inLen + 1],
    ['empty', 0],
  ] as [string, number][]) {
    m({
      label: `gradOut ${label}`,
      arg: 'gradOut',
      expect: VALUE,
      grad: true,
      apply: (c, F) => {
        opts(c).gradOut = new F(len)
      },
    })
  }
  m({
    label: 'gradOut detached',
    arg: 'gradOut',
    expect: VALUE,
    grad: true,
    apply: (c, F) => {
      opts(c).gradOut = detached(new F(inLen))
    },
  })
  m({
    label: 'gradOut overlapping the input (shifted by one element)',
    arg: 'gradOut',
    expect: VALUE,
    grad: true,
    apply: (c, F) => {
      const whole = embedInput(c, F)
      opts(c).gradOut = whole.subarray(2, 2 + inLen)
    },
  })
  if (d.kind !== 'index') {
    m({
      label: 'gradOut === the target buffer',
      arg: 'gradOut',
      expect: VALUE,
      grad: true,
      apply: (c) => {
        opts(c).gradOut = targetData(c)
      },
    })
  } else {
    m({
      label: 'gradOut a float view over the target Int32/BigInt64 buffer',
      arg: 'gradOut',
      expect: VALUE,
      grad: true,
      apply: (c, F) => {
        const ab = new ArrayBuffer(inLen * F.BYTES_PER_ELEMENT)
        const t = targetData(c) as Int32Array | BigInt64Array
        const tv = t instanceof Int32Array ? new Int32Array(ab, 8, t.length) : new BigInt64Array(ab, 8, t.length)
        ;(tv as Int32Array).set(t as Int32Array)
        if (ArrayBuffer.isView(c.target)) c.target = tv
        else (c.target as Any).data = tv
        opts(c).gradOut = new F(ab)
      },
    })
  }
  for (const key of weightKeys) {
    m({
      label: `gradOut overlapping ${key}`,
      arg: 'gradOut',
      expect: VALUE,
      grad: true,
      apply: (c, F) => {
        const wl = isClass ? C : 3
        const whole = new F(inLen + wl).fill(1)
        opts(c)[key] = whole.subarray(inLen - 1, inLen - 1 + wl)
        opts(c).gradOut = whole.subarray(0, inLen)
      },
    })
  }
  m({
    label: "gradOut === out ('none')",
    arg: 'gradOut',
    expect: VALUE,
    grad: true,
    apply: (c, F) => {
      none(c)
      if (noneLen === inLen) {
        const b = new F(inLen)
        opts(c).out = b
        opts(c).gradOut = b
      } else {
        const b = new F(inLen)
        opts(c).out = b.subarray(0, noneLen)
        opts(c).gradOut = b
      }
    },
  })
  m({
    label: "gradOut overlapping gradOutput ('none')",
    arg: 'gradOut',
    expect: VALUE,
    grad: true,
    apply: (c, F) => {
      none(c)
      const b = new F(inLen + noneLen).fill(1)
      c.gradOutput = { data: b.subarray(inLen - 1, inLen - 1 + noneLen), shape: d.noneShape }
      opts(c).gradOut = b.subarray(0, inLen)
    },
  })

  // --- gradOutput --------------------------------------------------------------
  for (const [label, v] of [
    ['a string', () => '1'],
    ['null', () => null],
    ['a boolean', () => true],
    ['a bigint', () => 1n],
    ['a plain array', () => [1]],
    ['an object', () => ({})],
    ['a 1-element Float array', (F: FloatCtor) => F.of(1)],
    ['a 0-d tensor', (F: FloatCtor) => ({ data: F.of(1), shape: [] })],
  ] as [string, (F: FloatCtor) => unknown][]) {
    m({
      label: `gradOutput ${label} for a scalar reduction`,
      arg: 'gradOutput',
      expect: TYPE,
      grad: true,
      apply: (c, F) => {
        c.gradOutput = v(F)
      },
    })
  }
  for (const [label, v, expect] of [
    ['a number', () => 2, VALUE],
    ['of the wrong shape (transposed/extra dim)', (F: FloatCtor) => ({ data: new F(noneLen).fill(1), shape: [1, ...d.noneShape] }), VALUE],
    ['one element short', (F: FloatCtor) => ({ data: new F(noneLen - 1).fill(1), shape: [noneLen - 1] }), VALUE],
    ['a bare array one element long', (F: FloatCtor) => new F(noneLen + 1).fill(1), VALUE],
    ['shape product != length', (F: FloatCtor) => ({ data: new F(noneLen).fill(1), shape: [noneLen + 1] }), VALUE],
    ['a negative size', (F: FloatCtor) => ({ data: new F(noneLen).fill(1), shape: [-noneLen] }), VALUE],
    ['of the other float type', (F: FloatCtor) => ({ data: new (other(F))(noneLen).fill(1), shape: d.noneShape }), TYPE],
    ['an Int32Array tensor', () => ({ data: new Int32Array(noneLen).fill(1), shape: d.noneShape }), TYPE],
    ['a string', () => 'ones', TYPE],
    ['null', () => null, TYPE],
    ['a plain array', () => new Array(noneLen).fill(1), TYPE],
    ['detached', (F: FloatCtor) => ({ data: detached(new F(noneLen)), shape: d.noneShape }), VALUE],
  ] as [string, (F: FloatCtor) => unknown, Expect][]) {
    m({
      label: `gradOutput ${label} for 'none'`,
      arg: 'gradOutput',
      expect,
      grad: true,
      apply: (c, F) => {
        none(c)
        c.gradOutput = v(F)
      },
    })
  }
  return muts
}

// ---------------------------------------------------------------------------
// helpers: logSoftmax, softmax, entropy, sigmoid, logit

type HelperName = 'logSoftmax' | 'softmax' | 'entropy' | 'sigmoid' | 'logit'
interface HelperCall {
  input: unknown
  options: unknown
}
interface HMut {
  label: string
  arg: string | string[]
  expect: Expect
  apply: (c: HelperCall, F: FloatCtor) => void
}

const HX = [0.2, 0.1, 0.3, 0.4, 0.25, 0.5, 0.125, 0.125]
function helperMutations(name: HelperName): HMut[] {
  const muts: HMut[] = []
  const m = (x: HMut) => muts.push(x)
  const shape = [2, 4]
  const inArg = name === 'entropy' ? ['probs', 'input'] : ['input']
  const axis = name === 'logSoftmax' || name === 'softmax' || name === 'entropy'
  const outLen = name === 'entropy' ? 2 : 8
  const inp = (c: HelperCall) => (c.input as { data: FloatArray }).data
  for (const [label, v] of [...WRONG_TYPES, ...wrongArrays(8, Float32Array)]) {
    m({
      label: `input ${label}`,
      arg: inArg,
      expect: TYPE,
      apply: (c) => {
        c.input = v()
      },
    })
  }
  for (const [label, s, expect] of badShapes(shape)) {
    m({
      label: `input ${label}`,
      arg: inArg,
      expect,
      apply: (c) => {
        ;(c.input as Any).shape = s
      },
    })
  }
  m({ label: 'input tensor over a detached buffer', arg: inArg, expect: VALUE, apply: (c) => void detached(inp(c)) })
  m({
    label: 'input a bare detached array',
    arg: inArg,
    expect: DETACHED,
    apply: (c) => {
      c.input = detached(inp(c))
    },
  })
  for (const [label, v] of [
    ['a string', 'x'],
    ['a number', 1],
    ['a boolean', true],
    ['a symbol', Symbol('x')],
  ] as [string, unknown][]) {
    m({
      label: `options ${label}`,
      arg: 'options',
      expect: TYPE,
      apply: (c) => {
        c.options = v
      },
    })
  }
  if (axis) {
    for (const [label, v] of [
      ['2', 2],
      ['5', 5],
      ['-3', -3],
      ['1.5', 1.5],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['2**53', 2 ** 53],
      ['-(2**53)', -(2 ** 53)],
    ] as [string, number][]) {
      m({
        label: `dim ${label}`,
        arg: 'dim',
        expect: RANGE,
        apply: (c) => {
          ;(c.options as Any).dim = v
        },
      })
    }
    m({
      label: 'dim 1 on a 1-d input',
      arg: 'dim',
      expect: RANGE,
      apply: (c, F) => {
        c.input = F.from(HX)
        ;(c.options as Any).dim = 1
      },
    })
    m({
      label: 'dim 1 on a 0-d input',
      arg: 'dim',
      expect: RANGE,
      apply: (c, F) => {
        c.input = { data: F.of(0.5), shape: [] }
        ;(c.options as Any).dim = 1
      },
    })
    for (const [label, v] of [
      ['a string', '1'],
      ['null', null],
      ['a boolean', true],
      ['a bigint', 1n],
      ['an object', {}],
    ] as [string, unknown][]) {
      m({
        label: `dim ${label}`,
        arg: 'dim',
        expect: TYPE,
        apply: (c) => {
          ;(c.options as Any).dim = v
        },
      })
    }
  }
  if (name === 'entropy') {
    for (const [label, i, v] of [
      ['a negative probability', 1, -0.1],
      ['a NaN probability', 2, Number.NaN],
      ['a -Infinity probability', 0, Number.NEGATIVE_INFINITY],
    ] as [string, number, number][]) {
      m({
        label: label,
        arg: 'probs',
        expect: RANGE,
        apply: (c) => {
          inp(c)[i] = v
        },
      })
    }
    m({ label: 'a row of zeros', arg: 'probs', expect: RANGE, apply: (c) => void inp(c).fill(0, 4, 8) })
    m({
      label: 'an empty class dim (shape [3, 0])',
      arg: 'probs',
      expect: RANGE,
      apply: (c, F) => {
        c.input = { data: new F(0), shape: [3, 0] }
      },
    })
    m({
      label: 'an empty class dim with 2**40 rows',
      arg: 'probs',
      expect: RANGE,
      apply: (c, F) => {
        c.input = { data: new F(0), shape: [2 ** 40, 0] }
      },
    })
    m({
      label: 'an empty dim 0 of shape [0, 2**52, 2**52]',
      arg: 'probs',
      expect: RANGE,
      apply: (c, F) => {
        c.input = { data: new F(0), shape: [0, 2 ** 52, 2 ** 52] }
        ;(c.options as Any).dim = 0
      },
    })
  }
  if (name === 'logit') {
    for (const [label, v] of [
      ['a string', '1e-6'],
      ['null', null],
      ['a boolean', true],
      ['a bigint', 0n],
      ['an object', {}],
    ] as [string, unknown][]) {
      m({
        label: `eps ${label}`,
        arg: 'eps',
        expect: TYPE,
        apply: (c) => {
          ;(c.options as Any).eps = v
        },
      })
    }
  }
  // out
  for (const [label, v] of [
    ['of the other float type', (F: FloatCtor) => new (other(F))(outLen)],
    ['an Int32Array', () => new Int32Array(outLen)],
    ['a plain array', () => new Array(outLen).fill(0)],
    ['a string', () => 'out'],
    ['a tensor object', (F: FloatCtor) => ({ data: new F(outLen), shape: [outLen] })],
    ['null', () => null],
  ] as [string, (F: FloatCtor) => unknown][]) {
    m({
      label: `out ${label}`,
      arg: 'out',
      expect: TYPE,
      apply: (c, F) => {
        ;(c.options as Any).out = v(F)
      },
    })
  }
  for (const [label, len] of [
    ['one element short', outLen - 1],
    ['one element long', outLen + 1],
    ['empty', 0],
  ] as [string, number][]) {
    m({
      label: `out ${label}`,
      arg: 'out',
      expect: VALUE,
      apply: (c, F) => {
        ;(c.options as Any).out = new F(len)
      },
    })
  }
  m({
    label: 'out detached',
    arg: 'out',
    expect: VALUE,
    apply: (c, F) => {
      ;(c.options as Any).out = detached(new F(outLen))
    },
  })
  m({
    label: 'out overlapping the input',
    arg: 'out',
    expect: VALUE,
    apply: (c, F) => {
      const { view, whole } = embedded(F, inp(c), 1, 1)
      c.input = { data: view, shape }
      ;(c.options as Any).out = whole.subarray(2, 2 + outLen)
    },
  })
  if (outLen === 8) {
    m({
      label: 'out === the input buffer',
      arg: 'out',
      expect: VALUE,
      apply: (c) => {
        ;(c.options as Any).out = inp(c)
      },
    })
  }
  return muts
}

// ---------------------------------------------------------------------------
// the table

interface Case {
  group: string
  label: string
  arg: string[]
  expect: Expect
  /** names acceptable as "the function" in the message */
  fnNames: string[]
  /** a fresh call: the values to snapshot and the sync call itself */
  make: () => { values: Record<string, unknown>; run: (lib: Any) => unknown; ctor?: () => unknown }
  /** the losskit/async name, when there is one */
  asyncName?: string
  /** a module whose options are bad: the constructor must throw */
  ctorMustThrow?: boolean
  /** rows that currently fail because of a known losskit bug: run in their own tests (below) */
  finding?: { sync?: Finding; async?: Finding }
}

type Finding = 'async-overlap' | 'detached' | 'entropy-alloc'
const FINDINGS: Record<Finding, string> = {
  'async-overlap':
    "regression (was a bug): losskit/async refuses an out/gradOut that overlaps an input, as the sync API does, instead of copying its result over the caller's input/target/weight/gradOutput",
  detached: 'regression (was a bug): a bare detached typed array gets the SPEC error, not taken for an empty array',
  'entropy-alloc':
    "regression (was a bug): entropy with an empty reduced dim and huge other dims gets the SPEC error, not V8's code-less RangeError 'Invalid typed array length' (the output was allocated before validation)",
}

/** Which past finding (now a regression test) a row belongs to (derived from the row's label). */
function findingOf(label: string, group: string): Case['finding'] {
  if (/^(out|gradOut) (overlapping|===|a float view over)/.test(label)) return { async: 'async-overlap' }
  if (label === 'input a bare detached array') return { sync: 'detached', async: 'detached' }
  if (group.startsWith('entropy') && /^an empty (class dim with 2\*\*40|dim 0 of shape)/.test(label))
    return { sync: 'entropy-alloc', async: 'entropy-alloc' }
  return undefined
}

const DTYPES: DType[] = ['float32', 'float64']
const cases: Case[] = []

for (const d of LOSSES) {
  const muts = lossMutations(d)
  for (const dtype of DTYPES) {
    const F = floatCtor(dtype)
    for (const variant of ['fn', 'withGrad', 'forward', 'forwardWithGrad'] as Variant[]) {
      const grad = variant === 'withGrad' || variant === 'forwardWithGrad'
      const module = variant === 'forward' || variant === 'forwardWithGrad'
      const called = variant === 'fn' ? d.name : variant === 'withGrad' ? `${d.name}WithGrad` : `${d.Module}.${variant}`
      for (const mu of muts) {
        if (mu.grad && !grad) continue
        const make = () => {
          const c = d.base(F)
          mu.apply(c, F)
          const values = { input: c.input, target: c.target, options: c.options, gradOutput: c.gradOutput }
          const fnOptions = (): unknown => {
            if (variant !== 'withGrad' || c.gradOutput === undefined) return c.options
            return typeof c.options === 'object' && c.options !== null ? { ...c.options, gradOutput: c.gradOutput } : c.options
          }
          const run = (lib: Any): unknown => {
            if (variant === 'fn') return lib[d.name](c.input, c.target, c.options)
            if (variant === 'withGrad') return lib[`${d.name}WithGrad`](c.input, c.target, fnOptions())
            const mod = new lib[d.Module](c.options)
            if (variant === 'forward') return mod.forward(c.input, c.target)
            return c.gradOutput === undefined
              ? mod.forwardWithGrad(c.input, c.target)
              : mod.forwardWithGrad(c.input, c.target, c.gradOutput)
          }
          const ctor = module ? () => new (L as Any)[d.Module](c.options) : undefined
          return { values, run, ctor }
        }
        cases.push({
          group: `${called} (${d.label}) [${dtype}]`,
          label: mu.label,
          arg: [mu.arg],
          expect: mu.expect,
          fnNames: module ? [called, d.Module] : [called],
          make,
          asyncName: module ? undefined : variant === 'fn' ? d.name : `${d.name}WithGrad`,
          ctorMustThrow: module && mu.ctor === true,
        })
      }
    }
  }
}

for (const name of ['logSoftmax', 'softmax', 'entropy', 'sigmoid', 'logit'] as HelperName[]) {
  const muts = helperMutations(name)
  for (const dtype of DTYPES) {
    const F = floatCtor(dtype)
    for (const mu of muts) {
      cases.push({
        group: `${name} [${dtype}]`,
        label: mu.label,
        arg: Array.isArray(mu.arg) ? mu.arg : [mu.arg],
        expect: mu.expect,
        fnNames: [name],
        asyncName: name,
        make: () => {
          const c: HelperCall = { input: { data: F.from(HX), shape: [2, 4] }, options: {} }
          mu.apply(c, F)
          return { values: { input: c.input, options: c.options }, run: (lib: Any) => lib[name](c.input, c.options) }
        },
      })
    }
  }
}

// tensor(data, shape)
{
  const tcases: [string, string, Expect, () => [unknown, unknown]][] = []
  for (const [label, v] of [
    ...WRONG_TYPES,
    ['a plain array', () => [1, 2]],
    ['a Uint8Array', () => new Uint8Array(2)],
    ['a Uint32Array', () => new Uint32Array(2)],
    ['a BigUint64Array', () => new BigUint64Array(2)],
    ['an Int16Array', () => new Int16Array(2)],
    ['a Buffer', () => Buffer.alloc(8)],
    ['a tensor object', () => ({ data: new Float32Array(2), shape: [2] })],
  ] as [string, () => unknown][]) {
    if (label === 'undefined') continue
    tcases.push([`data ${label}`, 'data', TYPE, () => [v(), undefined]])
    tcases.push([`data ${label} with a shape`, 'data', TYPE, () => [v(), [2]]])
  }
  for (const Ctor of [Float32Array, Float64Array, Int32Array, BigInt64Array] as Any[]) {
    for (const [label, s, expect] of badShapes([2, 3])) {
      tcases.push([`${Ctor.name} ${label}`, 'shape', expect, () => [new Ctor(6), s]])
    }
    tcases.push([`${Ctor.name} detached with shape [2, 3]`, 'shape', VALUE, () => [detached(new Ctor(6)), [2, 3]]])
  }
  for (const [label, arg, expect, mk] of tcases) {
    cases.push({
      group: 'tensor',
      label,
      arg: arg === 'shape' ? ['shape'] : ['data'],
      expect,
      fnNames: ['tensor'],
      make: () => {
        const [data, shape] = mk()
        return { values: { data, shape }, run: (lib: Any) => (shape === undefined ? lib.tensor(data) : lib.tensor(data, shape)) }
      },
    })
  }
}

// setNumThreads(n)
for (const [label, v, expect] of [
  ['a string', '2', TYPE],
  ['null', null, TYPE],
  ['undefined', undefined, TYPE],
  ['an object', {}, TYPE],
  ['a bigint', 2n, TYPE],
  ['a boolean', true, TYPE],
  ['an array', [2], TYPE],
  ['0', 0, RANGE],
  ['-1', -1, RANGE],
  ['1.5', 1.5, RANGE],
  ['NaN', Number.NaN, RANGE],
  ['Infinity', Number.POSITIVE_INFINITY, RANGE],
  ['-Infinity', Number.NEGATIVE_INFINITY, RANGE],
  ['1025', 1025, RANGE],
  ['2**31', 2 ** 31, RANGE],
  ['2**32 + 1', 2 ** 32 + 1, RANGE],
  ['2**53', 2 ** 53, RANGE],
  ['1e300', 1e300, RANGE],
  ['-0.5', -0.5, RANGE],
] as [string, unknown, Expect][]) {
  cases.push({
    group: 'setNumThreads',
    label: `n ${label}`,
    arg: ['n'],
    expect,
    fnNames: ['setNumThreads'],
    make: () => ({ values: { v }, run: (lib: Any) => lib.setNumThreads(v) }),
  })
}

// ---------------------------------------------------------------------------
// runners

function checkError(e: unknown, c: Case, where: string): string[] {
  const bad: string[] = []
  if (!matchesExpect(e, c.expect)) bad.push(`${where}: expected ${c.expect.desc}, got ${describeErr(e)}`)
  const msg = e instanceof Error ? e.message : ''
  if (!c.fnNames.some((n) => msg.includes(n)))
    bad.push(`${where}: message does not name the function (${c.fnNames.join(' or ')}): ${JSON.stringify(msg)}`)
  if (!c.arg.some((a) => namesArg(msg, a)))
    bad.push(`${where}: message does not name the argument ${c.arg.join(' or ')}: ${JSON.stringify(msg)}`)
  return bad
}

function runSync(c: Case): string[] {
  const bad: string[] = []
  const threads = L.getNumThreads()
  const { values, run, ctor } = c.make()
  const snap = takeSnapshot(values)
  if (c.ctorMustThrow && ctor) {
    let threw: unknown
    let did = false
    try {
      ctor()
    } catch (e) {
      did = true
      threw = e
    }
    if (!did) bad.push('the module constructor accepted the bad options (SPEC: it validates its options at once)')
    else bad.push(...checkError(threw, { ...c, fnNames: c.fnNames.slice(1, 2) }, 'constructor'))
  }
  let result: unknown
  let threw = false
  let err: unknown
  try {
    result = run(L)
  } catch (e) {
    threw = true
    err = e
  }
  if (!threw) bad.push(`no error; returned ${describeVal(result)}`)
  else bad.push(...checkError(err, c, 'sync'))
  for (const ch of changes(snap)) bad.push(`sync: the caller's ${ch}`)
  if (L.getNumThreads() !== threads) {
    bad.push(`the thread count changed from ${threads} to ${L.getNumThreads()}`)
    L.setNumThreads(threads)
  }
  return bad
}

async function runAsync(c: Case): Promise<string[]> {
  const bad: string[] = []
  const { values, run } = c.make()
  const snap = takeSnapshot(values)
  let p: unknown
  try {
    p = run(LA)
  } catch (e) {
    return [`async: threw synchronously instead of rejecting: ${describeErr(e)}`]
  }
  if (!(p instanceof Promise)) return [`async: returned ${describeVal(p)}, not a Promise`]
  try {
    const r = await p
    bad.push(`async: resolved (${describeVal(r)}) instead of rejecting`)
  } catch (e) {
    bad.push(...checkError(e, c, 'async'))
  }
  for (const ch of changes(snap)) bad.push(`async: the caller's ${ch}`)
  return bad
}

function report(fails: [string, string[]][]): string {
  const lines = fails.slice(0, 40).map(([label, why]) => `  - ${label}:\n      ${why.join('\n      ')}`)
  if (fails.length > 40) lines.push(`  … and ${fails.length - 40} more`)
  return lines.join('\n')
}

const groups = new Map<string, Case[]>()
for (const c of cases) {
  const g = groups.get(c.group) ?? []
  g.push(c)
  groups.set(c.group, g)
}

let tried = 0
let asyncTried = 0

for (const c of cases) c.finding = findingOf(c.label, c.group)

for (const [group, all] of groups) {
  const list = all.filter((c) => !c.finding?.sync)
  test(`bad input | ${group} (sync): ${list.length} cases`, (t) => {
    const fails: [string, string[]][] = []
    for (const c of list) {
      tried++
      const bad = runSync(c)
      if (bad.length > 0) fails.push([c.label, bad])
    }
    t.is(fails.length, 0, `${fails.length}/${list.length} bad inputs of ${group} not handled as the SPEC says:\n${report(fails)}`)
  })
  const asyncList = all.filter((c) => c.asyncName !== undefined && !c.finding?.async)
  if (asyncList.length > 0) {
    test(`bad input | ${group} via losskit/async: rejects with the same class and code`, async (t) => {
      const fails: [string, string[]][] = []
      for (const c of asyncList) {
        asyncTried++
        const bad = await runAsync(c)
        if (bad.length > 0) fails.push([c.label, bad])
      }
      t.is(fails.length, 0, `${fails.length}/${asyncList.length} bad inputs of ${group} through losskit/async:\n${report(fails)}`)
    })
  }
}

// the rows of past findings, each finding in one test per mode: the bugs they found are fixed,
// and these tests keep them fixed
for (const [finding, title] of Object.entries(FINDINGS) as [Finding, string][]) {
  const syncRows = cases.filter((c) => c.finding?.sync === finding)
  const asyncRows = cases.filter((c) => c.finding?.async === finding && c.asyncName !== undefined)
  if (syncRows.length > 0) {
    test(`${title} (sync, ${syncRows.length} cases)`, (t) => {
      const fails: [string, string[]][] = []
      for (const c of syncRows) {
        tried++
        const bad = runSync(c)
        if (bad.length > 0) fails.push([`${c.group}: ${c.label}`, bad])
      }
      t.is(fails.length, 0, `${fails.length}/${syncRows.length} cases:\n${report(fails)}`)
    })
  }
  if (asyncRows.length > 0) {
    test(`${title} (losskit/async, ${asyncRows.length} cases)`, async (t) => {
      const fails: [string, string[]][] = []
      for (const c of asyncRows) {
        asyncTried++
        const bad = await runAsync(c)
        if (bad.length > 0) fails.push([`${c.group}: ${c.label}`, bad])
      }
      t.is(fails.length, 0, `${fails.length}/${asyncRows.length} cases:\n${report(fails)}`)
    })
  }
}

test.after.always('number of bad inputs tried', (t) => {
  t.log(`bad inputs tried: ${tried} synchronously + ${asyncTried} through losskit/async = ${tried + asyncTried}`)
})

test('the table is large', (t) => {
  const asyncRows = cases.filter((c) => c.asyncName !== undefined).length
  t.log(
    `${cases.length} bad-input table rows (sync), ${asyncRows} of them also through losskit/async: ${cases.length + asyncRows} bad calls`,
  )
  t.true(cases.length > 500, `only ${cases.length} cases`)
  t.true(cases.length + asyncRows > 1000)
})

// ---------------------------------------------------------------------------
// the positive side: SharedArrayBuffer, offsets, shared ArrayBuffers, in-place grads

type Mk = (F: FloatCtor, values: ArrayLike<number>) => FloatArray
const plain: Mk = (F, v) => F.from(v)
/** a view at a nonzero element offset into a plain ArrayBuffer with junk around it */
const offsetView: Mk = (F, v) => {
  const whole = new F(v.length + 5).fill(Number.NaN)
  whole.set(v, 3)
  return whole.subarray(3, 3 + v.length)
}
/** a view into a SharedArrayBuffer (at offset 0) */
const shared: Mk = (F, v) => {
  const a = new F(new SharedArrayBuffer(v.length * F.BYTES_PER_ELEMENT))
  a.set(v)
  return a
}
/** a view at a nonzero offset into a SharedArrayBuffer */
const sharedOffset: Mk = (F, v) => {
  const a = new F(new SharedArrayBuffer((v.length + 7) * F.BYTES_PER_ELEMENT), 2 * F.BYTES_PER_ELEMENT, v.length)
  a.set(v)
  return a
}
function sharedInts<A extends Int32Array | BigInt64Array>(a: A, offset: boolean): A {
  const C = a.constructor as Any
  const sab = new SharedArrayBuffer((a.length + 4) * C.BYTES_PER_ELEMENT)
  const v = new C(sab, offset ? 2 * C.BYTES_PER_ELEMENT : 0, a.length)
  v.set(a)
  return v
}

interface PosCase {
  name: string
  run: (lib: Any, mk: Mk, F: FloatCtor, bufs: { out?: FloatArray; gradOut?: FloatArray }, ints: boolean) => Any
  outLen: number
  gradLen: number
  /** grad variant */
  grad: boolean
}

const RX = [0.1, 0.5, 0.875, 0.25, 0.625, 0.75]
const RT = [0, 1, 1, 0.5, 0, 1]
const posCases: PosCase[] = [
  {
    name: 'crossEntropyWithGrad index none weight',
    grad: true,
    outLen: 3,
    gradLen: 12,
    run: (lib, mk, F, b, ints) =>
      lib.crossEntropyWithGrad(
        { data: mk(F, X34), shape: [3, 4] },
        ints ? sharedInts(Int32Array.from([0, 3, -100]), true) : Int32Array.from([0, 3, -100]),
        {
          reduction: 'none',
          weight: mk(F, [0.5, 1, 2, 0.25]),
          labelSmoothing: 0.1,
          gradOutput: { data: mk(F, [1, -2, 0.5]), shape: [3] },
          ...b,
        },
      ),
  },
  {
    name: 'crossEntropyWithGrad probabilities mean',
    grad: true,
    outLen: 0,
    gradLen: 12,
    run: (lib, mk, F, b) =>
      lib.crossEntropyWithGrad(
        { data: mk(F, X34), shape: [3, 4] },
        { data: mk(F, P34), shape: [3, 4] },
        { weight: mk(F, [0.5, 1, 2, 0.25]), ...b },
      ),
  },
  {
    name: 'nllLossWithGrad bigint none',
    grad: true,
    outLen: 3,
    gradLen: 12,
    run: (lib, mk, F, b, ints) =>
      lib.nllLossWithGrad(
        { data: mk(F, X34), shape: [3, 4] },
        { data: ints ? sharedInts(BigInt64Array.from([1n, 2n, 0n]), false) : BigInt64Array.from([1n, 2n, 0n]), shape: [3] },
        { reduction: 'none', weight: mk(F, [0.5, 1, 2, 0.25]), ...b },
      ),
  },
  {
    name: 'klDivWithGrad none',
    grad: true,
    outLen: 6,
    gradLen: 6,
    run: (lib, mk, F, b) =>
      lib.klDivWithGrad(
        { data: mk(F, [-1.2, -0.9, -1.3, -0.5, -2, -1.5]), shape: [2, 3] },
        { data: mk(F, [0.2, 0.5, 0.3, 0.6, 0.1, 0.3]), shape: [2, 3] },
        { reduction: 'none', ...b },
      ),
  },
  {
    name: 'klDivWithGrad batchmean logTarget',
    grad: true,
    outLen: 0,
    gradLen: 6,
    run: (lib, mk, F, b) =>
      lib.klDivWithGrad(
        { data: mk(F, [-1.2, -0.9, -1.3, -0.5, -2, -1.5]), shape: [2, 3] },
        { data: mk(F, [-1.6, -0.7, -1.2, -0.5, -2.3, -1.2]), shape: [2, 3] },
        { reduction: 'batchmean', logTarget: true, ...b },
      ),
  },
  {
    name: 'binaryCrossEntropyWithGrad none weight',
    grad: true,
    outLen: 6,
    gradLen: 6,
    run: (lib, mk, F, b) =>
      lib.binaryCrossEntropyWithGrad(
        { data: mk(F, RX), shape: [2, 3] },
        { data: mk(F, RT), shape: [2, 3] },
        { reduction: 'none', weight: mk(F, [1, 2, 0.5]), ...b },
      ),
  },
  {
    name: 'binaryCrossEntropyWithLogitsWithGrad sum weight posWeight',
    grad: true,
    outLen: 0,
    gradLen: 6,
    run: (lib, mk, F, b) =>
      lib.binaryCrossEntropyWithLogitsWithGrad(
        { data: mk(F, [-2, 0.5, 3, -0.25, 1, 0]), shape: [2, 3] },
        { data: mk(F, RT), shape: [2, 3] },
        {
          reduction: 'sum',
          weight: { data: mk(F, [1, 2]), shape: [2, 1] },
          posWeight: mk(F, [3, 1, 0.5]),
          gradOutput: 0.75,
          ...b,
        },
      ),
  },
  {
    name: 'crossEntropy index mean',
    grad: false,
    outLen: 0,
    gradLen: 0,
    run: (lib, mk, F, _b, ints) =>
      lib.crossEntropy(
        { data: mk(F, X34), shape: [3, 4] },
        ints ? sharedInts(Int32Array.from([2, 3, 0]), true) : Int32Array.from([2, 3, 0]),
      ),
  },
  {
    name: 'logSoftmax dim 0',
    grad: false,
    outLen: 12,
    gradLen: 0,
    run: (lib, mk, F, b) => lib.logSoftmax({ data: mk(F, X34), shape: [3, 4] }, { dim: 0, ...b }),
  },
  {
    name: 'softmax',
    grad: false,
    outLen: 12,
    gradLen: 0,
    run: (lib, mk, F, b) => lib.softmax({ data: mk(F, X34), shape: [3, 4] }, { ...b }),
  },
  {
    name: 'entropy',
    grad: false,
    outLen: 3,
    gradLen: 0,
    run: (lib, mk, F, b) => lib.entropy({ data: mk(F, P34), shape: [3, 4] }, { ...b }),
  },
  { name: 'sigmoid', grad: false, outLen: 12, gradLen: 0, run: (lib, mk, F, b) => lib.sigmoid(mk(F, X34), { ...b }) },
  {
    name: 'logit eps',
    grad: false,
    outLen: 6,
    gradLen: 0,
    run: (lib, mk, F, b) => lib.logit(mk(F, [0, 0.25, 0.5, 0.75, 1, 1e-9]), { eps: 1e-6, ...b }),
  },
]

function flatten(r: Any): number[][] {
  const parts: number[][] = []
  const add = (v: Any) => {
    if (typeof v === 'number') parts.push([v])
    else if (v && ArrayBuffer.isView(v.data)) parts.push(Array.from(v.data as FloatArray))
    else throw new Error(`unexpected result ${describeVal(v)}`)
  }
  if (r && typeof r === 'object' && 'grad' in r) {
    add(r.loss)
    add(r.grad)
  } else add(r)
  return parts
}

function sameBits(a: number[][], b: number[][]): boolean {
  return a.length === b.length && a.every((x, i) => x.length === b[i].length && x.every((v, j) => Object.is(v, b[i][j])))
}

for (const mode of ['sync', 'async'] as const) {
  const lib = mode === 'sync' ? L : LA
  test(`SharedArrayBuffer-backed arguments and subarray views at nonzero offsets give the same bits as plain arrays (${mode})`, async (t) => {
    for (const dtype of DTYPES) {
      const F = floatCtor(dtype)
      for (const pc of posCases) {
        const ref = flatten(await pc.run(lib, plain, F, {}, false))
        for (const [mkName, mk] of [
          ['offset view', offsetView],
          ['SharedArrayBuffer', shared],
          ['SharedArrayBuffer at an offset', sharedOffset],
        ] as [string, Mk][]) {
          for (const ints of [false, true]) {
            const label = `${pc.name} [${dtype}] ${mkName}${ints ? ', shared int targets' : ''}`
            const b: { out?: FloatArray; gradOut?: FloatArray } = {}
            if (pc.outLen) b.out = mk(F, new Array(pc.outLen).fill(7))
            if (pc.gradLen) b.gradOut = mk(F, new Array(pc.gradLen).fill(7))
            const r = await pc.run(lib, mk, F, b, ints)
            t.true(sameBits(flatten(r), ref), `${label}: differs from plain arrays`)
            if (b.out) t.is(r.loss?.data ?? r.data, b.out, `${label}: the result must be the out buffer`)
            if (b.gradOut) t.is(r.grad.data, b.gradOut, `${label}: the grad must be the gradOut buffer`)
          }
        }
      }
    }
  })

  test(`out, gradOut and the inputs as non-overlapping views of one ArrayBuffer (plain and shared) work (${mode})`, async (t) => {
    for (const dtype of DTYPES) {
      const F = floatCtor(dtype)
      for (const Buf of [ArrayBuffer, SharedArrayBuffer]) {
        const B = F.BYTES_PER_ELEMENT
        const buf = new Buf(64 * B)
        // layout (elements): input 0..12, weight 12..16, gradOutput 16..19, out 20..23, gradOut 24..36; target (int32) at byte 40*B
        const x = new F(buf, 0, 12)
        x.set(X34)
        const w = new F(buf, 12 * B, 4)
        w.set([0.5, 1, 2, 0.25])
        const g = new F(buf, 16 * B, 3)
        g.set([1, -2, 0.5])
        const out = new F(buf, 20 * B, 3)
        const gradOut = new F(buf, 24 * B, 12)
        const tgt = new Int32Array(buf, 40 * B, 3)
        tgt.set([0, 3, 1])
        const ref = L.crossEntropyWithGrad({ data: F.from(X34), shape: [3, 4] }, Int32Array.from([0, 3, 1]), {
          reduction: 'none',
          weight: F.from([0.5, 1, 2, 0.25]),
          gradOutput: { data: F.from([1, -2, 0.5]), shape: [3] },
        })
        const r = await lib.crossEntropyWithGrad({ data: x, shape: [3, 4] }, tgt, {
          reduction: 'none',
          weight: w,
          gradOutput: { data: g, shape: [3] },
          out,
          gradOut,
        })
        t.true(sameBits(flatten(r), flatten(ref)), `${dtype} ${Buf.name}: same bits as separate arrays`)
        t.is(r.loss.data, out)
        t.is(r.grad.data, gradOut)
        t.deepEqual(Array.from(x), Array.from(F.from(X34)), 'the input is untouched')
      }
    }
  })

  test(`gradOut === the input's own buffer works for every loss (${mode})`, async (t) => {
    for (const dtype of DTYPES) {
      const F = floatCtor(dtype)
      for (const pc of posCases.filter((p) => p.grad)) {
        for (const mk of [plain, offsetView, sharedOffset]) {
          const ref = flatten(await pc.run(lib, mk, F, {}, false))
          // capture the input the case builds, then pass its own data as gradOut
          let inputData: FloatArray | undefined
          const spy: Mk = (F2, v) => {
            const a = mk(F2, v)
            if (inputData === undefined) inputData = a
            return a
          }
          const wrap = {
            ...lib,
          } as Any
          for (const k of Object.keys(lib)) {
            if (k.endsWith('WithGrad')) {
              wrap[k] = (input: Any, target: Any, o: Any) => (lib as Any)[k](input, target, { ...o, gradOut: input.data })
            }
          }
          const r = await pc.run(wrap, spy, F, {}, false)
          t.truthy(inputData)
          t.is(r.grad.data, inputData, `${pc.name} [${dtype}]: grad.data must be the input's buffer`)
          t.true(sameBits(flatten(r), ref), `${pc.name} [${dtype}]: in-place gradient differs from the out-of-place one`)
        }
      }
    }
  })
}
