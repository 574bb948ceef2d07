//! Close-packed dimers on the L×L torus (L even): bit-plane configurations, directed-loop
//! (worm) updates for the uniform and the interacting model E = v·N_∥, multi-spin-coded
//! plaquette flips, observables, the decorated (noise-spin) array of ALGORITHM.md §3.3,
//! and plain reference implementations of every update.
//!
//! Conventions (as in `shared/reference/dimer_exact.json`): sites (x, y), x = column,
//! y = row; `h(x,y)` is a dimer on the link (x,y)–(x+1,y), `v(x,y)` a dimer on the link
//! (x,y)–(x,y+1), both periodic. A plane stores bit `y·L + x` in word `(y·L + x) / 64`,
//! bit `(y·L + x) % 64`.

pub mod decorated;
pub mod lattice;
pub mod observables;
pub mod plaquette;
pub mod reference;
pub mod worm;
