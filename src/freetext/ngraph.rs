//! Two per-n-graph statistical detectors: a robust distance with back-off to key classes, and
//! a likelihood ratio of the user's model against a background population.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::extract::{FreeTextSample, Observation, TimingKind};
use super::keys::{HashedMap, KeySecret, sorted_map};
use super::table::{Stat, Table};
use crate::detectors::Detector;
use crate::error::{Error, Result};
use crate::store::Rejection;

/// A free-text model whose score is the mean of independent per-timing contributions, so a
/// window of timings can be scored incrementally.
pub trait AdditiveDetector: Send + Sync {
    /// Fingerprint of the secret the model's n-graphs were hashed with.
    fn secret_fingerprint(&self) -> u64;

    /// Anomaly contribution of one timing; higher is more anomalous.
    fn contribution(&self, observation: &Observation) -> f64;
}

/// Checks that a sample was hashed with the model's secret.
pub(crate) fn check_fingerprint(model: u64, sample: u64) -> Result<()> {
    if model != sample {
        return Err(secret_mismatch(model, sample));
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn secret_mismatch(model: u64, sample: u64) -> Error {
    Error::KeySecretMismatch { model, sample }
}

/// Mean contribution over a sample's timings; a sample without timings is scored as maximally
/// anomalous by the caller's convention, here the model's `empty` value.
pub(crate) fn mean_contribution<D: AdditiveDetector + ?Sized>(
    model: &D,
    sample: &FreeTextSample,
    empty: f64,
) -> Result<f64> {
    check_fingerprint(model.secret_fingerprint(), sample.secret_fingerprint)?;
    if sample.observations.is_empty() {
        // `empty` comes from the model, which may be a corrupt decoded one.
        return crate::detectors::finite_score(empty);
    }
    let sum: f64 = sample
        .observations
        .iter()
        .map(|o| model.contribution(o))
        .sum();
    crate::detectors::finite_score(sum / sample.observations.len() as f64)
}

/// Floor on a scale in milliseconds: browser timers have 1 ms resolution, so a spread below a
/// few ms is quantisation, not consistency.
const MIN_SCALE_MS: f64 = 4.0;

/// Robust per-n-graph distance.
///
/// For each timing, the model uses the finest level with at least `min_count` enrolment
/// timings (exact n-graph, then key-class n-graph, then timing kind) and adds
/// `min(|x - median| / scale, cap)`, where `scale` is the mean absolute deviation floored at
/// 4 ms. The score is the mean over the sample's timings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "NgraphRobustFields")]
pub struct NgraphRobust {
    fingerprint: u64,
    table: Table,
    min_count: u32,
    cap: f64,
}

/// The serialised fields of an [`NgraphRobust`], before the check of `cap`. The table's
/// statistics check themselves as they decode.
#[derive(Deserialize)]
struct NgraphRobustFields {
    fingerprint: u64,
    table: Table,
    min_count: u32,
    cap: f64,
}

impl TryFrom<NgraphRobustFields> for NgraphRobust {
    type Error = Rejection;

    fn try_from(f: NgraphRobustFields) -> Result<Self, Rejection> {
        check_limit("cap", f.cap)?;
        Ok(NgraphRobust {
            fingerprint: f.fingerprint,
            table: f.table,
            min_count: f.min_count,
            cap: f.cap,
        })
    }
}

impl NgraphRobust {
    /// Default back-off threshold: an n-graph needs this many enrolment timings to be used.
    pub const MIN_COUNT: u32 = 3;
    /// Default cap on one timing's contribution, so one outlier cannot dominate the mean.
    pub const CAP: f64 = 5.0;

    /// Fits the model on a user's enrolment samples.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTrainingData`] when there are no timings, or
    /// [`Error::KeySecretMismatch`] when a sample was hashed with another secret.
    pub fn fit(samples: &[FreeTextSample], secret: &KeySecret) -> Result<Self> {
        check_samples(samples, secret)?;
        Ok(NgraphRobust {
            fingerprint: secret.fingerprint(),
            table: Table::fit(samples),
            min_count: Self::MIN_COUNT,
            cap: Self::CAP,
        })
    }
}

impl NgraphRobust {
    /// Returns this model with its per-n-graph statistics moved toward `session`'s by the
    /// fraction `rate`; n-graphs this model lacks are not added.
    ///
    /// # Errors
    ///
    /// [`Error::KeySecretMismatch`] when the two models were hashed with different secrets.
    pub fn moved_toward(&self, session: &NgraphRobust, rate: f64) -> Result<NgraphRobust> {
        check_fingerprint(self.fingerprint, session.fingerprint)?;
        Ok(NgraphRobust {
            table: self.table.moved_toward(&session.table, rate),
            ..self.clone()
        })
    }
}

pub(crate) fn check_samples(samples: &[FreeTextSample], secret: &KeySecret) -> Result<()> {
    for s in samples {
        check_fingerprint(secret.fingerprint(), s.secret_fingerprint)?;
    }
    if samples.iter().all(|s| s.observations.is_empty()) {
        return Err(Error::training("the enrolment samples contain no timings"));
    }
    Ok(())
}

impl AdditiveDetector for NgraphRobust {
    fn secret_fingerprint(&self) -> u64 {
        self.fingerprint
    }

    #[inline]
    fn contribution(&self, o: &Observation) -> f64 {
        let s = self.table.lookup(o, self.min_count);
        if s.n == 0 {
            return self.cap;
        }
        ((o.value_ms - s.median).abs() / s.spread.max(MIN_SCALE_MS)).min(self.cap)
    }
}

impl Detector<FreeTextSample> for NgraphRobust {
    fn score(&self, sample: &FreeTextSample) -> Result<f64> {
        mean_contribution(self, sample, self.cap)
    }
}

/// The scale on which [`NgraphRatio`] models timings.
///
/// Keystroke timings are right-skewed: a slow typist's latencies spread more in milliseconds
/// than a fast typist's. `Asinh` models `asinh(x / knee_ms)` instead of `x`, which is close to
/// `ln(2x / knee_ms)` for `x` well above the knee (so spread becomes relative) and linear near
/// zero, so the negative release-to-press latencies of rollover stay defined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TimingScale {
    /// Timings in milliseconds.
    Linear,
    /// `asinh(x / knee_ms)` of a timing `x` in milliseconds.
    Asinh {
        /// Timing in milliseconds below which the transform is close to linear.
        knee_ms: f64,
    },
}

impl TimingScale {
    /// Validates the scale.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when the knee is not a positive finite number.
    pub fn check(&self) -> Result<()> {
        match *self {
            TimingScale::Linear => Ok(()),
            TimingScale::Asinh { knee_ms } if knee_ms.is_finite() && knee_ms > 0.0 => Ok(()),
            TimingScale::Asinh { knee_ms } => Err(Error::InvalidParameter {
                name: "knee_ms",
                value: knee_ms.to_string(),
                expected: "a positive finite number of milliseconds",
            }),
        }
    }

    /// Maps a timing in milliseconds to this scale.
    #[inline]
    pub fn apply(self, x_ms: f64) -> f64 {
        match self {
            TimingScale::Linear => x_ms,
            TimingScale::Asinh { knee_ms } => (x_ms / knee_ms).asinh(),
        }
    }

    /// Floor on a scale parameter around `location` (a value on this scale): the 4 ms timer
    /// floor carried through the transform's derivative at that point (delta method).
    #[inline]
    fn floor(self, location: f64) -> f64 {
        match self {
            TimingScale::Linear => MIN_SCALE_MS,
            // d asinh(x / c) / dx = 1 / (c cosh(asinh(x / c))).
            TimingScale::Asinh { knee_ms } => MIN_SCALE_MS / (knee_ms * location.cosh()),
        }
    }
}

/// Timing statistics of a population disjoint from the users being scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "BackgroundFields")]
pub struct Background {
    fingerprint: u64,
    scale: TimingScale,
    table: Table,
}

/// The serialised fields of a [`Background`], before the check of its scale.
#[derive(Deserialize)]
struct BackgroundFields {
    fingerprint: u64,
    scale: TimingScale,
    table: Table,
}

impl TryFrom<BackgroundFields> for Background {
    type Error = Rejection;

    fn try_from(f: BackgroundFields) -> Result<Self, Rejection> {
        f.scale.check().map_err(|e| e.to_string())?;
        Ok(Background {
            fingerprint: f.fingerprint,
            scale: f.scale,
            table: f.table,
        })
    }
}

impl Background {
    /// Fits the background on samples of other people, with timings in milliseconds.
    ///
    /// # Errors
    ///
    /// As [`NgraphRobust::fit`].
    pub fn fit(samples: &[FreeTextSample], secret: &KeySecret) -> Result<Self> {
        Background::fit_scaled(samples, secret, TimingScale::Linear)
    }

    /// Fits the background with timings mapped to `scale`; every [`NgraphRatio`] fitted
    /// against it models timings on that scale.
    ///
    /// # Errors
    ///
    /// As [`NgraphRobust::fit`], and [`Error::InvalidParameter`] for an invalid scale.
    pub fn fit_scaled(
        samples: &[FreeTextSample],
        secret: &KeySecret,
        scale: TimingScale,
    ) -> Result<Self> {
        scale.check()?;
        check_samples(samples, secret)?;
        Ok(Background {
            fingerprint: secret.fingerprint(),
            scale,
            table: Table::fit_mapped(samples, |x| scale.apply(x)),
        })
    }

    /// The scale the background's timings are modelled on.
    pub fn scale(&self) -> TimingScale {
        self.scale
    }

    #[cfg(test)]
    pub(crate) fn table(&self) -> &Table {
        &self.table
    }
}

/// Laplace location and scale of a timing under the user's and the background's model.
///
/// Decoding rejects a location that is not finite and a scale that is not a positive finite
/// number, because [`Pair::log_ratio`] divides by the scales.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PairFields")]
struct Pair {
    user_median: f64,
    user_scale: f64,
    background_median: f64,
    background_scale: f64,
}

/// The serialised fields of a [`Pair`], before the range check.
#[derive(Deserialize)]
struct PairFields {
    user_median: f64,
    user_scale: f64,
    background_median: f64,
    background_scale: f64,
}

impl TryFrom<PairFields> for Pair {
    type Error = Rejection;

    fn try_from(f: PairFields) -> Result<Self, Rejection> {
        let locations = [f.user_median, f.background_median];
        let scales = [f.user_scale, f.background_scale];
        if !locations.iter().all(|v| v.is_finite())
            || !scales.iter().all(|v| v.is_finite() && *v > 0.0)
        {
            return Err(Rejection::from(format!(
                "Laplace pair has medians {locations:?} and scales {scales:?}; medians must be \
                 finite and scales positive and finite"
            )));
        }
        Ok(Pair {
            user_median: f.user_median,
            user_scale: f.user_scale,
            background_median: f.background_median,
            background_scale: f.background_scale,
        })
    }
}

impl Pair {
    #[inline]
    fn log_ratio(&self, x: f64, clip: f64) -> f64 {
        // log p_bg(x) - log p_user(x) for Laplace densities.
        let bg = -(2.0 * self.background_scale).ln()
            - (x - self.background_median).abs() / self.background_scale;
        let user = -(2.0 * self.user_scale).ln() - (x - self.user_median).abs() / self.user_scale;
        (bg - user).clamp(-clip, clip)
    }
}

/// Likelihood ratio of a background population's model against the user's.
///
/// Each timing gets a Laplace density under the background (finest level with at least
/// `MIN_BACKGROUND` timings) and under the user. The user's parameters are the background's
/// adapted to the user's enrolment timings by maximum a posteriori weighting, as in GMM-UBM
/// speaker verification: `(n * user + r * background) / (n + r)` with relevance `r`. An
/// n-graph the user never typed keeps the background's shape, shifted by the user's offset
/// at the key-class level. The contribution is `log p_bg(x) - log p_user(x)`, clipped to
/// +-`clip`, and the score is its mean. Timings are modelled on the background's
/// [`TimingScale`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "NgraphRatioFields")]
pub struct NgraphRatio {
    fingerprint: u64,
    background: Arc<Background>,
    #[serde(with = "sorted_map")]
    exact: HashedMap<Pair>,
    #[serde(with = "sorted_map")]
    class: HashedMap<Pair>,
    kind: [Pair; TimingKind::COUNT],
    clip: f64,
}

/// The serialised fields of an [`NgraphRatio`], before the check of `clip`. Each [`Pair`] and
/// the [`Background`] check themselves as they decode.
#[derive(Deserialize)]
struct NgraphRatioFields {
    fingerprint: u64,
    background: Arc<Background>,
    #[serde(with = "sorted_map")]
    exact: HashedMap<Pair>,
    #[serde(with = "sorted_map")]
    class: HashedMap<Pair>,
    kind: [Pair; TimingKind::COUNT],
    clip: f64,
}

impl TryFrom<NgraphRatioFields> for NgraphRatio {
    type Error = Rejection;

    fn try_from(f: NgraphRatioFields) -> Result<Self, Rejection> {
        check_limit("clip", f.clip)?;
        Ok(NgraphRatio {
            fingerprint: f.fingerprint,
            background: f.background,
            exact: f.exact,
            class: f.class,
            kind: f.kind,
            clip: f.clip,
        })
    }
}

/// Checks a decoded cap or clip: a positive finite number, as the constructors set.
fn check_limit(name: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "{name} is {value}; it must be a positive finite number"
        ))
    }
}

