// Train a logistic-regression classifier on an imbalanced synthetic set (1 positive
// in 10) with BCEWithLogitsLoss and posWeight = negatives / positives, which
// weighs the rare positives up, as in PyTorch.
import { BCEWithLogitsLoss, sigmoid } from 'losskit'
import { rng } from './_random.mjs'

const r = rng(4)
const [N, F] = [2000, 5]
const X = new Float64Array(N * F)
const y = new Float64Array(N)
let positives = 0
for (let i = 0; i < N; i++) {
  y[i] = r.uniform() < 0.1 ? 1 : 0
  positives += y[i]
  for (let f = 0; f < F; f++) X[i * F + f] = r.normal() + (y[i] ? 1.2 : 0)
}
const posWeight = new Float64Array([(N - positives) / positives])
const lossFn = new BCEWithLogitsLoss({ posWeight })

const w = new Float64Array(F)
let b = 0
const z = new Float64Array(N)
const forward = () => {
  for (let i = 0; i < N; i++) {
    let s = b
    for (let f = 0; f < F; f++) s += X[i * F + f] * w[f]
    z[i] = s
  }
}

for (let step = 0; step <= 200; step++) {
  forward()
  const { loss, grad } = lossFn.forwardWithGrad(z, y)
  const g = grad.data
  for (let f = 0; f < F; f++) {
    let s = 0
    for (let i = 0; i < N; i++) s += X[i * F + f] * g[i]
    w[f] -= 0.5 * s
  }
  b -= 0.5 * g.reduce((a, v) => a + v, 0)
  if (step % 50 === 0) console.log(`step ${String(step).padStart(3)}  loss ${loss.toFixed(4)}`)
}

forward()
const p = sigmoid(z).data
let tp = 0
let fn = 0
for (let i = 0; i < N; i++) {
  if (y[i] === 1) {
    if (p[i] > 0.5) tp++
    else fn++
  }
}
const recall = tp / (tp + fn)
console.log(`positives ${positives}/${N}, posWeight ${posWeight[0].toFixed(2)}, recall on positives ${(100 * recall).toFixed(1)}%`)
if (!(recall > 0.6)) process.exitCode = 1
