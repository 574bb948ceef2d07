//! Provenance recorded in every output: versions, git revision, SIMD level, stream scheme.

use serde_json::{Value, json};

/// Git revision the binary was built from (`unknown` outside a git checkout).
pub const GIT_REVISION: &str = env!("RSMI_GIT_REVISION");

/// SIMD level of this build (decided at compile time by `wide`).
pub fn simd_level() -> &'static str {
    rsmi_core::simd_level()
}

/// True when the CPU running us has AVX2 but this binary was built without it.
pub fn avx2_unused() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && !cfg!(target_feature = "avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The warning printed when [`avx2_unused`] holds.
pub const AVX2_WARNING: &str = "warning: this CPU has AVX2 but rsmi was built without it; \
    u64x4 kernels run as two SSE2 halves. Rebuild with RUSTFLAGS=\"-C target-cpu=x86-64-v3\" \
    (or target-cpu=native) for full speed; results are bit-identical either way.";

/// Build information as JSON.
pub fn build_info() -> Value {
    json!({
        "crate": "rsmi",
        "version": env!("CARGO_PKG_VERSION"),
        "core_version": rsmi_core::VERSION,
        "git_revision": GIT_REVISION,
        "simd": simd_level(),
        "target_arch": std::env::consts::ARCH,
    })
}