impl NgraphRatio {
    /// Relevance factor of the MAP adaptation, in timings.
    pub const RELEVANCE: f64 = 2.0;
    /// Timings a background level needs before it is used.
    pub const MIN_BACKGROUND: u32 = 5;
    /// Clip on one timing's log-likelihood ratio.
    pub const CLIP: f64 = 4.0;

    /// Fits the user's model against a background fitted with the same secret.
    ///
    /// # Errors
    ///
    /// As [`NgraphRobust::fit`]; also [`Error::KeySecretMismatch`] when the background used
    /// another secret.
    pub fn fit(
        samples: &[FreeTextSample],
        secret: &KeySecret,
        background: Arc<Background>,
    ) -> Result<Self> {
        NgraphRatio::fit_with(samples, secret, background, Self::RELEVANCE)
    }

    /// As [`NgraphRatio::fit`] with relevance factor `relevance` (in timings) in place of
    /// [`NgraphRatio::RELEVANCE`]: larger values keep the user's model closer to the
    /// background's.
    ///
    /// # Errors
    ///
    /// As [`NgraphRatio::fit`], and [`Error::InvalidParameter`] when `relevance` is negative
    /// or not finite.
    pub fn fit_with(
        samples: &[FreeTextSample],
        secret: &KeySecret,
        background: Arc<Background>,
        relevance: f64,
    ) -> Result<Self> {
        if !(relevance.is_finite() && relevance >= 0.0) {
            return Err(Error::InvalidParameter {
                name: "relevance",
                value: relevance.to_string(),
                expected: "a finite number of timings, 0 or more",
            });
        }
        check_samples(samples, secret)?;
        check_fingerprint(secret.fingerprint(), background.fingerprint)?;
        let scale = background.scale;
        let user = Table::fit_mapped(samples, |x| scale.apply(x));
        let bg = &background.table;
        let adapt =
            |u: Stat, location_scale: (f64, f64)| adapt_prior(u, location_scale, relevance, scale);
        let prior = |levels: &[Stat], u: Stat| finest_prior(levels, u, scale);
        let kind: [Pair; TimingKind::COUNT] =
            std::array::from_fn(|k| adapt(user.kind[k], prior(&[bg.kind[k]], user.kind[k])));
        let mut class: HashedMap<Pair> = HashedMap::default();
        let mut exact: HashedMap<Pair> = HashedMap::default();
        for o in samples.iter().flat_map(|s| &s.observations) {
            let k = bg.kind[o.kind as usize];
            let bg_class = bg.class.get(&o.class).copied().unwrap_or(Stat::EMPTY);
            class.entry(o.class).or_insert_with(|| {
                let u = user.class[&o.class];
                adapt(u, prior(&[bg_class, k], u))
            });
            exact.entry(o.ngraph).or_insert_with(|| {
                let u = user.exact[&o.ngraph];
                let bg_exact = bg.exact.get(&o.ngraph).copied().unwrap_or(Stat::EMPTY);
                adapt(u, prior(&[bg_exact, bg_class, k], u))
            });
        }
        Ok(NgraphRatio {
            fingerprint: secret.fingerprint(),
            background,
            exact,
            class,
            kind,
            clip: Self::CLIP,
        })
    }
}

