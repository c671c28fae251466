//! Two-layer feed-forward networks trained by back-propagation with momentum.
//!
//! A dedicated implementation: the linfa crates have no neural network, and both DSN-2009
//! networks are small enough (31 inputs, 31 hidden units) that a plain loop is fast and keeps
//! the model serialisable.

use ndarray::{Array2, ArrayView2};
use rand::Rng;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use super::{DetectorParams, VectorDetector};

/// Output activation of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Output {
    Linear,
    Sigmoid,
}

/// Inputs -> sigmoid hidden layer -> output layer, with biases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Network {
    /// hidden x (inputs + 1); the last column is the bias.
    hidden: Array2<f64>,
    /// outputs x (hidden + 1); the last column is the bias.
    output: Array2<f64>,
    activation: Output,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl Network {
    /// Weights start uniform in `[-0.5, 0.5] / sqrt(fan_in)` from a seeded generator.
    fn new(inputs: usize, hidden: usize, outputs: usize, activation: Output, seed: u64) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut init = |rows: usize, cols: usize| {
            let scale = 1.0 / (cols as f64).sqrt();
            Array2::from_shape_fn((rows, cols), |_| rng.gen_range(-0.5..0.5) * scale)
        };
        Network {
            hidden: init(hidden, inputs + 1),
            output: init(outputs, hidden + 1),
            activation,
        }
    }

    fn forward(&self, x: &[f64], hidden: &mut [f64], out: &mut [f64]) {
        let inputs = x.len();
        for (h, row) in hidden.iter_mut().zip(self.hidden.rows()) {
            let mut total = row[inputs];
            for (w, v) in row.iter().zip(x) {
                total += w * v;
            }
            *h = sigmoid(total);
        }
        let hidden_count = hidden.len();
        for (o, row) in out.iter_mut().zip(self.output.rows()) {
            let mut total = row[hidden_count];
            for (w, h) in row.iter().zip(hidden.iter()) {
                total += w * h;
            }
            *o = match self.activation {
                Output::Linear => total,
                Output::Sigmoid => sigmoid(total),
            };
        }
    }

    /// Online back-propagation of squared error, one training row at a time in a shuffled
    /// order each epoch; `target(row)` gives the desired output for a row.
    fn train(
        &mut self,
        data: ArrayView2<'_, f64>,
        target: impl Fn(&[f64], &mut [f64]),
        params: &DetectorParams,
    ) {
        let inputs = data.ncols();
        let hidden_count = self.hidden.nrows();
        let outputs = self.output.nrows();
        let rows: Vec<Vec<f64>> = data.rows().into_iter().map(|r| r.to_vec()).collect();
        let mut order: Vec<usize> = (0..rows.len()).collect();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed ^ 0x5eed);
        let mut hidden = vec![0.0; hidden_count];
        let mut out = vec![0.0; outputs];
        let mut wanted = vec![0.0; outputs];
        let mut delta_out = vec![0.0; outputs];
        let mut delta_hidden = vec![0.0; hidden_count];
        let mut step_hidden = Array2::<f64>::zeros(self.hidden.raw_dim());
        let mut step_output = Array2::<f64>::zeros(self.output.raw_dim());
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
                for j in 0..hidden_count {
                    let back: f64 = (0..outputs)
                        .map(|k| delta_out[k] * self.output[[k, j]])
                        .sum();
                    delta_hidden[j] = back * hidden[j] * (1.0 - hidden[j]);
                }
                for k in 0..outputs {
                    for j in 0..=hidden_count {
                        let input = if j < hidden_count { hidden[j] } else { 1.0 };
                        let step = -rate * delta_out[k] * input + momentum * step_output[[k, j]];
                        step_output[[k, j]] = step;
                        self.output[[k, j]] += step;
                    }
                }
                for j in 0..hidden_count {
                    for i in 0..=inputs {
                        let input = if i < inputs { x[i] } else { 1.0 };
                        let step = -rate * delta_hidden[j] * input + momentum * step_hidden[[j, i]];
                        step_hidden[[j, i]] = step;
                        self.hidden[[j, i]] += step;
                    }
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
        self.network.hidden.ncols() - 1
    }

    fn score_unchecked(&self, x: &[f64]) -> f64 {
        let mut hidden = vec![0.0; self.network.hidden.nrows()];
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
        self.network.hidden.ncols() - 1
    }

    fn score_unchecked(&self, x: &[f64]) -> f64 {
        let mut hidden = vec![0.0; self.network.hidden.nrows()];
        let mut out = [0.0];
        self.network.forward(x, &mut hidden, &mut out);
        1.0 - out[0]
    }
}
