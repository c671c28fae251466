//! Two-layer feed-forward networks trained by back-propagation with momentum.
//!
//! A dedicated implementation: the linfa crates have no neural network, and both DSN-2009
//! networks are small enough (31 inputs, 31 hidden units) that a plain loop is fast and keeps
//! the model serialisable.

use ndarray::ArrayView2;
use rand::Rng;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use super::{DetectorParams, VectorDetector};
use crate::store::Rejection;

/// Output activation of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Output {
    Linear,
    Sigmoid,
}

/// Inputs -> sigmoid hidden layer -> output layer, with biases.
///
/// Weights are stored row-major in flat vectors so the training loops run over contiguous
/// slices; each row ends with its bias weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "NetworkFields")]
struct Network {
    inputs: usize,
    hidden_units: usize,
    outputs: usize,
    /// `hidden_units` rows of `inputs + 1` weights.
    hidden: Vec<f64>,
    /// `outputs` rows of `hidden_units + 1` weights.
    output: Vec<f64>,
    activation: Output,
}

/// The serialised fields of a [`Network`], before the shape check.
#[derive(Deserialize)]
struct NetworkFields {
    inputs: usize,
    hidden_units: usize,
    outputs: usize,
    hidden: Vec<f64>,
    output: Vec<f64>,
    activation: Output,
}

impl TryFrom<NetworkFields> for Network {
    type Error = Rejection;

    /// Accepts weight vectors whose lengths match the layer sizes, so that scoring indexes
    /// within them and allocates only what the file itself contains.
    fn try_from(f: NetworkFields) -> Result<Self, Rejection> {
        let hidden_len = f
            .inputs
            .checked_add(1)
            .and_then(|n| n.checked_mul(f.hidden_units));
        let output_len = f
            .hidden_units
            .checked_add(1)
            .and_then(|n| n.checked_mul(f.outputs));
        if f.inputs == 0 || f.outputs == 0 {
            return Err(Rejection::from(
                "a network needs at least one input and one output",
            ));
        }
        if hidden_len != Some(f.hidden.len()) || output_len != Some(f.output.len()) {
            return Err(Rejection::from(format!(
                "{} inputs, {} hidden units and {} outputs need {hidden_len:?} hidden and \
                 {output_len:?} output weights, found {} and {}",
                f.inputs,
                f.hidden_units,
                f.outputs,
                f.hidden.len(),
                f.output.len()
            )));
        }
        Ok(Network {
            inputs: f.inputs,
            hidden_units: f.hidden_units,
            outputs: f.outputs,
            hidden: f.hidden,
            output: f.output,
            activation: f.activation,
        })
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Dot product with four independent partial sums, so the compiler can vectorise it (a single
/// running sum must be added in order and cannot use SIMD lanes).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut partial = [0.0_f64; 4];
    let mut a_chunks = a.chunks_exact(4);
    let mut b_chunks = b.chunks_exact(4);
    for (x, y) in (&mut a_chunks).zip(&mut b_chunks) {
        for lane in 0..4 {
            partial[lane] += x[lane] * y[lane];
        }
    }
    let tail: f64 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    (partial[0] + partial[1]) + (partial[2] + partial[3]) + tail
}

/// `weights[i] += steps[i] = -rate * delta * input[i] + momentum * steps[i]`, with the bias
/// input 1 for the last weight of the row.
fn update_row(weights: &mut [f64], steps: &mut [f64], input: &[f64], scale: f64, momentum: f64) {
    let n = input.len();
    for ((w, step), x) in weights[..n].iter_mut().zip(&mut steps[..n]).zip(input) {
        *step = scale * x + momentum * *step;
        *w += *step;
    }
    steps[n] = scale + momentum * steps[n];
    weights[n] += steps[n];
}

impl Network {
    /// Weights start uniform in `[-0.5, 0.5] / sqrt(fan_in)` from a seeded generator.
    fn new(inputs: usize, hidden: usize, outputs: usize, activation: Output, seed: u64) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut init = |rows: usize, cols: usize| -> Vec<f64> {
            let scale = 1.0 / (cols as f64).sqrt();
            (0..rows * cols)
                .map(|_| rng.gen_range(-0.5..0.5) * scale)
                .collect()
        };
        Network {
            inputs,
            hidden_units: hidden,
            outputs,
            hidden: init(hidden, inputs + 1),
            output: init(outputs, hidden + 1),
            activation,
        }
    }

    fn forward(&self, x: &[f64], hidden: &mut [f64], out: &mut [f64]) {
        let stride = self.inputs + 1;
        for (h, row) in hidden.iter_mut().zip(self.hidden.chunks_exact(stride)) {
            *h = sigmoid(row[self.inputs] + dot(&row[..self.inputs], x));
        }
        let stride = self.hidden_units + 1;
        for (o, row) in out.iter_mut().zip(self.output.chunks_exact(stride)) {
            let total = row[self.hidden_units] + dot(&row[..self.hidden_units], hidden);
            *o = match self.activation {
                Output::Linear => total,
                Output::Sigmoid => sigmoid(total),
            };
        }
    }

    /// Online back-propagation of squared error, one training row at a time in a shuffled
    /// order each epoch; `target(row, out)` writes the desired output for a row.
    fn train(
        &mut self,
        data: ArrayView2<'_, f64>,
        target: impl Fn(&[f64], &mut [f64]),
        params: &DetectorParams,
    ) {
        let (inputs, hidden_units, outputs) = (self.inputs, self.hidden_units, self.outputs);
        let rows: Vec<Vec<f64>> = data.rows().into_iter().map(|r| r.to_vec()).collect();
        let mut order: Vec<usize> = (0..rows.len()).collect();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed ^ 0x5eed);
        let mut hidden = vec![0.0; hidden_units];
        let mut out = vec![0.0; outputs];
        let mut wanted = vec![0.0; outputs];
        let mut delta_out = vec![0.0; outputs];
        let mut delta_hidden = vec![0.0; hidden_units];
        let mut step_hidden = vec![0.0; self.hidden.len()];
        let mut step_output = vec![0.0; self.output.len()];
        let (rate, momentum) = (params.nn_learning_rate, params.nn_momentum);

        for _ in 0..params.nn_epochs {
            order.shuffle(&mut rng);
            for &i in &order {
                let x = &rows[i];
                self.forward(x, &mut hidden, &mut out);
                target(x, &mut wanted);
                for k in 0..outputs {
                    let error = out[k] - wanted[k];
                    delta_out[k] = match self.activation {
                        Output::Linear => error,
                        Output::Sigmoid => error * out[k] * (1.0 - out[k]),
                    };
                }
                let stride = hidden_units + 1;
                delta_hidden.iter_mut().for_each(|d| *d = 0.0);
                for (k, row) in self.output.chunks_exact(stride).enumerate() {
                    for (d, w) in delta_hidden.iter_mut().zip(&row[..hidden_units]) {
                        *d += delta_out[k] * w;
                    }
                }
                for (d, h) in delta_hidden.iter_mut().zip(&hidden) {
                    *d *= h * (1.0 - h);
                }
                for (k, (row, steps)) in self
                    .output
                    .chunks_exact_mut(stride)
                    .zip(step_output.chunks_exact_mut(stride))
                    .enumerate()
                {
                    update_row(row, steps, &hidden, -rate * delta_out[k], momentum);
                }
                let stride = inputs + 1;
                for (j, (row, steps)) in self
                    .hidden
                    .chunks_exact_mut(stride)
                    .zip(step_hidden.chunks_exact_mut(stride))
                    .enumerate()
                {
                    update_row(row, steps, x, -rate * delta_hidden[j], momentum);
                }
            }
        }
    }
}

