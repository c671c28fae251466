//! Gunetti and Picardi's R and A measures (D. Gunetti, C. Picardi, "Keystroke analysis of free
//! text", ACM TISSEC 8(3), 2005).
//!
//! Both compare the durations of n-graphs that two samples share, where an n-graph's duration
//! is the time from the press of its first key to the press of its last (digraph press-press
//! latency, trigraph duration). Repeated n-graphs are averaged. R measures how differently
//! the shared n-graphs are ordered by duration; A counts the shared n-graphs whose durations
//! differ by a ratio above 1.25. Here the user's enrolment samples are merged into one
//! profile, and R and A are averaged over digraphs and trigraphs.

use serde::{Deserialize, Serialize};

use super::extract::{FreeTextSample, TimingKind};
use super::keys::{HashedMap, KeySecret, sorted_map};
use super::ngraph::{check_fingerprint, check_samples};
use crate::detectors::Detector;
use crate::error::Result;
use crate::store::Rejection;

/// Gunetti-Picardi measure used by a [`GunettiPicardi`] model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GpMeasure {
    /// Relative measure: normalised rank disorder of the shared n-graphs' durations.
    Relative,
    /// Absolute measure: fraction of shared n-graphs whose duration ratio exceeds `t`.
    Absolute,
}

/// Duration ratio above which two n-graph durations count as different in the A measure,
/// the value Gunetti and Picardi use.
pub const A_RATIO: f64 = 1.25;

/// Mean duration per n-graph, digraphs and trigraphs separately.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ProfileFields")]
struct Profile {
    #[serde(with = "sorted_map")]
    digraphs: HashedMap<f64>,
    #[serde(with = "sorted_map")]
    trigraphs: HashedMap<f64>,
}

/// The serialised fields of a [`Profile`], before the check that every duration is finite.
#[derive(Deserialize)]
struct ProfileFields {
    #[serde(with = "sorted_map")]
    digraphs: HashedMap<f64>,
    #[serde(with = "sorted_map")]
    trigraphs: HashedMap<f64>,
}

impl TryFrom<ProfileFields> for Profile {
    type Error = Rejection;

    /// Rejects a NaN or infinite mean duration, which [`Profile::of`] never produces from
    /// finite timings and which would make the R measure's ranking and the A measure's ratio
    /// meaningless.
    fn try_from(fields: ProfileFields) -> Result<Self, Rejection> {
        for (name, map) in [
            ("digraph", &fields.digraphs),
            ("trigraph", &fields.trigraphs),
        ] {
            if let Some((key, value)) = map.iter().find(|(_, v)| !v.is_finite()) {
                return Err(Rejection::from(format!(
                    "{name} {key:016x} has mean duration {value}; durations must be finite"
                )));
            }
        }
        Ok(Profile {
            digraphs: fields.digraphs,
            trigraphs: fields.trigraphs,
        })
    }
}

impl Profile {
    fn of<'a>(samples: impl IntoIterator<Item = &'a FreeTextSample>) -> Profile {
        let mut sums: [HashedMap<(f64, u32)>; 2] = Default::default();
        for s in samples {
            for o in &s.observations {
                let slot = match o.kind {
                    TimingKind::PressPress => 0,
                    TimingKind::Trigraph => 1,
                    _ => continue,
                };
                let e = sums[slot].entry(o.ngraph).or_insert((0.0, 0));
                e.0 += o.value_ms;
                e.1 += 1;
            }
        }
        let [d, t] = sums.map(|m| {
            m.into_iter()
                .map(|(k, (s, n))| (k, s / f64::from(n)))
                .collect()
        });
        Profile {
            digraphs: d,
            trigraphs: t,
        }
    }
}

/// Shared n-graph durations as `(reference, sample)` pairs, in a fixed order.
fn shared(reference: &HashedMap<f64>, sample: &HashedMap<f64>) -> Vec<(f64, f64)> {
    let mut keys: Vec<u64> = sample
        .keys()
        .filter(|k| reference.contains_key(k))
        .copied()
        .collect();
    keys.sort_unstable();
    keys.iter().map(|k| (reference[k], sample[k])).collect()
}

/// Computes the R measure of paired durations: the sum over n-graphs of the distance between their ranks
/// in the two orderings, divided by the maximum possible sum (`n^2 / 2` for even `n`,
/// `(n^2 - 1) / 2` for odd). `None` with fewer than two shared n-graphs.
pub(crate) fn r_measure(pairs: &[(f64, f64)]) -> Option<f64> {
    let n = pairs.len();
    if n < 2 {
        return None;
    }
    let ranks = |pick: fn(&(f64, f64)) -> f64| -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        // Ties are broken by position, which is the n-graph hash order.
        order.sort_by(|&a, &b| pick(&pairs[a]).total_cmp(&pick(&pairs[b])).then(a.cmp(&b)));
        let mut rank = vec![0; n];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = r;
        }
        rank
    };
    let a = ranks(|p| p.0);
    let b = ranks(|p| p.1);
    let disorder: usize = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y)).sum();
    let max = if n.is_multiple_of(2) {
        n * n / 2
    } else {
        (n * n - 1) / 2
    };
    Some(disorder as f64 / max as f64)
}

/// Computes the A measure of paired durations: one minus the fraction of pairs whose larger duration is at
/// most `A_RATIO` times the smaller. `None` without shared n-graphs.
pub(crate) fn a_measure(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let similar = pairs
        .iter()
        .filter(|(x, y)| {
            let (lo, hi) = if x <= y { (*x, *y) } else { (*y, *x) };
            lo > 0.0 && hi / lo <= A_RATIO
        })
        .count();
    Some(1.0 - similar as f64 / pairs.len() as f64)
}

