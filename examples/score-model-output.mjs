// Scores a language model's output with losskit: the logits come as an
// onnxruntime-node ort.Tensor, as `session.run()` returns them (dims
// [batch = 1, tokens, vocabulary]), and go straight into crossEntropy with
// reduction 'none' for the per-token negative log-likelihood, then perplexity.
// (A real session would be `await ort.InferenceSession.create('model.onnx')`;
// here the logits are made up so that the example needs no model file.)
import { crossEntropy } from 'losskit'
import * as ort from 'onnxruntime-node'

const T = 6
const V = 10
const next = [3, 1, 4, 1, 5, 9] // the tokens that actually came next
const raw = new Float32Array(T * V)
for (let t = 0; t < T; t++) {
  for (let v = 0; v < V; v++) raw[t * V + v] = Math.cos(t * 7 + v * 3) // a model's guesses
  raw[t * V + next[t]] += 2 - t * 0.3 // more confident early on
}
const logits = new ort.Tensor('float32', raw, [1, T, V]) // what session.run() gives
const labels = new ort.Tensor('int64', BigInt64Array.from(next, BigInt), [1, T])

// cross entropy takes (N, C): one row per token.
const nll = crossEntropy(logits.reshape([T, V]), labels.reshape([T]), { reduction: 'none' })
const mean = nll.data.reduce((s, v) => s + v, 0) / T
console.log('per-token NLL:', Array.from(nll.data, (v) => v.toFixed(3)).join(' '))
console.log(`mean NLL ${mean.toFixed(4)}, perplexity ${Math.exp(mean).toFixed(3)}`)
const check = crossEntropy(logits.reshape([T, V]), labels.reshape([T]))
if (Math.abs(check - mean) > 1e-6) throw new Error(`'mean' (${check}) differs from the mean of 'none' (${mean})`)