/// Auto-associative network (Cho et al. 2000, as used in DSN-2009): `d` inputs, `d` sigmoid
/// hidden units and `d` linear outputs, trained by back-propagation to reproduce the genuine
/// training vectors (500 epochs, learning rate 1e-4, momentum 3e-4 by default). The score is
/// the Euclidean distance between a sample and the network's reconstruction of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoAssociativeNetwork {
    network: Network,
}

impl AutoAssociativeNetwork {
    pub(crate) fn fit(train: ArrayView2<'_, f64>, params: &DetectorParams) -> Self {
        let d = train.ncols();
        let mut network = Network::new(d, d, d, Output::Linear, params.seed);
        network.train(train, |x, wanted| wanted.copy_from_slice(x), params);
        AutoAssociativeNetwork { network }
    }
}

impl VectorDetector for AutoAssociativeNetwork {
    fn dimension(&self) -> usize {
        self.network.inputs
    }

    fn score_unchecked(&self, x: &[f64]) -> f64 {
        let mut hidden = vec![0.0; self.network.hidden_units];
        let mut out = vec![0.0; x.len()];
        self.network.forward(x, &mut hidden, &mut out);
        x.iter()
            .zip(&out)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt()
    }
}

/// Standard feed-forward network (Haider, Abbas & Zaidi 2000, as used in DSN-2009): `d`
/// inputs, `d` sigmoid hidden units and one sigmoid output, trained by back-propagation to
/// output 1 on every genuine training vector. The score is `1 - output`.
///
/// NOTE: trained on genuine vectors only, the network learns to output values near 1
/// everywhere, so its ranking of samples is close to arbitrary. DSN-2009 reports the same
/// behaviour (mean EER 0.828, worse than chance) but does not describe its training in enough
/// detail to rebuild it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandardNetwork {
    network: Network,
}

impl StandardNetwork {
    pub(crate) fn fit(train: ArrayView2<'_, f64>, params: &DetectorParams) -> Self {
        let d = train.ncols();
        let mut network = Network::new(d, d, 1, Output::Sigmoid, params.seed);
        network.train(train, |_, wanted| wanted[0] = 1.0, params);
        StandardNetwork { network }
    }
}

impl VectorDetector for StandardNetwork {
    fn dimension(&self) -> usize {
        self.network.inputs
    }

    fn score_unchecked(&self, x: &[f64]) -> f64 {
        let mut hidden = vec![0.0; self.network.hidden_units];
        let mut out = [0.0];
        self.network.forward(x, &mut hidden, &mut out);
        1.0 - out[0]
    }
}