/// Returns the finest background level with enough timings, else the user's own statistics.
/// The fallback makes the ratio uninformative rather than wrong.
fn finest_prior(levels: &[Stat], user: Stat, scale: TimingScale) -> (f64, f64) {
    let s = levels
        .iter()
        .find(|s| s.n >= NgraphRatio::MIN_BACKGROUND)
        .copied()
        .unwrap_or(user);
    (s.median, s.spread.max(scale.floor(s.median)))
}

/// MAP-adapts a background prior `(median, scale)` toward a user's statistics with relevance
/// `r`. With `r = 0` and `n = 0` the prior is kept.
fn adapt_prior(user: Stat, (bm, bs): (f64, f64), r: f64, scale: TimingScale) -> Pair {
    let n = f64::from(user.n);
    let (um, us) = if n + r > 0.0 {
        (
            (n * user.median + r * bm) / (n + r),
            (n * user.spread + r * bs) / (n + r),
        )
    } else {
        (bm, bs)
    };
    let us = us.max(scale.floor(um));
    Pair {
        user_median: um,
        user_scale: us,
        background_median: bm,
        background_scale: bs,
    }
}

impl AdditiveDetector for NgraphRatio {
    fn secret_fingerprint(&self) -> u64 {
        self.fingerprint
    }

