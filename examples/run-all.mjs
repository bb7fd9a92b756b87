// `npm run demo`: runs every example in turn and fails if any fails.
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const examples = [
  'verify-cross-entropy-nll.mjs',
  'verify-kl-divergence.mjs',
  'train-softmax-classifier.mjs',
  'train-binary-classifier.mjs',
  'fit-ctc-alignment.mjs',
  'score-model-output.mjs',
]
let failed = 0
for (const e of examples) {
  console.log(`\n=== examples/${e}`)
  const r = spawnSync(process.execPath, [join(here, e)], { stdio: 'inherit' })
  if (r.status !== 0) {
    failed++
    console.error(`*** examples/${e} failed (exit ${r.status})`)
  }
}
if (failed) process.exit(1)
console.log(`\nall ${examples.length} examples passed`)
