// The seed's first verification script, with losskit:
// CrossEntropyLoss(logits, t) equals NLLLoss(LogSoftmax(logits), t).
//
//   ce_loss_fn = torch.nn.CrossEntropyLoss(reduction='none')
//   nll_loss_fn = torch.nn.NLLLoss(reduction='none')
//   log_softmax_fn = torch.nn.LogSoftmax(dim=0)
import { CrossEntropyLoss, logSoftmax, NLLLoss } from 'losskit'
import { rng } from './_random.mjs'

const r = rng(1)
const ceLossFn = new CrossEntropyLoss({ reduction: 'none' })
const nllLossFn = new NLLLoss({ reduction: 'none' })

const nClass = 10
const logits = Float32Array.from({ length: nClass }, r.normal) // torch.randn((n_class,))
const logProb = logSoftmax(logits, { dim: 0 })
const target = r.int(nClass) // torch.randint(0, n_class, []): a scalar

const ceLoss = ceLossFn.forward(logits, target) // unbatched 'none': a number
const nllLoss = nllLossFn.forward(logProb, target)

console.log('cross entropy:', ceLoss, ' nll(log_softmax):', nllLoss)
const close = Math.abs(ceLoss - nllLoss) <= 1e-8 + 1e-5 * Math.abs(nllLoss) // torch.allclose defaults
console.log('allclose:', close)
if (!close) process.exitCode = 1
