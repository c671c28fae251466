//! Published figures that the replays compare against.

/// One detector's row of the DSN-2009 results table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PublishedRow {
    /// kinetype's detector name.
    pub detector: &'static str,
    /// Mean equal-error rate over the 51 subjects.
    pub eer_mean: f64,
    /// Standard deviation of the per-subject equal-error rates.
    pub eer_sd: f64,
    /// Mean zero-miss false-alarm rate.
    pub zero_miss_far_mean: f64,
    /// Standard deviation of the zero-miss false-alarm rate.
    pub zero_miss_far_sd: f64,
}

/// Killourhy & Maxion, "Comparing Anomaly-Detection Algorithms for Keystroke Dynamics",
/// DSN 2009, Table 2, on DSL-StrongPasswordData.
///
/// Mean EERs are given to four decimals as independent reimplementations reproduce them; the
/// standard deviations and zero-miss false-alarm rates are the table's three-decimal values.
///
/// NOTE: the standard deviations and zero-miss rates were transcribed from the paper by hand
/// and have not been checked against a second source.
pub const DSN2009: [PublishedRow; 14] = [
    row("manhattan-scaled", 0.0962, 0.069, 0.468, 0.272),
    row("nearest-neighbor-mahalanobis", 0.0996, 0.064, 0.468, 0.274),
    row("outlier-count", 0.1022, 0.077, 0.782, 0.223),
    row("one-class-svm", 0.1025, 0.065, 0.504, 0.276),
    row("mahalanobis", 0.1101, 0.065, 0.482, 0.273),
    row("mahalanobis-normed", 0.1101, 0.065, 0.482, 0.273),
    row("manhattan-filtered", 0.1360, 0.083, 0.548, 0.268),
    row("manhattan", 0.1529, 0.092, 0.601, 0.271),
    row("neural-network-auto-assoc", 0.1614, 0.080, 0.859, 0.207),
    row("euclidean", 0.1706, 0.095, 0.875, 0.179),
    row("euclidean-normed", 0.2153, 0.119, 0.911, 0.137),
    row("fuzzy-logic", 0.2213, 0.105, 0.935, 0.145),
    row("k-means", 0.3722, 0.139, 1.000, 0.000),
    row("neural-network-standard", 0.8283, 0.148, 1.000, 0.000),
];

const fn row(
    detector: &'static str,
    eer_mean: f64,
    eer_sd: f64,
    zero_miss_far_mean: f64,
    zero_miss_far_sd: f64,
) -> PublishedRow {
    PublishedRow {
        detector,
        eer_mean,
        eer_sd,
        zero_miss_far_mean,
        zero_miss_far_sd,
    }
}

/// The published DSN-2009 row for a detector, if it has one.
pub fn dsn2009(detector: &str) -> Option<&'static PublishedRow> {
    DSN2009.iter().find(|r| r.detector == detector)
}
