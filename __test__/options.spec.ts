// SPEC "Options": an options object holds only keys the function knows. An
// unknown key is a TypeError ERR_INVALID_ARG_VALUE naming it (and the right key
// where it is a PyTorch spelling); `undefined` values count as absent. This
// covers every function, …WithGrad, module constructor and helper.

import test from 'ava'
import * as L from 'losskit'
import * as A from 'losskit/async'

// biome-ignore lint/suspicious/noExplicitAny: every export is called by name
type Any = any

const f = (a: number[]) => Float32Array.from(a)
const x23 = () => L.tensor(f([0.5, 0.25, 0.75, 0.125, 0.875, 0.375]), [2, 3])
const VALUE = { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE' }

/** A valid call's arguments (options excluded) for every loss. */
function argsFor(name: string, decl: Any): unknown[] {
  if (name === 'crossEntropy' || name === 'nllLoss') return [x23(), new Int32Array([0, 2])]
  if (decl === undefined) return [x23()]
  const extra = decl.args.slice(1).map((a: Any) => (a.index ? new Int32Array([0, 2]) : a.name === 'target' ? f([1, -1]) : x23()))
  if (name === 'multilabelMarginLoss') return [x23(), L.tensor(new Int32Array([0, -1, 1, 2, -1, 0]), [2, 3])]
  if (name === 'multiMarginLoss') return [x23(), new Int32Array([0, 2])]
  if (name === 'ctcLoss') {
    const lp = L.logSoftmax(
      L.tensor(
        Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)),
        [4, 2, 3],
      ),
    )
    return [lp, L.tensor(new Int32Array([1, 2, 2, 0]), [2, 2]), new Int32Array([4, 4]), new Int32Array([2, 1])]
  }
  if (name === 'cosineEmbeddingLoss') return [x23(), x23(), f([1, -1])]
  if (name === 'marginRankingLoss') return [x23(), x23(), x23()]
  return [x23(), x23(), ...extra]
}

const declared = L.__impl.losses as Record<string, Any>
const losses = ['crossEntropy', 'nllLoss', ...Object.keys(declared)]

for (const name of losses) {
  test(`${name}: an unknown option key is ERR_INVALID_ARG_VALUE naming it, in every form; undefined values are absent`, async (t) => {
    for (const fn of [name, `${name}WithGrad`]) {
      const e = t.throws(() => (L as Any)[fn](...argsFor(name, declared[name]), { notAnOption: 1 }), VALUE, fn)
      t.true(e?.message.includes(fn) && e.message.includes('notAnOption'), `${fn}: ${e?.message}`)
      await t.throwsAsync((A as Any)[fn](...argsFor(name, declared[name]), { notAnOption: 1 }), VALUE, `async ${fn}`)
      t.notThrows(
        () => (L as Any)[fn](...argsFor(name, declared[name]), { notAnOption: undefined, reduction: undefined }),
        `${fn} with undefined values`,
      )
    }
    const Module = (L as Any)[declared[name]?.module ?? (name === 'crossEntropy' ? 'CrossEntropyLoss' : 'NLLLoss')]
    t.throws(() => new Module({ notAnOption: 1 }), VALUE, 'module constructor')
    t.throws(() => new Module({ gradOutput: 2 }), VALUE, 'gradOutput is an argument of forwardWithGrad, not a module option')
    t.throws(
      () => (L as Any)[name](...argsFor(name, declared[name]), { gradOut: new Float32Array(6) }),
      VALUE,
      'gradOut without a gradient',
    )
  })
}

test('PyTorch spellings name the right key', (t) => {
  const cases: [() => unknown, string][] = [
    [() => L.crossEntropy(x23(), new Int32Array([0, 1]), { ignore_index: 0 } as Any), 'ignoreIndex'],
    [() => L.crossEntropy(x23(), new Int32Array([0, 1]), { label_smoothing: 0.1 } as Any), 'labelSmoothing'],
    [() => L.binaryCrossEntropyWithLogits(x23(), x23(), { pos_weight: f([1, 1, 1]) } as Any), 'posWeight'],
    [() => L.klDiv(x23(), x23(), { log_target: true } as Any), 'logTarget'],
    [() => L.poissonNllLoss(x23(), x23(), { log_input: false } as Any), 'logInput'],
    [() => new L.TripletMarginWithDistanceLoss({ distance_function: 'cosine' } as Any), 'distanceFunction'],
    [() => L.mseLoss(x23(), x23(), { size_average: false } as Any), 'reduction'],
  ]
  for (const [call, right] of cases) {
    const e = t.throws(call, VALUE)
    t.true(e?.message.includes(right), `${e?.message} should name ${right}`)
  }
})

test('helpers check their options too', (t) => {
  t.throws(() => L.softmax(x23(), { axis: 0 } as Any), VALUE)
  t.throws(() => L.logSoftmax(x23(), { axis: 0 } as Any), VALUE)
  t.throws(() => L.entropy(x23(), { axis: 0 } as Any), VALUE)
  t.throws(() => L.sigmoid(x23(), { eps: 0.1 } as Any), VALUE)
  t.throws(() => L.logit(x23(), { dim: 0 } as Any), VALUE)
  t.notThrows(() => L.logit(x23(), { eps: 0.1, out: undefined }))
})
