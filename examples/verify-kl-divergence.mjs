// The seed's second verification script, with losskit:
// KLDivLoss(log q, p) with 'sum' equals −H(p) + CrossEntropy(logits, p).
import { crossEntropy, entropy, KLDivLoss, softmax } from 'losskit'
import { rng } from './_random.mjs'

const r = rng(2)
const nClass = 10
const kldivLossFn = new KLDivLoss({ reduction: 'sum' })

const logits = Float64Array.from({ length: nClass }, r.normal)
const probs = softmax(logits, { dim: 0 }).data
const logProbs = probs.map(Math.log)

const target = Float64Array.from({ length: nClass }, r.uniform) // torch.rand((n_class,))
const total = target.reduce((a, b) => a + b, 0)
for (let i = 0; i < nClass; i++) target[i] /= total // target /= target.sum()

const targetEntropy = entropy(target) // Categorical(probs=target).entropy()
const kldiv = kldivLossFn.forward(logProbs, target)
const ce = crossEntropy(logits, target, { reduction: 'none' }) // unbatched: a number

console.log('KL(p || q):', kldiv, ' −H(p) + CE:', -targetEntropy + ce)
const close = Math.abs(kldiv - (-targetEntropy + ce)) <= 1e-8 + 1e-5 * Math.abs(kldiv)
console.log('allclose:', close)
if (!close) process.exitCode = 1
