// logSoftmax / softmax / sigmoid / logit / entropy / tensor vs PyTorch.
// Golden values: fixtures/helpers.json (fixtures/generate.py):
//   torch.log_softmax(x, dim), torch.softmax(x, dim), torch.sigmoid(x), torch.logit(x, eps),
//   torch.distributions.Categorical(probs=x.movedim(dim, -1)).entropy()
// logit and entropy depend on the dtype (eps clamps), so their float32 expectations
// come from torch run in float32 (expected.valueF32).

import test from 'ava'
import { entropy, logit, logSoftmax, sigmoid, softmax, tensor } from 'losskit'
import { dtypesFor } from './_loss_runner.js'
import {
  asOffsetView,
  assertClose,
  assertDtype,
  assertUnchanged,
  type DType,
  describe,
  F64,
  floatCtor,
  type HelperCase,
  isTensorLike,
  loadFixtures,
  Rng,
  shapeSize,
  snapshot,
  type Tensor,
  toInput,
  tolFor,
  toOptions,
} from './_util.js'

// biome-ignore lint/suspicious/noExplicitAny: one loose signature for all helpers
type AnyFn = (...args: any[]) => any
const FNS: Record<string, AnyFn> = { logSoftmax, softmax, sigmoid, logit, entropy }
const TAG: Record<DType, string> = { float64: 'f64', float32: 'f32' }

const file = loadFixtures<HelperCase>('helpers')
let registered = 0

for (const c of file.cases) {
  const fn = FNS[c.fn]
  if (!fn) throw new Error(`helpers: unknown function ${c.fn} in case ${c.name}`)
  for (const dtype of dtypesFor(c)) {
    registered++
    const tag = `${c.name} [${TAG[dtype]}]`
    if (c.error) {
      const err = c.error
      test(`helpers | ${tag}`, (t) => {
        const input = toInput(c.input, dtype)
        const o = toOptions(c.options, dtype)
        const snaps = snapshot({ input })
        const e = t.throws(() => fn(input, o), { instanceOf: err.class === 'RangeError' ? RangeError : TypeError, code: err.code }, tag)
        if (e) t.true(e.message.includes(c.fn), `${tag}: the message must name ${c.fn}: ${JSON.stringify(e.message)}`)
        assertUnchanged(t, snaps, tag)
      })
      continue
    }
    test(`helpers | ${tag}`, (t) => {
      const exp = c.expected
      if (!exp) throw new Error(`${c.name}: no expectation`)
      const expected = dtype === 'float32' ? (exp.valueF32 ?? exp.value) : exp.value
      const tol = { ...tolFor(dtype) }
      const o = toOptions(c.options, dtype)
      const noOptions = Object.keys(o).length === 0
      // plain call (defaults when the case has no options)
      {
        const input = toInput(c.input, dtype)
        const snaps = snapshot({ input })
        const got = noOptions ? fn(input) : fn(input, o)
        assertClose(t, got, expected, { ...tol, label: `${tag} ${c.fn}()` })
        assertDtype(t, got, dtype, `${tag} ${c.fn}()`)
        assertUnchanged(t, snaps, `${tag} ${c.fn}()`)
      }
      // bare typed array for 1-d input
      if (c.input.shape.length === 1) {
        const input = toInput(c.input, dtype)
        assertClose(t, fn(input.data, o), expected, { ...tol, label: `${tag} ${c.fn}(bare array)` })
      }
      // subarray view with junk around it
      {
        const input = toInput(c.input, dtype)
        const view = { data: asOffsetView(input.data), shape: input.shape }
        assertClose(t, fn(view, o), expected, { ...tol, label: `${tag} ${c.fn}(subarray view)` })
      }
      // preallocated out
      if (typeof expected !== 'number') {
        const input = toInput(c.input, dtype)
        const out = new (floatCtor(dtype))(shapeSize(expected.shape)).fill(12345)
        const got = fn(input, { ...o, out })
        assertClose(t, got, expected, { ...tol, label: `${tag} ${c.fn}({out})` })
        t.true(isTensorLike(got) && got.data === out, `${tag}: result.data must be the out buffer, got ${describe(got)}`)
      }
    })
  }
}

test('helpers fixtures are all registered', (t) => {
  t.true(registered > 150, `only ${registered} fixture tests registered`)
})

// --- tensor() ------------------------------------------------------------

