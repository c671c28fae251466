//! Training rows of a per-user two-class model: the user's actions against other people's.

use ndarray::{Array2, ArrayView1, Axis};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::error::{Error, Result};

/// Rows of one user's two-class model, with their labels and folds.
#[derive(Debug, Clone)]
pub struct TwoClassRows {
    /// The user's rows first, then the drawn rows of the other people.
    pub x: Array2<f64>,
    /// `true` for the user's rows.
    pub labels: Vec<bool>,
    /// For each row, which of `folds` contiguous stretches of its person's rows it lies in.
    /// Rows are stored session by session, so a stretch contains whole sessions but for its
    /// ends.
    pub folds: Vec<usize>,
}

/// Builds the rows of one user's two-class model: all of `positives` against
/// `negative_ratio` (at least 1) times as many rows drawn from `others`. The draw is without
/// replacement, spread evenly over the other people (each gives at most all of its rows), and
/// seeded by `seed`.
///
/// # Errors
///
/// [`Error::InvalidTrainingData`] when the matrices have different column counts.
pub fn two_class_rows(
    positives: &Array2<f64>,
    others: &[&Array2<f64>],
    negative_ratio: usize,
    folds: usize,
    seed: u64,
) -> Result<TwoClassRows> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let negatives_needed = positives.nrows() * negative_ratio.max(1);
    let share = negatives_needed.div_ceil(others.len().max(1));
    let mut rows: Vec<ArrayView1<'_, f64>> = positives.rows().into_iter().collect();
    let mut labels = vec![true; rows.len()];
    let stretch = |i: usize, n: usize| i * folds / n.max(1);
    let mut fold_of: Vec<usize> = (0..rows.len()).map(|i| stretch(i, rows.len())).collect();
    for other in others {
        let take = share.min(other.nrows());
        for i in sample(&mut rng, other.nrows(), take) {
            rows.push(other.row(i));
            labels.push(false);
            fold_of.push(stretch(i, other.nrows()));
        }
    }
    let x = ndarray::stack(Axis(0), &rows)
        .map_err(|e| Error::training(format!("stacking training rows: {e}")))?;
    Ok(TwoClassRows {
        x,
        labels,
        folds: fold_of,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_evenly_and_labels_rows() {
        let positives = Array2::from_elem((10, 2), 1.0);
        let a = Array2::from_elem((100, 2), 2.0);
        let b = Array2::from_elem((4, 2), 3.0);
        let rows = two_class_rows(&positives, &[&a, &b], 3, 2, 7).unwrap();
        // 30 negatives wanted, 15 from each; `b` has only 4.
        assert_eq!(rows.x.nrows(), 10 + 15 + 4);
        assert_eq!(rows.labels.iter().filter(|&&l| l).count(), 10);
        assert_eq!(rows.x.column(0).iter().filter(|&&v| v == 3.0).count(), 4);
        assert_eq!(&rows.folds[..10], &[0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
        assert!(rows.folds.iter().all(|&f| f < 2));
    }

    #[test]
    fn mismatched_columns_are_an_error() {
        let positives = Array2::from_elem((3, 2), 1.0);
        let other = Array2::from_elem((3, 5), 1.0);
        let error = two_class_rows(&positives, &[&other], 1, 2, 0).unwrap_err();
        assert!(
            matches!(error, Error::InvalidTrainingData { .. }),
            "{error}"
        );
    }
}
