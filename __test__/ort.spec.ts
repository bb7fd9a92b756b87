// SPEC "Data model": tensors that carry `dims` instead of `shape` go straight
// in — onnxruntime-node's ort.Tensor (whose `data` is a getter) and
// transformers.js tensors — as inputs, targets (int64 → BigInt64Array) and
// weights. An ort tensor of a type losskit does not compute in is a TypeError
// naming that type. Tested with the real onnxruntime-node package.

import test from 'ava'
import * as L from 'losskit'
import * as A from 'losskit/async'
import * as ort from 'onnxruntime-node'

const LOGITS = [2, 0.5, -1, 0.1, 1.2, 0.3]

test('ort.Tensor inputs, int64 targets and weights give the same results as { data, shape }', async (t) => {
  const x = new ort.Tensor('float32', Float32Array.from(LOGITS), [2, 3])
  const y = new ort.Tensor('int64', BigInt64Array.from([0n, 1n]), [2])
  const w = new ort.Tensor('float32', Float32Array.from([1, 2, 0.5]), [3])
  const plain = L.crossEntropy(L.tensor(Float32Array.from(LOGITS), [2, 3]), BigInt64Array.from([0n, 1n]), {
    weight: Float32Array.from([1, 2, 0.5]),
  })
  t.is(L.crossEntropy(x, y, { weight: w }), plain)
  t.is(await A.crossEntropy(x, y, { weight: w }), plain)
  const g = L.crossEntropyWithGrad(x, y, { reduction: 'none' })
  t.deepEqual(Array.from(g.grad.shape), [2, 3])
  const d = new ort.Tensor('float64', Float64Array.from(LOGITS), [6])
  t.is(L.mseLoss(d, d), 0)
  t.is(L.multiMarginLoss(x, y), L.multiMarginLoss(L.tensor(Float32Array.from(LOGITS), [2, 3]), BigInt64Array.from([0n, 1n])))
  const sm = L.softmax(x) as { data: Float32Array; shape: readonly number[] }
  t.deepEqual(Array.from(sm.shape), [2, 3])
})

test("an ort tensor of a type losskit does not compute in is a TypeError naming the type ('float16', 'int8')", (t) => {
  const half = new ort.Tensor('float16', new Uint16Array(6), [2, 3])
  const y = new ort.Tensor('int64', BigInt64Array.from([0n, 1n]), [2])
  for (const call of [
    () => L.crossEntropy(half, y),
    () => L.mseLoss(half, half),
    () => L.binaryCrossEntropy(L.tensor(new Float32Array(6).fill(0.5), [2, 3]), half),
    () => L.softmax(half),
    () => L.multiMarginLoss(L.tensor(new Float32Array(6), [2, 3]), new ort.Tensor('int8', new Int8Array(2), [2])),
    () => L.crossEntropy(L.tensor(new Float32Array(6), [2, 3]), new ort.Tensor('int8', new Int8Array(2), [2])),
  ]) {
    const e = t.throws(call, { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
    t.true(/'float16'|'int8'/.test(e?.message ?? ''), e?.message)
  }
})

test('a transformers.js-style tensor ({ data, dims, type }) goes in too', (t) => {
  const logits = { type: 'float32', data: Float32Array.from(LOGITS), dims: [2, 3] }
  const labels = { type: 'int64', data: BigInt64Array.from([0n, 1n]), dims: [2] }
  t.is(L.crossEntropy(logits, labels), L.crossEntropy(L.tensor(Float32Array.from(LOGITS), [2, 3]), BigInt64Array.from([0n, 1n])))
  t.throws(() => L.crossEntropy({ type: 'float32', data: Float32Array.from(LOGITS), dims: [4, 3] }, labels), {
    instanceOf: TypeError,
    code: 'ERR_INVALID_ARG_VALUE',
  })
})