test('tensor(data, shape?) wraps without copying and checks the shape', (t) => {
  const d = Float64Array.from([1, 2, 3, 4, 5, 6])
  const a = tensor(d, [2, 3])
  t.is(a.data, d, 'no copy')
  t.deepEqual(Array.from(a.shape), [2, 3])
  const b = tensor(d)
  t.deepEqual(Array.from(b.shape), [6], 'default shape [data.length]')
  const f = Float32Array.from([1, 2])
  t.is(tensor(f, [2]).data, f)
  const v = d.subarray(1, 5)
  const c = tensor(v, [2, 2])
  t.is(c.data, v, 'subarray views are used in place')
  t.deepEqual(Array.from(tensor(new Float64Array(0), [0, 3]).shape), [0, 3])
  t.deepEqual(Array.from(tensor(Float64Array.of(2.5), []).shape), [], '0-d tensor')
  for (const bad of [[4], [2, 2], [7], [3, 3], [6, 0]]) {
    const e = t.throws(() => tensor(d, bad), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' }, `shape [${bad}]`)
    if (e) t.true(e.message.includes('tensor'), `message names tensor: ${e.message}`)
  }
  // SPEC is silent on the error for negative / fractional dims whose product happens to match:
  // accept Node's two conventions (an invalid value, or a number out of range).
  for (const bad of [
    [-2, -3],
    [2.5, 2.4],
  ]) {
    const e = t.throws(() => tensor(d, bad), undefined, `shape [${bad}]`)
    const code = (e as NodeJS.ErrnoException | undefined)?.code
    t.true(
      (e instanceof TypeError && code === 'ERR_INVALID_ARG_VALUE') || (e instanceof RangeError && code === 'ERR_OUT_OF_RANGE'),
      `shape [${bad}]: expected TypeError ERR_INVALID_ARG_VALUE or RangeError ERR_OUT_OF_RANGE, got ${e?.name} ${code}`,
    )
  }
  t.throws(() => tensor([1, 2, 3] as unknown as Float64Array), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' }, 'plain array')
})

// --- wrong types ----------------------------------------------------------

test('helpers reject non-float input with ERR_INVALID_ARG_TYPE and bad out buffers', (t) => {
  const ints = { data: Int32Array.from([1, 2, 3]), shape: [3] }
  for (const [name, fn] of Object.entries(FNS)) {
    t.throws(() => fn(ints), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' }, `${name}(Int32Array)`)
    t.throws(() => fn('abc'), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' }, `${name}(string)`)
    const x = { data: Float64Array.from([0.25, 0.5, 0.125, 0.125]), shape: [2, 2] }
    if (name !== 'entropy') {
      t.throws(() => fn(x, { out: new Float64Array(5) }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' }, `${name} out too long`)
      t.throws(
        () => fn(x, { out: new Float32Array(4) }),
        { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' },
        `${name} out of the other type`,
      )
    } else {
      t.throws(() => fn(x, { out: new Float64Array(3) }), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' }, `${name} out too long`)
    }
  }
  t.throws(
    () => softmax({ data: Float64Array.of(1, 2), shape: [2] }, { dim: 0.5 }),
    { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' },
    'fractional dim',
  )
})

// --- properties -------------------------------------------------------------

test('softmax rows sum to 1, logSoftmax = log(softmax), sigmoid(logit(p)) = p (float64)', (t) => {
  const rng = new Rng(53)
  for (const shape of [[7], [3, 5], [2, 3, 4]]) {
    const x: Tensor<Float64Array> = { data: rng.normals(shapeSize(shape), 4), shape }
    for (let dim = -shape.length; dim < shape.length; dim++) {
      const s = softmax(x, { dim }) as Tensor<Float64Array>
      const ls = logSoftmax(x, { dim }) as Tensor<Float64Array>
      assertClose(
        t,
        ls,
        { data: Array.from(s.data, Math.log), shape },
        { rtol: 1e-12, atol: 1e-14, label: `log(softmax) [${shape}] dim ${dim}` },
      )
      // sums along dim
      const d = dim < 0 ? dim + shape.length : dim
      const outer = shape.slice(0, d).reduce((a, b) => a * b, 1)
      const n = shape[d]
      const inner = shape.slice(d + 1).reduce((a, b) => a * b, 1)
      const sums: number[] = []
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < inner; i++) {
          let acc = 0
          for (let k = 0; k < n; k++) acc += s.data[(o * n + k) * inner + i]
          sums.push(acc)
        }
      }
      assertClose(
        t,
        sums,
        sums.map(() => 1),
        { ...F64, label: `softmax sums [${shape}] dim ${dim}` },
      )
    }
  }
  const p = rng.uniforms(50, 0.001, 0.999)
  assertClose(t, sigmoid(logit(p)), p, { rtol: 1e-12, atol: 1e-15, label: 'sigmoid(logit(p))' })
})

test('entropy of a 0-d probs is an error, as torch.distributions.Categorical ("at least one-dimensional")', (t) => {
  const e = t.throws(() => entropy(tensor(Float64Array.of(0.5), [])), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' })
  t.true(e?.message.startsWith('entropy: '), e?.message)
})