/// Gunetti and Picardi's R or A distance to a user's merged enrolment profile.
///
/// Scores lie in `[0, 1]`; a sample that shares too few n-graphs with the profile scores 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GunettiPicardi {
    fingerprint: u64,
    measure: GpMeasure,
    profile: Profile,
}

impl GunettiPicardi {
    /// Builds the user's profile from enrolment samples.
    ///
    /// # Errors
    ///
    /// As [`NgraphRobust::fit`](super::NgraphRobust::fit).
    pub fn fit(samples: &[FreeTextSample], secret: &KeySecret, measure: GpMeasure) -> Result<Self> {
        check_samples(samples, secret)?;
        Ok(GunettiPicardi {
            fingerprint: secret.fingerprint(),
            measure,
            profile: Profile::of(samples),
        })
    }
}

impl Detector<FreeTextSample> for GunettiPicardi {
    fn score(&self, sample: &FreeTextSample) -> Result<f64> {
        check_fingerprint(self.fingerprint, sample.secret_fingerprint)?;
        let test = Profile::of([sample]);
        let measure = match self.measure {
            GpMeasure::Relative => r_measure,
            GpMeasure::Absolute => a_measure,
        };
        let parts: Vec<f64> = [
            shared(&self.profile.digraphs, &test.digraphs),
            shared(&self.profile.trigraphs, &test.trigraphs),
        ]
        .iter()
        .filter_map(|pairs| measure(pairs))
        .collect();
        if parts.is_empty() {
            return Ok(1.0);
        }
        crate::detectors::finite_score(parts.iter().sum::<f64>() / parts.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::limits::decode_model;

    fn model(digraphs: HashedMap<f64>) -> GunettiPicardi {
        GunettiPicardi {
            fingerprint: 7,
            measure: GpMeasure::Relative,
            profile: Profile {
                digraphs,
                trigraphs: HashedMap::default(),
            },
        }
    }

    /// Found by the `freetext_decode` fuzz target: a map's iteration order depends on its
    /// capacity, so a model encoded from a large map and its decoded copy (sized for its
    /// entries) encoded the same entries in different orders.
    #[test]
    fn encoding_is_canonical() {
        let mut large = HashedMap::with_capacity_and_hasher(1024, Default::default());
        // With the pass-through hasher a key is its own hash: 32 and 1 share no low bits
        // with 1024 buckets, but 32 falls in bucket 0 of a small table.
        large.insert(32, 120.0);
        large.insert(1, 80.0);
        let bytes = postcard::to_allocvec(&model(large)).unwrap();
        let decoded: GunettiPicardi = decode_model(&bytes).unwrap();
        assert_eq!(postcard::to_allocvec(&decoded).unwrap(), bytes);
        let mut small = HashedMap::default();
        small.insert(32, 120.0);
        small.insert(1, 80.0);
        assert_eq!(postcard::to_allocvec(&model(small)).unwrap(), bytes);
    }

    #[test]
    fn decode_rejects_non_finite_duration() {
        let mut digraphs = HashedMap::default();
        digraphs.insert(5, f64::NAN);
        let bytes = postcard::to_allocvec(&model(digraphs)).unwrap();
        let error = decode_model::<GunettiPicardi>(&bytes).unwrap_err();
        assert!(matches!(error, Error::InvalidModel { .. }), "{error}");
    }

    #[test]
    fn decode_rejects_duplicate_ngraph() {
        let mut digraphs = HashedMap::default();
        digraphs.insert(5, 100.0);
        digraphs.insert(6, 110.0);
        let mut bytes = postcard::to_allocvec(&model(digraphs)).unwrap();
        // Layout: fingerprint varint (7), measure (0), digraph count (2), then entries of a
        // key varint and 8 bytes. Rewriting the second key to 5 duplicates the first.
        assert_eq!(&bytes[..4], &[7, 0, 2, 5]);
        assert_eq!(bytes[12], 6);
        bytes[12] = 5;
        let error = decode_model::<GunettiPicardi>(&bytes).unwrap_err();
        assert!(matches!(error, Error::InvalidModel { .. }), "{error}");
    }

    #[test]
    fn r_measure_of_reversed_order_is_one() {
        // Four n-graphs in opposite orders: ranks 0..3 vs 3..0, disorder 3+1+1+3 = 8 = 4^2/2.
        let pairs = [(1.0, 4.0), (2.0, 3.0), (3.0, 2.0), (4.0, 1.0)];
        assert_eq!(r_measure(&pairs), Some(1.0));
    }

    #[test]
    fn r_measure_of_same_order_is_zero() {
        let pairs = [(1.0, 10.0), (2.0, 20.0), (3.0, 30.0)];
        assert_eq!(r_measure(&pairs), Some(0.0));
        assert_eq!(r_measure(&pairs[..1]), None);
    }

    #[test]
    fn r_measure_odd_normaliser() {
        // Ranks (0,1,2) vs (2,1,0): disorder 4 = (3^2 - 1) / 2.
        let pairs = [(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)];
        assert_eq!(r_measure(&pairs), Some(1.0));
    }

    #[test]
    fn a_measure_counts_ratios_above_threshold() {
        // 100 vs 125 is similar (ratio exactly 1.25); 100 vs 130 and 100 vs 50 are not.
        let pairs = [(100.0, 125.0), (100.0, 130.0), (100.0, 50.0), (80.0, 90.0)];
        assert_eq!(a_measure(&pairs), Some(0.5));
        assert_eq!(a_measure(&[]), None);
    }
}
