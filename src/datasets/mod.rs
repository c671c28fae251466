//! Loaders for public keystroke datasets, and the dataset catalog.
//!
//! Loaders read local files only; downloading is the command-line tool's job. Each loader
//! checks the header by column name and reports malformed input with the file, line and column.

pub mod aalto;
pub mod balabit;
pub mod bksd;
pub mod catalog;
mod csv_util;
pub mod dsl;

use ndarray::Array2;

/// Fixed-text timing vectors of many subjects typing the same phrase.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedTextDataset {
    /// Catalog name, such as `dsl2009`.
    pub name: String,
    /// Feature names in column order.
    pub feature_names: Vec<String>,
    /// Subjects in file order.
    pub subjects: Vec<FixedTextSubject>,
    /// Data quirks the loader counted (for example negative hold times), one line each.
    pub notes: Vec<String>,
}

/// One subject's repetitions, in the order they were typed.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedTextSubject {
    /// Subject identifier as in the data (case-normalised where the source mixes cases).
    pub id: String,
    /// One timing vector per row, in seconds.
    pub vectors: Array2<f64>,
    /// Session index of each row, when the dataset records sessions.
    pub sessions: Option<Vec<u32>>,
}

impl FixedTextDataset {
    /// Number of features per vector.
    pub fn dimension(&self) -> usize {
        self.feature_names.len()
    }

    /// Total number of vectors across subjects.
    pub fn len(&self) -> usize {
        self.subjects.iter().map(|s| s.vectors.nrows()).sum()
    }

    /// True when there are no vectors.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
