//! Parameter spaces: each swept parameter's values, and the points (combinations) of a sweep.
//!
//! A point's index is its position in the full grid (mixed radix over the parameters in name
//! order), so it is stable: the same sweep numbers its points the same way on every machine, which
//! is what resumption and sharding rely on.

use crate::error::PlanError;
use rand::seq::index::sample;
use rand::SeedableRng;
use sim::scenario::{ParamSpec, ParamValue};

/// One swept parameter and its values.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub path: String,
    pub values: Vec<ParamValue>,
}

/// One combination of parameter values.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Position in the full grid.
    pub index: usize,
    pub values: Vec<(String, ParamValue)>,
}

fn whole(x: f64) -> bool {
    x.fract() == 0.0 && x.abs() < 9e15
}

/// The values a parameter spec stands for.
pub fn expand(path: &str, spec: &ParamSpec) -> Result<Vec<ParamValue>, PlanError> {
    let fail = |message: String| Err(PlanError::Values { parameter: path.to_string(), message });
    let values = match spec {
        ParamSpec::List(values) => {
            if values.is_empty() {
                return fail("empty list of values".into());
            }
            // `nan`, `inf` or a number past f64 (`1e400` reads as infinity) sets nothing real.
            if let Some(bad) = values.iter().find(|v| matches!(v, ParamValue::Float(f) if !f.is_finite())) {
                return fail(format!("{bad} is not a finite number"));
            }
            values.clone()
        }
        &ParamSpec::Range { range: (start, end), step } => {
            if !(step > 0.0 && step.is_finite() && start.is_finite() && end.is_finite()) || end < start {
                return fail("a range needs start ≤ end and a positive step".into());
            }
            let count = ((end - start) / step + 1e-9).floor() as usize + 1;
            if count > MAX_POINTS {
                return fail(format!("the range has {count} values; use a larger step"));
            }
            let integers = whole(start) && whole(step);
            (0..count)
                .map(|i| {
                    let v = start + step * i as f64;
                    if integers {
                        ParamValue::Integer(v.round() as i64)
                    } else {
                        ParamValue::Float(v)
                    }
                })
                .collect()
        }
        &ParamSpec::LogRange { log_range: (start, end), points } => {
            if !(start > 0.0 && end >= start && end.is_finite()) || points < 2 {
                return fail("a log range needs 0 < start ≤ end and at least 2 points".into());
            }
            if points as usize > MAX_POINTS {
                return fail(format!("the log range has {points} points; at most {MAX_POINTS}"));
            }
            let integers = whole(start) && whole(end);
            let ratio = (end / start).powf(1.0 / f64::from(points - 1));
            let mut values: Vec<ParamValue> = (0..points)
                .map(|i| {
                    let v = if i == points - 1 { end } else { start * ratio.powi(i as i32) };
                    if integers {
                        ParamValue::Integer(v.round() as i64)
                    } else {
                        ParamValue::Float(v)
                    }
                })
                .collect();
            values.dedup();
            values
        }
    };
    Ok(values)
}

/// The full grid, with `axes` in the given order (the first varies slowest).
pub struct Grid {
    pub axes: Vec<Axis>,
}

/// Most points one sweep may hold: each becomes a scenario in memory before any runs.
pub const MAX_POINTS: usize = 100_000;

impl Grid {
    /// The number of points; None when it overflows (a sweep no machine could run).
    pub fn checked_len(&self) -> Option<usize> {
        self.axes.iter().try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
    }

    pub fn len(&self) -> usize {
        self.checked_len().expect("the grid's size was admitted")
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn point(&self, index: usize) -> Point {
        let mut rest = index;
        let mut values = vec![(String::new(), ParamValue::Integer(0)); self.axes.len()];
        for (slot, axis) in values.iter_mut().zip(&self.axes).rev() {
            let n = axis.values.len();
            *slot = (axis.path.clone(), axis.values[rest % n].clone());
            rest /= n;
        }
        Point { index, values }
    }

    /// Every point, in index order.
    pub fn all(&self) -> Vec<Point> {
        (0..self.len()).map(|i| self.point(i)).collect()
    }

    /// `samples` distinct points drawn uniformly with a stream derived from `seed`, in index order.
    pub fn sample(&self, samples: usize, seed: u64) -> Vec<Point> {
        let total = self.len();
        if samples >= total {
            return self.all();
        }
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(sim::rng::derive_seed(seed, "sweep/random"));
        let mut chosen = sample(&mut rng, total, samples).into_vec();
        chosen.sort_unstable();
        chosen.into_iter().map(|i| self.point(i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_to_their_values() {
        let ints = expand("x", &ParamSpec::Range { range: (2.0, 8.0), step: 2.0 }).unwrap();
        assert_eq!(ints, [2, 4, 6, 8].map(ParamValue::Integer));
        let floats = expand("x", &ParamSpec::Range { range: (0.5, 1.0), step: 0.25 }).unwrap();
        assert_eq!(floats, [0.5, 0.75, 1.0].map(ParamValue::Float));
        let logs = expand("x", &ParamSpec::LogRange { log_range: (64.0, 4096.0), points: 4 }).unwrap();
        assert_eq!(logs, [64, 256, 1024, 4096].map(ParamValue::Integer));
        assert!(expand("x", &ParamSpec::Range { range: (3.0, 1.0), step: 1.0 }).is_err());
        assert!(expand("x", &ParamSpec::List(vec![])).is_err());
        assert!(expand("x", &ParamSpec::LogRange { log_range: (1.0, 2.0), points: u32::MAX }).is_err());
        assert!(expand("x", &ParamSpec::Range { range: (0.0, 1e12), step: 1.0 }).is_err());
    }

    #[test]
    fn grid_indices_are_mixed_radix_with_the_first_axis_slowest() {
        let grid = Grid {
            axes: vec![
                Axis { path: "a".into(), values: [1, 2].map(ParamValue::Integer).to_vec() },
                Axis { path: "b".into(), values: [10, 20, 30].map(ParamValue::Integer).to_vec() },
            ],
        };
        assert_eq!(grid.len(), 6);
        let p = grid.point(4);
        assert_eq!(p.values, vec![("a".into(), ParamValue::Integer(2)), ("b".into(), ParamValue::Integer(20))]);
        let sampled = grid.sample(3, 7);
        assert_eq!(sampled.len(), 3);
        assert!(sampled.windows(2).all(|w| w[0].index < w[1].index));
        assert_eq!(sampled, grid.sample(3, 7));
        assert_eq!(grid.sample(10, 7).len(), 6);
    }
}
