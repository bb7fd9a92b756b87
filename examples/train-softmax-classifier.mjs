// Train a linear softmax classifier on synthetic data with crossEntropyWithGrad:
// the forward pass is a matrix product in plain JS, the loss and its gradient
// come from losskit, written in place over the logits (no allocation per step).
import { crossEntropyWithGrad, tensor } from 'losskit'
import { rng } from './_random.mjs'

const r = rng(3)
const [N, F, C] = [512, 8, 4] // samples, features, classes

// Synthetic data: each class is a Gaussian blob around its own centre.
const centres = Array.from({ length: C }, () => Float32Array.from({ length: F }, () => 3 * r.normal()))
const X = new Float32Array(N * F)
const y = new Int32Array(N)
for (let i = 0; i < N; i++) {
  y[i] = r.int(C)
  for (let f = 0; f < F; f++) X[i * F + f] = centres[y[i]][f] + r.normal()
}

const W = new Float32Array(F * C) // weights, zero-initialised
const b = new Float32Array(C)
const logits = tensor(new Float32Array(N * C), [N, C])
const lr = 0.1

function forward() {
  const z = logits.data
  for (let i = 0; i < N; i++) {
    for (let c = 0; c < C; c++) {
      let s = b[c]
      for (let f = 0; f < F; f++) s += X[i * F + f] * W[f * C + c]
      z[i * C + c] = s
    }
  }
}

function accuracy() {
  forward()
  let ok = 0
  for (let i = 0; i < N; i++) {
    let best = 0
    for (let c = 1; c < C; c++) if (logits.data[i * C + c] > logits.data[i * C + best]) best = c
    if (best === y[i]) ok++
  }
  return ok / N
}

for (let epoch = 0; epoch <= 50; epoch++) {
  forward()
  // gradOut = the logits' own buffer: dL/dlogits overwrites the logits.
  const { loss, grad } = crossEntropyWithGrad(logits, y, { gradOut: logits.data })
  const g = grad.data
  for (let f = 0; f < F; f++) {
    for (let c = 0; c < C; c++) {
      let s = 0
      for (let i = 0; i < N; i++) s += X[i * F + f] * g[i * C + c]
      W[f * C + c] -= lr * s
    }
  }
  for (let c = 0; c < C; c++) {
    let s = 0
    for (let i = 0; i < N; i++) s += g[i * C + c]
    b[c] -= lr * s
  }
  if (epoch % 10 === 0) console.log(`epoch ${String(epoch).padStart(2)}  loss ${loss.toFixed(4)}`)
}
const acc = accuracy()
console.log(`training accuracy ${(100 * acc).toFixed(1)}%`)
if (!(acc > 0.9)) process.exitCode = 1
