/**
 * `losskit/async`: the functional API of `losskit`, each function returning a
 * Promise. The event loop stays responsive during a large batch, and many
 * calls in flight cost what the same calls cost one after another.
 *
 * How it works: nothing is copied. A call on an input of at least 64 K
 * elements becomes a time-sliced job. Its kernel — the sync API's, with its
 * threads — runs for at most one slice (8 ms by default; `setAsyncSlice(ms)`
 * or `LOSSKIT_ASYNC_SLICE_MS`) per event-loop turn, and only while the
 * JavaScript thread waits for it, so no JavaScript can touch the buffers while
 * the kernel does. Between slices the event loop turns, and before each slice
 * every argument is checked to be the same memory. Calls in flight run one
 * after another, first come first served; a smaller call runs whole in the
 * next turn, ahead of the large ones. The memory held beyond the caller's
 * buffers and the results is the kernels' own small scratch (CTC: its α/β
 * rows) — it does not grow with the number of calls in flight. A large call's
 * fresh results are allocated when its turn comes, not when it is made.
 *
 * What a misbehaving caller gets (the SPEC says: do not write to the inputs
 * until the promise settles):
 * - writing to an input during the await: the result may reflect the old
 *   values, the new ones, or a mix — never a crash;
 * - transferring (detaching) or resizing an argument before the call has
 *   finished: the promise rejects with a `TypeError`
 *   (`ERR_INVALID_ARG_VALUE`) naming the function and the argument, and the
 *   kernel stops before touching it again;
 * - `out`/`gradOut` overlapping another argument is refused before any work,
 *   as in the sync API.
 *
 * Validation errors reject the promise with the same error classes and codes
 * as the sync API.
 *
 * @example
 * ```ts
 * import { crossEntropyWithGrad } from 'losskit/async'
 * const { loss, grad } = await crossEntropyWithGrad(logits, targets)
 * ```
 *
 * @packageDocumentation
 */

import {
  __impl,
  type CrossEntropyFunction,
  type CrossEntropyWithGradFunction,
  type DimOptions,
  type FloatArray,
  type LogitOptions,
  type NLLLossFunction,
  type NLLLossWithGradFunction,
  type OutOptions,
  type Tensor,
  type TensorLike,
} from './index'

export type * from './index'

const { classLoss, axisHelper, unary, optionsArg, ASYNC, asyncLosses, classKeys } = __impl

function cls(fn: string, nll: boolean, input: unknown, target: unknown, o: unknown, grad: boolean): never {
  const opts = optionsArg(fn, o, classKeys(nll, grad))
  return classLoss(fn, nll, input, target, opts, undefined, grad, opts.gradOutput, ASYNC) as never
}

// Typed by the sync functions' own overload interfaces (P = true: Promises),
// so the two APIs cannot drift. An async function rejects, never throws.

/** Async {@link import('./index').crossEntropy}. */
export const crossEntropy: CrossEntropyFunction<true> = async (input: unknown, target: unknown, options?: unknown) =>
  cls('crossEntropy', false, input, target, options, false)

/** Async {@link import('./index').crossEntropyWithGrad}. */
export const crossEntropyWithGrad: CrossEntropyWithGradFunction<true> = async (input: unknown, target: unknown, options?: unknown) =>
  cls('crossEntropyWithGrad', false, input, target, options, true)

/** Async {@link import('./index').nllLoss}. */
export const nllLoss: NLLLossFunction<true> = async (input: unknown, target: unknown, options?: unknown) =>
  cls('nllLoss', true, input, target, options, false)

/** Async {@link import('./index').nllLossWithGrad}. */
export const nllLossWithGrad: NLLLossWithGradFunction<true> = async (input: unknown, target: unknown, options?: unknown) =>
  cls('nllLossWithGrad', true, input, target, options, true)

/**
 * The declared losses (see `LOSSES` in `index.ts`), each typed from the same
 * generic signature as its sync form, returning a Promise.
 */
export const {
  klDiv,
  klDivWithGrad,
  binaryCrossEntropy,
  binaryCrossEntropyWithGrad,
  binaryCrossEntropyWithLogits,
  binaryCrossEntropyWithLogitsWithGrad,
  l1Loss,
  l1LossWithGrad,
  mseLoss,
  mseLossWithGrad,
  smoothL1Loss,
  smoothL1LossWithGrad,
  huberLoss,
  huberLossWithGrad,
  poissonNllLoss,
  poissonNllLossWithGrad,
  gaussianNllLoss,
  gaussianNllLossWithGrad,
  marginRankingLoss,
  marginRankingLossWithGrad,
  hingeEmbeddingLoss,
  hingeEmbeddingLossWithGrad,
  softMarginLoss,
  softMarginLossWithGrad,
  multilabelSoftMarginLoss,
  multilabelSoftMarginLossWithGrad,
  multilabelMarginLoss,
  multilabelMarginLossWithGrad,
  multiMarginLoss,
  multiMarginLossWithGrad,
  cosineEmbeddingLoss,
  cosineEmbeddingLossWithGrad,
  tripletMarginLoss,
  tripletMarginLossWithGrad,
  tripletMarginWithDistanceLoss,
  tripletMarginWithDistanceLossWithGrad,
  ctcLoss,
  ctcLossWithGrad,
} = asyncLosses

/** Async {@link import('./index').logSoftmax}. */
export async function logSoftmax<A extends FloatArray>(input: TensorLike<A>, options?: DimOptions<A>): Promise<Tensor<A>> {
  return axisHelper('logSoftmax', 'logSoftmax', input, options, ASYNC) as Promise<Tensor<A>>
}

/** Async {@link import('./index').softmax}. */
export async function softmax<A extends FloatArray>(input: TensorLike<A>, options?: DimOptions<A>): Promise<Tensor<A>> {
  return axisHelper('softmax', 'softmax', input, options, ASYNC) as Promise<Tensor<A>>
}

/** Async {@link import('./index').entropy}. */
export async function entropy<A extends FloatArray>(probs: TensorLike<A>, options?: DimOptions<A>): Promise<number | Tensor<A>> {
  return axisHelper('entropy', 'entropy', probs, options, ASYNC) as Promise<number | Tensor<A>>
}

/** Async {@link import('./index').sigmoid}. */
export async function sigmoid<A extends FloatArray>(input: A, options?: OutOptions<A>): Promise<Tensor<A>>
export async function sigmoid<A extends FloatArray>(input: Tensor<A>, options?: OutOptions<A>): Promise<Tensor<A> | number>
export async function sigmoid(input: unknown, options?: unknown): Promise<unknown> {
  return unary('sigmoid', input, options, false, ASYNC)
}

/** Async {@link import('./index').logit}. */
export async function logit<A extends FloatArray>(input: A, options?: LogitOptions<A>): Promise<Tensor<A>>
export async function logit<A extends FloatArray>(input: Tensor<A>, options?: LogitOptions<A>): Promise<Tensor<A> | number>
export async function logit(input: unknown, options?: unknown): Promise<unknown> {
  return unary('logit', input, options, true, ASYNC)
}

export { getAsyncSlice, getNumThreads, setAsyncSlice, setNumThreads, tensor } from './index'
