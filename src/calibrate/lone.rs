//! What an LLM engine's requests that ran alone say about its costs. Alone (no other request in
//! flight from its send to its last token), a request of P prompt tokens and O outputs is one
//! prefill iteration and O − 1 decode iterations of one sequence, so with the iteration time
//! `overhead + t × tokens + s × sequences + k × KV tokens read + a × attention pairs` and a time
//! `pre` outside the iterations:
//!
//! - TPOT = (overhead + t + s) + (k + a) × m, where m = P + O/2 is the decodes' mean context;
//! - TTFT = pre + overhead + t × P + s + k × P + a × P(P+1)/2, so
//!   TTFT − TPOT + (k + a) × m = (pre + k) + (t + k) × (P − 1) + a × P(P+1)/2.
//!
//! Two least-squares lines give every part but the split of overhead + s, which only load shows
//! (a sequence's cost among others): the calibration fits that split and scales around these.

/// A request that ran alone: its prompt and output tokens, TTFT and TPOT in ms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lone {
    pub prompt: f64,
    pub output: f64,
    pub ttft_ms: f64,
    pub tpot_ms: f64,
}

/// The costs lone requests measure, in ms.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct LoneCosts {
    pub requests: usize,
    /// Each request's time outside the iterations (`pre`).
    pub request_ms: f64,
    pub per_token_ms: f64,
    pub per_kv_token_ms: f64,
    pub per_attention_pair_ms: f64,
    /// A decode iteration of one sequence less its attention: overhead + t + s.
    pub decode_ms: f64,
}

/// Lone requests needed to read costs off them.
pub const LONE_REQUESTS: usize = 10;

/// The costs of `lone` (requests prefilled in one iteration), or `None` with fewer than
/// `LONE_REQUESTS` of them or a single prompt length. The square term is dropped when the fit
/// gives it below zero or the prompts cannot separate it (three lengths at least).
pub fn lone_costs(lone: &[Lone]) -> Option<LoneCosts> {
    if lone.len() < LONE_REQUESTS {
        return None;
    }
    let context: Vec<f64> = lone.iter().map(|r| r.prompt + r.output / 2.0).collect();
    let tpot: Vec<f64> = lone.iter().map(|r| r.tpot_ms).collect();
    let (decode_ms, attention_per_context) = match least_squares(&[&ones(lone.len()), &context], &tpot) {
        Some(c) => (c[0], c[1].max(0.0)),
        None => (mean(&tpot), 0.0),
    };
    let y: Vec<f64> =
        lone.iter().zip(&context).map(|(r, m)| r.ttft_ms - r.tpot_ms + attention_per_context * m).collect();
    let linear: Vec<f64> = lone.iter().map(|r| r.prompt - 1.0).collect();
    let square: Vec<f64> = lone.iter().map(|r| r.prompt * (r.prompt + 1.0) / 2.0).collect();
    let ones = ones(lone.len());
    let (intercept, slope, per_pair) = match least_squares(&[&ones, &linear, &square], &y) {
        Some(c) if c[2] >= 0.0 => (c[0], c[1], c[2]),
        _ => {
            let c = least_squares(&[&ones, &linear], &y)?;
            (c[0], c[1], 0.0)
        }
    };
    let per_kv_token = (attention_per_context - per_pair).max(0.0);
    Some(LoneCosts {
        requests: lone.len(),
        request_ms: (intercept - per_kv_token).max(0.0),
        per_token_ms: (slope - per_kv_token).max(0.0),
        per_kv_token_ms: per_kv_token,
        per_attention_pair_ms: per_pair,
        decode_ms,
    })
}

