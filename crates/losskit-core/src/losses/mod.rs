//! One file per loss: its kernel (value and gradient in one pass) and its
//! `run`, which the binding registers under the loss's name.

pub mod binary_cross_entropy;
pub mod binary_cross_entropy_with_logits;
pub mod gaussian_nll_loss;
pub mod huber_loss;
pub mod kl_div;
pub mod l1_loss;
pub mod mse_loss;
pub mod poisson_nll_loss;
pub mod smooth_l1_loss;
