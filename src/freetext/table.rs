//! Per-n-graph timing statistics at three levels: exact n-graph, key-class n-graph, and timing
//! kind. Shared by the statistical detectors.

use serde::{Deserialize, Serialize};

use super::extract::{FreeTextSample, Observation, TimingKind};
use super::keys::{HashedMap, sorted_map};
use crate::store::Rejection;

/// Robust location and scale of one group of timings.
///
/// Decoding rejects a median or spread that is not finite and a negative spread, which
/// [`Stat::of`] never produces from finite timings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StatFields")]
pub(crate) struct Stat {
    /// Number of timings.
    pub(crate) n: u32,
    /// Median in milliseconds.
    pub(crate) median: f64,
    /// Mean absolute deviation from the median in milliseconds (the maximum-likelihood
    /// Laplace scale), before any floor.
    pub(crate) spread: f64,
}

/// The serialised fields of a [`Stat`], before the range check.
#[derive(Deserialize)]
struct StatFields {
    n: u32,
    median: f64,
    spread: f64,
}

impl TryFrom<StatFields> for Stat {
    type Error = Rejection;

    fn try_from(fields: StatFields) -> Result<Self, Rejection> {
        let StatFields { n, median, spread } = fields;
        if !(median.is_finite() && spread.is_finite() && spread >= 0.0) {
            return Err(Rejection::from(format!(
                "timing statistic has median {median} and spread {spread}; both must be \
                 finite and the spread at least 0"
            )));
        }
        Ok(Stat { n, median, spread })
    }
}

impl Stat {
    pub(crate) const EMPTY: Stat = Stat {
        n: 0,
        median: 0.0,
        spread: 0.0,
    };

    /// Computes the statistics of `values`, reordering them.
    pub(crate) fn of(values: &mut [f64]) -> Stat {
        if values.is_empty() {
            return Stat::EMPTY;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        let spread = values.iter().map(|v| (v - median).abs()).sum::<f64>() / n as f64;
        Stat {
            n: n as u32,
            median,
            spread,
        }
    }
}

/// Statistics of a set of samples at the three levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Table {
    #[serde(with = "sorted_map")]
    pub(crate) exact: HashedMap<Stat>,
    #[serde(with = "sorted_map")]
    pub(crate) class: HashedMap<Stat>,
    pub(crate) kind: [Stat; TimingKind::COUNT],
}

impl Table {
    pub(crate) fn fit<'a>(samples: impl IntoIterator<Item = &'a FreeTextSample>) -> Table {
        Table::fit_mapped(samples, |x| x)
    }

    /// Fits the statistics of `map(value_ms)` rather than of the raw timings.
    pub(crate) fn fit_mapped<'a>(
        samples: impl IntoIterator<Item = &'a FreeTextSample>,
        map: impl Fn(f64) -> f64,
    ) -> Table {
        let mut exact: HashedMap<Vec<f64>> = HashedMap::default();
        let mut class: HashedMap<Vec<f64>> = HashedMap::default();
        let mut kind: [Vec<f64>; TimingKind::COUNT] = Default::default();
        for sample in samples {
            for o in &sample.observations {
                let v = map(o.value_ms);
                exact.entry(o.ngraph).or_default().push(v);
                class.entry(o.class).or_default().push(v);
                kind[o.kind as usize].push(v);
            }
        }
        let reduce = |map: HashedMap<Vec<f64>>| -> HashedMap<Stat> {
            map.into_iter()
                .map(|(k, mut v)| (k, Stat::of(&mut v)))
                .collect()
        };
        Table {
            exact: reduce(exact),
            class: reduce(class),
            kind: kind.map(|mut v| Stat::of(&mut v)),
        }
    }

    /// Looks up the finest level with at least `min_count` timings for this observation.
    #[inline]
    pub(crate) fn lookup(&self, o: &Observation, min_count: u32) -> Stat {
        if let Some(s) = self.exact.get(&o.ngraph).filter(|s| s.n >= min_count) {
            return *s;
        }
        if let Some(s) = self.class.get(&o.class).filter(|s| s.n >= min_count) {
            return *s;
        }
        self.kind[o.kind as usize]
    }
}

impl Stat {
    /// Returns this statistic moved toward `target` by the fraction `rate` of the distance; the
    /// count stays, since the moved statistic still rests on the original timings.
    pub(crate) fn moved_toward(&self, target: &Stat, rate: f64) -> Stat {
        if self.n == 0 || target.n == 0 {
            return *self;
        }
        Stat {
            n: self.n,
            median: self.median + rate * (target.median - self.median),
            spread: self.spread + rate * (target.spread - self.spread),
        }
    }
}

impl Table {
    /// Returns this table with every statistic that `target` also has moved toward it by the
    /// fraction `rate`. Groups missing from this table are not added, so one session cannot
    /// create statistics that were never checked against the enrolment data.
    pub(crate) fn moved_toward(&self, target: &Table, rate: f64) -> Table {
        let step = |own: &HashedMap<Stat>, other: &HashedMap<Stat>| -> HashedMap<Stat> {
            own.iter()
                .map(|(&key, stat)| match other.get(&key) {
                    Some(t) => (key, stat.moved_toward(t, rate)),
                    None => (key, *stat),
                })
                .collect()
        };
        let mut kind = self.kind;
        for (own, other) in kind.iter_mut().zip(&target.kind) {
            *own = own.moved_toward(other, rate);
        }
        Table {
            exact: step(&self.exact, &target.exact),
            class: step(&self.class, &target.class),
            kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_median_and_spread() {
        let s = Stat::of(&mut [3.0, 1.0, 2.0, 10.0]);
        assert_eq!(s.n, 4);
        assert_eq!(s.median, 2.5);
        assert_eq!(s.spread, (1.5 + 0.5 + 0.5 + 7.5) / 4.0);
        assert_eq!(Stat::of(&mut []), Stat::EMPTY);
    }
}
