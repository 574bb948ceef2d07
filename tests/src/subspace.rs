//! Principal angles between small subspaces of filters (the learned-filter checks of the
//! dimer tests: learned filters against span{Ē_x, Ē_y}, span{C_x, C_y}, …).

/// Σ_i a_i b_i.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(p, q)| p * q).sum()
}

/// Orthonormal basis (Gram–Schmidt, twice for stability) of the span of `vs`; panics on a
/// degenerate set.
pub fn orthonormal(vs: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut out: Vec<Vec<f64>> = Vec::new();
    for v in vs {
        let mut w = v.clone();
        for _ in 0..2 {
            for q in &out {
                let d = dot(&w, q);
                for (x, y) in w.iter_mut().zip(q) {
                    *x -= d * y;
                }
            }
        }
        let n = dot(&w, &w).sqrt();
        assert!(n > 1e-9, "degenerate filter set");
        out.push(w.iter().map(|x| x / n).collect());
    }
    out
}

/// Cosines of the two principal angles between two 2-dimensional subspaces: the singular
/// values of the 2×2 matrix M = Qaᵀ Qb (closed form: s1² + s2² = ‖M‖_F², s1 s2 = |det M|),
/// largest first.
pub fn principal_cosines(a: &[Vec<f64>], b: &[Vec<f64>]) -> [f64; 2] {
    let (qa, qb) = (orthonormal(a), orthonormal(b));
    let m = [
        [dot(&qa[0], &qb[0]), dot(&qa[0], &qb[1])],
        [dot(&qa[1], &qb[0]), dot(&qa[1], &qb[1])],
    ];
    let f = m[0][0].powi(2) + m[0][1].powi(2) + m[1][0].powi(2) + m[1][1].powi(2);
    let det = (m[0][0] * m[1][1] - m[0][1] * m[1][0]).abs();
    let disc = (f * f - 4.0 * det * det).max(0.0).sqrt();
    [
        ((f + disc) / 2.0).sqrt(),
        ((f - disc) / 2.0).max(0.0).sqrt(),
    ]
}
