// Fits a tiny CTC alignment with ctcLossWithGrad: free logits (T = 12 frames,
// C = 5 classes, class 0 the blank) learn to spell the target "1 2 2 3" (the
// repeated 2 needs a blank between its two frames). The gradient of the CTC
// loss with respect to the log-probabilities is carried through the
// log-softmax by hand: d/dlogits = g − softmax · Σ g per frame.
import { ctcLossWithGrad, logSoftmax, softmax, tensor } from 'losskit'

const T = 12
const C = 5
const target = new Int32Array([1, 2, 2, 3])
const logits = new Float64Array(T * C).map((_, i) => Math.sin(i * 1.7) * 0.1)

let first = 0
let loss = 0
for (let step = 0; step <= 200; step++) {
  const logProbs = logSoftmax(tensor(logits, [T, C]))
  const r = ctcLossWithGrad(logProbs, target, T, target.length, { reduction: 'sum' })
  loss = r.loss
  if (step === 0) first = loss
  const p = softmax(tensor(logits, [T, C])).data
  const g = r.grad.data
  for (let t = 0; t < T; t++) {
    let s = 0
    for (let c = 0; c < C; c++) s += g[t * C + c]
    for (let c = 0; c < C; c++) logits[t * C + c] -= 0.5 * (g[t * C + c] - p[t * C + c] * s)
  }
  if (step % 40 === 0) console.log(`step ${String(step).padStart(3)}: CTC loss ${loss.toFixed(4)}`)
}

// The best path: the most likely class per frame, repeats merged, blanks removed.
const best = []
for (let t = 0; t < T; t++) {
  let k = 0
  for (let c = 1; c < C; c++) if (logits[t * C + c] > logits[t * C + k]) k = c
  best.push(k)
}
const decoded = best.filter((k, t) => k !== 0 && k !== best[t - 1])
console.log(`frames: ${best.join(' ')}  ->  decoded: ${decoded.join(' ')} (target ${Array.from(target).join(' ')})`)
if (!(loss < first / 4)) throw new Error(`the CTC loss did not fall: ${first} -> ${loss}`)
if (decoded.join(' ') !== Array.from(target).join(' ')) throw new Error('greedy decoding does not spell the target')