fn ones(n: usize) -> Vec<f64> {
    vec![1.0; n]
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Ordinary least squares of `y` on the `columns` (normal equations, Gaussian elimination with
/// partial pivoting; columns are centred and scaled first so that P² beside 1 stays well
/// conditioned), or `None` when the columns are (nearly) dependent.
fn least_squares(columns: &[&[f64]], y: &[f64]) -> Option<Vec<f64>> {
    let n = columns.len();
    // Column 0 is the intercept; the others are standardised for the solve.
    let shift: Vec<f64> = columns.iter().enumerate().map(|(j, c)| if j == 0 { 0.0 } else { mean(c) }).collect();
    let scale: Vec<f64> =
        columns
            .iter()
            .enumerate()
            .map(|(j, c)| {
                if j == 0 {
                    1.0
                } else {
                    (c.iter().map(|v| (v - shift[j]).powi(2)).sum::<f64>() / c.len() as f64).sqrt()
                }
            })
            .collect();
    if scale.iter().any(|s| *s <= 1e-12) {
        return None;
    }
    let x = |j: usize, i: usize| (columns[j][i] - shift[j]) / scale[j];
    let mut a = vec![vec![0.0; n + 1]; n];
    for (r, row) in a.iter_mut().enumerate() {
        for (c, cell) in row.iter_mut().take(n).enumerate() {
            *cell = (0..y.len()).map(|i| x(r, i) * x(c, i)).sum();
        }
        row[n] = (0..y.len()).map(|i| x(r, i) * y[i]).sum();
    }
    for col in 0..n {
        let pivot = (col..n).max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))?;
        a.swap(col, pivot);
        if a[col][col].abs() < 1e-9 * y.len() as f64 {
            return None;
        }
        let pivot_row = a[col].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let factor = row[col] / pivot_row[col];
                for (cell, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *cell -= factor * p;
                }
            }
        }
    }
    let standard: Vec<f64> = (0..n).map(|j| a[j][n] / a[j][j]).collect();
    // Back to the original columns: b_j = β_j / σ_j, the intercept absorbing the shifts.
    let mut b: Vec<f64> = (0..n).map(|j| standard[j] / scale[j]).collect();
    b[0] = standard[0] - (1..n).map(|j| b[j] * shift[j]).sum::<f64>();
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lone requests of an engine with known parts, exactly as the module's formulas give them.
    fn engine(pre: f64, overhead: f64, t: f64, s: f64, k: f64, a: f64) -> Vec<Lone> {
        let prompts = [11.0, 51.0, 101.0, 201.0, 401.0, 21.0, 31.0, 61.0, 801.0, 121.0, 1001.0];
        prompts
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let o = 4.0 + 8.0 * i as f64;
                let ttft = pre + overhead + t * p + s + k * p + a * p * (p + 1.0) / 2.0;
                // Decodes at contexts P .. P + O − 2, each reading c + 1 tokens.
                let decodes: f64 = (0..(o as usize - 1)).map(|j| p + j as f64 + 1.0).sum();
                let tpot = overhead + t + s + (k + a) * decodes / (o - 1.0);
                Lone { prompt: p, output: o, ttft_ms: ttft, tpot_ms: tpot }
            })
            .collect()
    }

    #[test]
    fn every_part_is_read_back_from_an_engine_that_has_it() {
        let costs = lone_costs(&engine(4.0, 5.0, 0.1, 0.5, 6e-4, 6e-5)).unwrap();
        let close = |got: f64, want: f64| assert!((got - want).abs() <= 1e-9 + 1e-6 * want, "{got} vs {want}");
        close(costs.request_ms, 4.0);
        close(costs.per_token_ms, 0.1);
        close(costs.per_kv_token_ms, 6e-4);
        close(costs.per_attention_pair_ms, 6e-5);
        close(costs.decode_ms, 5.0 + 0.1 + 0.5);
    }

    #[test]
    fn an_engine_without_square_costs_gets_none() {
        let costs = lone_costs(&engine(2.0, 8.0, 0.2, 0.0, 0.0, 0.0)).unwrap();
        assert!((costs.request_ms - 2.0).abs() < 1e-9, "{costs:?}");
        assert!((costs.per_token_ms - 0.2).abs() < 1e-9, "{costs:?}");
        assert!(costs.per_attention_pair_ms.abs() < 1e-12 && costs.per_kv_token_ms.abs() < 1e-12, "{costs:?}");
    }

    #[test]
    fn too_few_or_identical_prompts_measure_nothing() {
        let all = engine(4.0, 5.0, 0.1, 0.5, 6e-4, 6e-5);
        assert_eq!(lone_costs(&all[..LONE_REQUESTS - 1]), None);
        let same: Vec<Lone> = all.iter().map(|r| Lone { prompt: 100.0, ..*r }).collect();
        assert_eq!(lone_costs(&same), None);
    }
}
