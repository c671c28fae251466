//! The criterion configuration every bench file uses, so that all figures in BENCHMARKS.md
//! come from the same sampling settings.

use std::time::Duration;

use criterion::Criterion;

/// 50 samples after a 1 s warm-up, over about 3 s of measurement per benchmark. Benches whose
/// single iteration takes longer lower the sample size in their own group.
pub(crate) fn config() -> Criterion {
    Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}