    #[inline]
    fn contribution(&self, o: &Observation) -> f64 {
        let x = self.background.scale.apply(o.value_ms);
        if let Some(p) = self.exact.get(&o.ngraph) {
            return p.log_ratio(x, self.clip);
        }
        let coarse = self
            .class
            .get(&o.class)
            .unwrap_or(&self.kind[o.kind as usize]);
        let bg = &self.background.table;
        match bg
            .exact
            .get(&o.ngraph)
            .filter(|s| s.n >= Self::MIN_BACKGROUND)
        {
            // The user never typed this n-graph: keep the population's shape for it, shifted
            // by how far the user sits from the population at the coarser level.
            Some(s) => {
                let bm = s.median;
                let bs = s.spread.max(self.background.scale.floor(bm));
                let shifted = Pair {
                    user_median: bm + coarse.user_median - coarse.background_median,
                    user_scale: bs * coarse.user_scale / coarse.background_scale,
                    background_median: bm,
                    background_scale: bs,
                };
                shifted.log_ratio(x, self.clip)
            }
            None => coarse.log_ratio(x, self.clip),
        }
    }
}

impl Detector<FreeTextSample> for NgraphRatio {
    fn score(&self, sample: &FreeTextSample) -> Result<f64> {
        mean_contribution(self, sample, self.clip)
    }
}

