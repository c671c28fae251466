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
}

/// Killourhy & Maxion, "Comparing Anomaly-Detection Algorithms for Keystroke Dynamics",
/// DSN 2009, Table 2, on DSL-StrongPasswordData.
///
/// Mean EERs are given to four decimals as independent reimplementations reproduce them; the
/// standard deviations are the table's three-decimal values.
///
/// NOTE: the standard deviations were transcribed from the paper by hand. The ten detectors
/// that kinetype reproduces to four decimals also match them to three, which cross-checks
/// those ten; the other four are unchecked. The paper's zero-miss false-alarm rates are not
/// listed because they could not be checked against a second source.
pub const DSN2009: [PublishedRow; 14] = [
    row("manhattan-scaled", 0.0962, 0.069),
    row("nearest-neighbor-mahalanobis", 0.0996, 0.064),
    row("outlier-count", 0.1022, 0.077),
    row("one-class-svm", 0.1025, 0.065),
    row("mahalanobis", 0.1101, 0.065),
    row("mahalanobis-normed", 0.1101, 0.065),
    row("manhattan-filtered", 0.1360, 0.083),
    row("manhattan", 0.1529, 0.092),
    row("neural-network-auto-assoc", 0.1614, 0.080),
    row("euclidean", 0.1706, 0.095),
    row("euclidean-normed", 0.2153, 0.119),
    row("fuzzy-logic", 0.2213, 0.105),
    row("k-means", 0.3722, 0.139),
    row("neural-network-standard", 0.8283, 0.148),
];

const fn row(detector: &'static str, eer_mean: f64, eer_sd: f64) -> PublishedRow {
    PublishedRow {
        detector,
        eer_mean,
        eer_sd,
    }
}

/// The published DSN-2009 row for a detector, if it has one.
pub fn dsn2009(detector: &str) -> Option<&'static PublishedRow> {
    DSN2009.iter().find(|r| r.detector == detector)
}
