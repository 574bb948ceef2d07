//! The RG stage of the pipeline: renormalised couplings (pseudo-likelihood), Swendsen's
//! linearised MCRG, and the RG flow with intrinsic thermometers.

pub mod couplings;
pub mod flow;
pub mod mcrg;
pub mod rule;