#[cfg(test)]
mod decode_tests {
    use super::*;
    use crate::limits::reencode;

    fn table() -> Table {
        let mut exact = HashedMap::default();
        exact.insert(
            11,
            Stat {
                n: 4,
                median: 100.0,
                spread: 10.0,
            },
        );
        let kind = [Stat {
            n: 9,
            median: 90.0,
            spread: 12.0,
        }; TimingKind::COUNT];
        Table {
            exact,
            class: HashedMap::default(),
            kind,
        }
    }

    fn robust(table: Table, cap: f64) -> NgraphRobust {
        NgraphRobust {
            fingerprint: 3,
            table,
            min_count: 3,
            cap,
        }
    }

    fn pair(user_scale: f64) -> Pair {
        Pair {
            user_median: 100.0,
            user_scale,
            background_median: 110.0,
            background_scale: 20.0,
        }
    }

    fn ratio(background: Background, kind: Pair, clip: f64) -> NgraphRatio {
        NgraphRatio {
            fingerprint: 3,
            background: Arc::new(background),
            exact: HashedMap::default(),
            class: HashedMap::default(),
            kind: [kind; TimingKind::COUNT],
            clip,
        }
    }

    fn background(scale: TimingScale) -> Background {
        Background {
            fingerprint: 3,
            scale,
            table: table(),
        }
    }

    fn assert_invalid<T: std::fmt::Debug>(result: Result<T>) {
        let error = result.unwrap_err();
        assert!(matches!(error, Error::InvalidModel { .. }), "{error}");
    }

    #[test]
    fn valid_models_decode() -> Result<()> {
        let model = robust(table(), NgraphRobust::CAP);
        assert_eq!(reencode(&model)?, model);
        let model = ratio(
            background(TimingScale::Linear),
            pair(15.0),
            NgraphRatio::CLIP,
        );
        assert_eq!(reencode(&model)?, model);
        Ok(())
    }

    #[test]
    fn decode_rejects_bad_statistics() {
        for (median, spread) in [(f64::NAN, 1.0), (1.0, f64::INFINITY), (1.0, -1.0)] {
            let mut bad = table();
            bad.kind[2] = Stat {
                n: 1,
                median,
                spread,
            };
            assert_invalid(reencode(&robust(bad, NgraphRobust::CAP)));
        }
    }

    #[test]
    fn decode_rejects_bad_cap_and_clip() {
        for limit in [f64::NAN, 0.0, -1.0, f64::INFINITY] {
            assert_invalid(reencode(&robust(table(), limit)));
            let model = ratio(background(TimingScale::Linear), pair(15.0), limit);
            assert_invalid(reencode(&model));
        }
    }

    #[test]
    fn decode_rejects_bad_pair_and_scale() {
        for scale in [0.0, -3.0, f64::NAN] {
            let model = ratio(
                background(TimingScale::Linear),
                pair(scale),
                NgraphRatio::CLIP,
            );
            assert_invalid(reencode(&model));
        }
        let knee = TimingScale::Asinh { knee_ms: 0.0 };
        assert_invalid(reencode(&background(knee)));
        let model = ratio(background(knee), pair(15.0), NgraphRatio::CLIP);
        assert_invalid(reencode(&model));
    }
}
