//! Learning the coarse-graining rule P_Λ(H|V) by maximising I(H:E) (docs/method.md):
//! block/buffer/environment geometry, the rule and its exact gradients, the MI
//! estimators (`exact`, `im`, `infonce`, `rbm`), the Adam step, and the `f32x8` kernels beside their
//! scalar references.

pub mod adam;
pub mod exact;
pub mod geometry;
pub mod im;
pub mod infonce;
pub mod kernels;
pub mod rbm;
pub mod rule;
