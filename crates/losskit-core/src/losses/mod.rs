//! One file per loss: its kernel (value and gradient in one pass) and its
//! `run`, which the binding registers under the loss's name.

pub mod binary_cross_entropy;
pub mod binary_cross_entropy_with_logits;
pub mod cosine_embedding_loss;
pub mod ctc_lanes;
pub mod ctc_loss;
pub mod gaussian_nll_loss;
pub mod hinge_embedding_loss;
pub mod huber_loss;
pub mod kl_div;
pub mod l1_loss;
pub mod margin_ranking_loss;
pub mod mse_loss;
pub mod multi_margin_loss;
pub mod multilabel_margin_loss;
pub mod multilabel_soft_margin_loss;
pub mod poisson_nll_loss;
pub mod smooth_l1_loss;
pub mod soft_margin_loss;
pub mod triplet;
pub mod triplet_margin_loss;
pub mod triplet_margin_with_distance_loss;
