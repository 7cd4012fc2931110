//! The CPU backend: runs each operator on one host thread and times it.
//!
//! GEMMs use `matrixmultiply`'s packed, vectorised sgemm (the GEMM inside ndarray); the other
//! operators are plain loops written so the compiler vectorises them, compiled for AVX2+FMA when
//! the host has it (as ONNX Runtime's MLAS picks its kernels at run time). Inputs are random and
//! never zero. Each run finds its data where a real forward pass would: a GEMM's weights rotate
//! across copies spanning twice the L2 cache (a forward pass reads each layer's weights once, after
//! the other layers evicted them), gather indices rotate too, while activations stay where the
//! previous operator wrote them (in cache when they fit). fp32 only: CPUs serve fp32 (or int8,
//! which the catalog does not model).

use crate::error::KernelError;
use crate::ops::{Activation, DType, Op};
use crate::profile::{Stat, Timing};
use rand::{Rng, SeedableRng};
use std::time::Instant;

/// How to time each shape, and how its buffers are laid out.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub timing: Timing,
    /// Total bytes the rotated weight copies should span (twice the L2 cache, say).
    pub rotate_bytes: u64,
    /// Largest single copy of an operator's inputs the host is asked to allocate.
    pub max_bytes: u64,
}

impl Settings {
    pub fn full(rotate_bytes: u64) -> Settings {
        let timing = Timing { warmup_runs: 3, min_runs: 15, max_runs: 2000, min_seconds: 0.3, max_seconds: 3.0 };
        Settings { timing, rotate_bytes, max_bytes: 4 << 30 }
    }

    pub fn quick(rotate_bytes: u64) -> Settings {
        let timing = Timing { warmup_runs: 2, min_runs: 7, max_runs: 500, min_seconds: 0.05, max_seconds: 0.5 };
        Settings { timing, rotate_bytes, max_bytes: 4 << 30 }
    }

    /// Copies of `set_bytes` of weights to rotate through.
    pub fn copies(&self, set_bytes: u64) -> usize {
        let wanted = self.rotate_bytes.div_ceil(set_bytes.max(1)).clamp(1, 64);
        // Never more than 1 GiB of copies in all.
        wanted.min((1u64 << 30).div_ceil(set_bytes.max(1)).max(1)) as usize
    }
}

/// Runs `run(i)` for warm-up and then timed runs; `run` gets the run number to pick its copy.
pub fn time_runs(timing: &Timing, mut run: impl FnMut(usize)) -> Stat {
    for i in 0..timing.warmup_runs as usize {
        run(i);
    }
    let mut samples = Vec::with_capacity(timing.min_runs as usize);
    let started = Instant::now();
    let mut i = timing.warmup_runs as usize;
    while !timing.done(samples.len(), started.elapsed().as_secs_f64()) {
        let t = Instant::now();
        run(i);
        samples.push(t.elapsed().as_nanos() as f64);
        i += 1;
    }
    Stat::from_samples(&mut samples)
}

/// Measures one operator.
pub fn measure(op: &Op, settings: &Settings, seed: u64) -> Result<Stat, KernelError> {
    let mut prepared = Prepared::new(op, settings, seed).map_err(KernelError::Backend)?;
    let (copies, avx2) = (prepared.copies, has_avx2());
    Ok(time_runs(&settings.timing, |i| run_best(&mut prepared, i % copies, avx2)))
}

/// The per-batch cost that is no operator: handing a batch's input to an inference worker thread
/// and getting its output back, as a CPU serving runtime does once per forward call.
pub fn measure_batch_overhead(timing: &Timing) -> Stat {
    use std::sync::mpsc;
    let (to_worker, worker_inbox) = mpsc::channel::<Vec<f32>>();
    let (to_client, client_inbox) = mpsc::channel::<Vec<f32>>();
    let worker = std::thread::spawn(move || {
        for mut batch in worker_inbox {
            batch[0] += 1.0;
            if to_client.send(batch).is_err() {
                break;
            }
        }
    });
    let mut batch = Some(vec![1.0f32; 4096]);
    let stat = time_runs(timing, |_| {
        to_worker.send(batch.take().expect("the batch came back")).expect("the worker runs");
        batch = Some(client_inbox.recv().expect("the worker answers"));
    });
    drop(to_worker);
    worker.join().expect("the worker ends cleanly");
    stat
}

/// Whether this host runs the AVX2+FMA build of the operator loops.
pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `prepared.run` compiled for AVX2 and FMA. A function of its own with `run` inlined into it:
/// through a closure the compiler may keep the body out of line, compiled for the baseline.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn run_avx2(prepared: &mut Prepared, copy: usize) {
    prepared.run(copy);
}

fn run_best(prepared: &mut Prepared, copy: usize, avx2: bool) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is true only where `has_avx2` detected the features on this host.
        unsafe { run_avx2(prepared, copy) };
        return;
    }
    let _ = avx2;
    prepared.run(copy);
}

/// The buffers an operator reads and writes, in elements, as [`execute`] lays them out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Inputs produced by earlier operators: GEMM's `A`; attention's Q, K and V token-major
    /// (`[batch, tokens, heads, head_dim]`, back to back); both operands of an add.
    pub activations: u64,
    /// A GEMM's `B`.
    pub weights: u64,
    /// Norm scales (and shifts), embedding tables.
    pub params: u64,
    /// Gather indices.
    pub indices: u64,
    pub output: u64,
    /// Attention scores of one head.
    pub scratch: u64,
}

impl Layout {
    pub fn of(op: &Op) -> Layout {
        let (activations, weights, params, indices, output, scratch) = match *op {
            Op::Gemm { m, n, k, .. } => (m * k, k * n, 0, 0, m * n, 0),
            Op::BatchedGemm { batch, m, n, k, .. } => (batch * (m * k + k * n), 0, 0, 0, batch * m * n, 0),
            Op::Softmax { rows, cols, .. } => (rows * cols, 0, 0, 0, rows * cols, 0),
            Op::LayerNorm { rows, cols, .. } => (rows * cols, 0, 2 * cols, 0, rows * cols, 0),
            Op::RmsNorm { rows, cols, .. } => (rows * cols, 0, cols, 0, rows * cols, 0),
            Op::Activation { elements, .. } => (elements, 0, 0, 0, elements, 0),
            Op::Add { elements, .. } | Op::Mul { elements, .. } => (2 * elements, 0, 0, 0, elements, 0),
            Op::EmbeddingGather { lookups, dim, table_rows, .. } => (0, 0, table_rows * dim, lookups, lookups * dim, 0),
            Op::EmbeddingBag { bags, bag_size, dim, table_rows, .. } => {
                (0, 0, table_rows * dim, bags * bag_size, bags * dim, 0)
            }
            Op::AttentionPrefill { batch, heads, kv_heads, seq, head_dim, .. } => {
                (batch * seq * head_dim * (heads + 2 * kv_heads), 0, 0, 0, batch * seq * heads * head_dim, seq * seq)
            }
            Op::AttentionDecode { batch, heads, kv_heads, kv_len, head_dim, .. } => {
                (batch * head_dim * (heads + 2 * kv_heads * kv_len), 0, 0, 0, batch * heads * head_dim, kv_len)
            }
        };
        Layout { activations, weights, params, indices, output, scratch }
    }

    /// Rows an embedding's indices range over (1 for other operators).
    pub fn table_rows(op: &Op) -> u64 {
        match *op {
            Op::EmbeddingGather { table_rows, .. } | Op::EmbeddingBag { table_rows, .. } => table_rows,
            _ => 1,
        }
    }
}

/// Runs `op` on buffers laid out as [`Layout`] says: the CPU backend's kernel and the reference
/// the CUDA backend's results are checked against.
#[inline(always)]
pub fn execute(
    op: &Op,
    input: &[f32],
    weights: &[f32],
    params: &[f32],
    indices: &[u32],
    out: &mut [f32],
    scratch: &mut [f32],
) {
    match *op {
        Op::Gemm { m, n, k, .. } => {
            let (m, n, k) = (usize_of(m), usize_of(n), usize_of(k));
            gemm(m, n, k, input, (k, 1), weights, (n, 1), out, n);
        }
        Op::BatchedGemm { batch, m, n, k, .. } => {
            let (batch, m, n, k) = (usize_of(batch), usize_of(m), usize_of(n), usize_of(k));
            let (a, b) = input.split_at(batch * m * k);
            for i in 0..batch {
                let a = &a[i * m * k..];
                let b = &b[i * k * n..];
                gemm(m, n, k, a, (k, 1), b, (n, 1), &mut out[i * m * n..], n);
            }
        }
        Op::Softmax { cols, .. } => {
            for (x, y) in input.chunks_exact(usize_of(cols)).zip(out.chunks_exact_mut(usize_of(cols))) {
                softmax(x, y);
            }
        }
        Op::LayerNorm { cols, .. } => {
            let (scale, shift) = params.split_at(usize_of(cols));
            for (x, y) in input.chunks_exact(usize_of(cols)).zip(out.chunks_exact_mut(usize_of(cols))) {
                layer_norm(x, scale, shift, y);
            }
        }
        Op::RmsNorm { cols, .. } => {
            for (x, y) in input.chunks_exact(usize_of(cols)).zip(out.chunks_exact_mut(usize_of(cols))) {
                rms_norm(x, params, y);
            }
        }
        Op::Activation { kind, .. } => activation(kind, input, out),
        Op::Add { elements, .. } => {
            let (a, b) = input.split_at(usize_of(elements));
            for ((y, &a), &b) in out.iter_mut().zip(a).zip(b) {
                *y = a + b;
            }
        }
        Op::Mul { elements, .. } => {
            let (a, b) = input.split_at(usize_of(elements));
            for ((y, &a), &b) in out.iter_mut().zip(a).zip(b) {
                *y = a * b;
            }
        }
        Op::EmbeddingGather { dim, .. } => {
            let dim = usize_of(dim);
            for (row, &index) in out.chunks_exact_mut(dim).zip(indices) {
                row.copy_from_slice(&params[index as usize * dim..][..dim]);
            }
        }
        Op::EmbeddingBag { bag_size, dim, .. } => {
            let (bag_size, dim) = (usize_of(bag_size), usize_of(dim));
            for (row, bag) in out.chunks_exact_mut(dim).zip(indices.chunks_exact(bag_size)) {
                row.copy_from_slice(&params[bag[0] as usize * dim..][..dim]);
                for &index in &bag[1..] {
                    for (y, &x) in row.iter_mut().zip(&params[index as usize * dim..][..dim]) {
                        *y += x;
                    }
                }
            }
        }
        Op::AttentionPrefill { batch, heads, kv_heads, seq, head_dim, causal, .. } => {
            let shape = Attention::new(batch, heads, kv_heads, seq, seq, head_dim);
            shape.run(input, out, scratch, causal);
        }
        Op::AttentionDecode { batch, heads, kv_heads, kv_len, head_dim, .. } => {
            let shape = Attention::new(batch, heads, kv_heads, 1, kv_len, head_dim);
            shape.run(input, out, scratch, false);
        }
    }
}

/// An operator with its buffers allocated and filled.
#[derive(Debug)]
struct Prepared {
    op: Op,
    /// Activations: one copy, reused run after run like a forward pass's intermediate tensors.
    inputs: Vec<f32>,
    /// `copies` sets of weights, back to back, `weight_len` floats each.
    weights: Vec<f32>,
    weight_len: usize,
    copies: usize,
    /// Embedding tables, norm scales: shared by every copy.
    params: Vec<f32>,
    /// Gather indices, `copies` sets of `indices_len`.
    indices: Vec<u32>,
    indices_len: usize,
    output: Vec<f32>,
    scratch: Vec<f32>,
}

fn usize_of(x: u64) -> usize {
    usize::try_from(x).expect("shapes fit in memory")
}

impl Prepared {
    fn new(op: &Op, settings: &Settings, seed: u64) -> Result<Prepared, String> {
        if op.dtype() != DType::F32 {
            return Err(format!("the CPU backend measures fp32 only, not {}", op.dtype().name()));
        }
        let Layout {
            activations: set_len,
            weights: weight_len,
            params: params_len,
            indices: indices_len,
            output: output_len,
            scratch: scratch_len,
        } = Layout::of(op);
        let set_bytes = 4 * (weight_len + indices_len);
        let total = 4 * (set_len + weight_len + params_len + indices_len + output_len + scratch_len);
        if total > settings.max_bytes {
            return Err(format!(
                "{} {} needs {:.1} GB of buffers, over the {:.1} GB this host is asked for",
                op.name(),
                op.shape(),
                total as f64 / 1e9,
                settings.max_bytes as f64 / 1e9
            ));
        }
        let copies = if set_bytes == 0 { 1 } else { settings.copies(set_bytes) };
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
        // Never zero: uniform magnitude in [0.5, 1.5) with a random sign.
        let mut random = |n: u64| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    let v: f32 = rng.random_range(0.5..1.5);
                    if rng.random::<bool>() {
                        v
                    } else {
                        -v
                    }
                })
                .collect()
        };
        let inputs = random(set_len);
        let weights = random(weight_len * copies as u64);
        let params = random(params_len);
        let table_rows = Layout::table_rows(op);
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
        let indices = (0..indices_len * copies as u64).map(|_| rng.random_range(0..table_rows) as u32).collect();
        Ok(Prepared {
            op: op.clone(),
            inputs,
            weights,
            weight_len: usize_of(weight_len),
            copies,
            params,
            indices,
            indices_len: usize_of(indices_len),
            output: vec![0.0; usize_of(output_len)],
            scratch: vec![0.0; usize_of(scratch_len)],
        })
    }

    #[inline(always)]
    fn run(&mut self, copy: usize) {
        let weights = &self.weights[copy * self.weight_len..(copy + 1) * self.weight_len];
        let indices = &self.indices[copy * self.indices_len..(copy + 1) * self.indices_len];
        execute(&self.op, &self.inputs, weights, &self.params, indices, &mut self.output, &mut self.scratch);
        std::hint::black_box(&self.output);
    }
}

/// `C[m×n] = A·B` with A's and B's (row, column) strides; C row-major with row stride `ldc`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    sa: (usize, usize),
    b: &[f32],
    sb: (usize, usize),
    c: &mut [f32],
    ldc: usize,
) {
    assert!(a.len() > (m - 1) * sa.0 + (k - 1) * sa.1, "A in bounds");
    assert!(b.len() > (k - 1) * sb.0 + (n - 1) * sb.1, "B in bounds");
    assert!(c.len() > (m - 1) * ldc + (n - 1), "C in bounds");
    // SAFETY: the asserts above keep every access of the strided views inside the slices.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            sa.0 as isize,
            sa.1 as isize,
            b.as_ptr(),
            sb.0 as isize,
            sb.1 as isize,
            0.0,
            c.as_mut_ptr(),
            ldc as isize,
            1,
        );
    }
}

/// Scaled dot-product attention on token-major tensors (`[batch, tokens, heads, head_dim]`, as the
/// QKV projection writes them), one head at a time: scores = Q·Kᵀ, softmax, P·V.
struct Attention {
    batch: usize,
    heads: usize,
    kv_heads: usize,
    queries: usize,
    keys: usize,
    head_dim: usize,
}

impl Attention {
    fn new(batch: u64, heads: u64, kv_heads: u64, queries: u64, keys: u64, head_dim: u64) -> Attention {
        Attention {
            batch: usize_of(batch),
            heads: usize_of(heads),
            kv_heads: usize_of(kv_heads),
            queries: usize_of(queries),
            keys: usize_of(keys),
            head_dim: usize_of(head_dim),
        }
    }

    #[inline(always)]
    fn run(&self, input: &[f32], out: &mut [f32], scores: &mut [f32], causal: bool) {
        let Attention { batch, heads, kv_heads, queries, keys, head_dim: d } = *self;
        let q_len = batch * queries * heads * d;
        let kv_len = batch * keys * kv_heads * d;
        let (q, rest) = input.split_at(q_len);
        let (k, v) = rest.split_at(kv_len);
        let scale = 1.0 / (d as f32).sqrt();
        let group = heads / kv_heads;
        for b in 0..batch {
            for h in 0..heads {
                let kv = h / group;
                let q_head = &q[b * queries * heads * d + h * d..];
                let k_head = &k[b * keys * kv_heads * d + kv * d..];
                let v_head = &v[b * keys * kv_heads * d + kv * d..];
                // scores[queries × keys] = Q_h · K_hᵀ: K's rows read as columns.
                gemm(queries, keys, d, q_head, (heads * d, 1), k_head, (1, kv_heads * d), scores, keys);
                for (i, row) in scores[..queries * keys].chunks_exact_mut(keys).enumerate() {
                    // Causal rows see keys up to their own position.
                    let visible = if causal { (i + 1).min(keys) } else { keys };
                    for x in row[..visible].iter_mut() {
                        *x *= scale;
                    }
                    softmax_in_place(&mut row[..visible]);
                    row[visible..].fill(0.0);
                }
                let out_head = &mut out[b * queries * heads * d + h * d..];
                gemm(queries, d, keys, scores, (keys, 1), v_head, (kv_heads * d, 1), out_head, heads * d);
            }
        }
    }
}

/// `e^x` in f32 to a few ulp, branch-free so loops over it vectorise: range reduction to
/// `2^n · e^r` with |r| ≤ ln2/2 and a degree-6 Taylor polynomial. `n` is rounded by adding
/// 1.5·2²³, which leaves it in the float's low mantissa bits, from where a shift moves it into the
/// exponent field (no float-to-int conversion, which would not vectorise as well).
#[inline(always)]
pub fn fast_exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0;
    // Not `clamp`: it keeps NaN, which needs extra blend instructions in the vectorised loop.
    #[allow(clippy::manual_clamp)]
    let x = x.max(-87.0).min(88.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(shifted.to_bits().wrapping_add(127) << 23)
}

#[inline(always)]
fn fast_tanh(x: f32) -> f32 {
    1.0 - 2.0 / (fast_exp(2.0 * x) + 1.0)
}

// Plain `for` loops, not `for_each`: an iterator's `fold` may stay out of line, compiled for the
// baseline instead of the AVX2 caller.
#[inline(always)]
fn activation(kind: Activation, x: &[f32], y: &mut [f32]) {
    match kind {
        Activation::Relu => {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = x.max(0.0);
            }
        }
        Activation::Gelu => {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = 0.5 * x * (1.0 + fast_tanh(0.797_884_6 * (x + 0.044_715 * x * x * x)));
            }
        }
        Activation::Silu => {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = x / (1.0 + fast_exp(-x));
            }
        }
        Activation::Tanh => {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = fast_tanh(x);
            }
        }
        Activation::Sigmoid => {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = 1.0 / (1.0 + fast_exp(-x));
            }
        }
    }
}

#[inline(always)]
fn softmax(x: &[f32], y: &mut [f32]) {
    y.copy_from_slice(x);
    softmax_in_place(y);
}

/// Sums in eight lanes: a single running sum is a serial chain the compiler may not reorder (float
/// addition is not associative), which would keep these loops scalar.
#[inline(always)]
fn lane_sum(x: &[f32], term: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|&v| term(v)).sum();
    for chunk in chunks {
        for i in 0..8 {
            lanes[i] += term(chunk[i]);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[inline(always)]
fn lane_max(x: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for chunk in chunks {
        for i in 0..8 {
            lanes[i] = lanes[i].max(chunk[i]);
        }
    }
    lanes.iter().fold(tail, |m, &v| m.max(v))
}

#[inline(always)]
fn softmax_in_place(row: &mut [f32]) {
    let max = lane_max(row);
    for v in row.iter_mut() {
        *v = fast_exp(*v - max);
    }
    let inverse = 1.0 / lane_sum(row, |v| v);
    for v in row.iter_mut() {
        *v *= inverse;
    }
}

#[inline(always)]
fn layer_norm(x: &[f32], scale: &[f32], shift: &[f32], y: &mut [f32]) {
    let n = x.len() as f32;
    let mean = lane_sum(x, |v| v) / n;
    let variance = lane_sum(x, |v| (v - mean) * (v - mean)) / n;
    let inverse = 1.0 / (variance + 1e-12).sqrt();
    for (((y, &x), &g), &b) in y.iter_mut().zip(x).zip(scale).zip(shift) {
        *y = (x - mean) * inverse * g + b;
    }
}

#[inline(always)]
fn rms_norm(x: &[f32], scale: &[f32], y: &mut [f32]) {
    let mean_square = lane_sum(x, |v| v * v) / x.len() as f32;
    let inverse = 1.0 / (mean_square + 1e-6).sqrt();
    for ((y, &x), &g) in y.iter_mut().zip(x).zip(scale) {
        *y = x * inverse * g;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        let timing = Timing { warmup_runs: 1, min_runs: 3, max_runs: 3, min_seconds: 0.0, max_seconds: 1.0 };
        Settings { timing, rotate_bytes: 1 << 20, max_bytes: 1 << 30 }
    }

    fn prepared(op: Op) -> Prepared {
        let mut p = Prepared::new(&op, &settings(), 3).unwrap();
        run_best(&mut p, 1, has_avx2());
        p
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= 1e-4 * (1.0 + b.abs())
    }

    #[test]
    fn fast_exp_is_accurate() {
        for i in -800..=800 {
            let x = i as f32 / 10.0;
            let (fast, exact) = (fast_exp(x), x.exp());
            assert!((fast - exact).abs() <= 5e-7 * exact + f32::MIN_POSITIVE, "{x}: {fast} vs {exact}");
        }
        assert!((fast_tanh(0.5) - 0.5f32.tanh()).abs() < 1e-6);
    }

    #[test]
    fn gemm_matches_naive_loops() {
        let (m, n, k) = (5, 7, 3);
        let p = prepared(Op::Gemm { m: 5, n: 7, k: 3, dtype: DType::F32, weight_params: 0 });
        let (a, b) = (&p.inputs[..], &p.weights[p.weight_len..2 * p.weight_len]);
        for i in 0..m {
            for j in 0..n {
                let expected: f32 = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
                assert!(close(p.output[i * n + j], expected));
            }
        }
        assert!(p.inputs.iter().all(|&v| v.abs() >= 0.5));
    }

    #[test]
    fn attention_matches_naive_loops() {
        // Grouped-query, causal: 4 query heads share 2 KV heads.
        let (batch, heads, kv_heads, seq, d) = (2usize, 4usize, 2usize, 5usize, 3usize);
        let op = Op::AttentionPrefill {
            batch: 2,
            heads: 4,
            kv_heads: 2,
            seq: 5,
            head_dim: 3,
            causal: true,
            dtype: DType::F32,
        };
        let p = prepared(op);
        let set = &p.inputs[..];
        let (q, rest) = set.split_at(batch * seq * heads * d);
        let (k, v) = rest.split_at(batch * seq * kv_heads * d);
        for b in 0..batch {
            for h in 0..heads {
                let g = h / (heads / kv_heads);
                for i in 0..seq {
                    let qi = &q[(b * seq + i) * heads * d + h * d..][..d];
                    let scores: Vec<f32> = (0..=i)
                        .map(|j| {
                            let kj = &k[(b * seq + j) * kv_heads * d + g * d..][..d];
                            qi.iter().zip(kj).map(|(x, y)| x * y).sum::<f32>() / (d as f32).sqrt()
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                    let weights: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
                    let total: f32 = weights.iter().sum();
                    for c in 0..d {
                        let expected: f32 =
                            (0..=i).map(|j| weights[j] / total * v[(b * seq + j) * kv_heads * d + g * d + c]).sum();
                        let got = p.output[(b * seq + i) * heads * d + h * d + c];
                        assert!(close(got, expected), "b{b} h{h} i{i} c{c}: {got} vs {expected}");
                    }
                }
            }
        }
    }

    #[test]
    fn norms_gathers_and_bags_match_their_definitions() {
        let p = prepared(Op::LayerNorm { rows: 2, cols: 8, dtype: DType::F32 });
        let row = &p.output[8..16];
        // Scale and shift are random: undo them and check mean 0, variance 1.
        let normalized: Vec<f32> = (0..8).map(|i| (row[i] - p.params[8 + i]) / p.params[i]).collect();
        assert!(normalized.iter().sum::<f32>().abs() < 1e-4);
        assert!(close(normalized.iter().map(|v| v * v).sum::<f32>() / 8.0, 1.0));

        let p = prepared(Op::EmbeddingBag { bags: 3, bag_size: 4, dim: 5, table_rows: 50, dtype: DType::F32 });
        let indices = &p.indices[12..24];
        for bag in 0..3 {
            for c in 0..5 {
                let expected: f32 = indices[bag * 4..bag * 4 + 4].iter().map(|&r| p.params[r as usize * 5 + c]).sum();
                assert!(close(p.output[bag * 5 + c], expected));
            }
        }

        let p = prepared(Op::Softmax { rows: 3, cols: 6, dtype: DType::F32 });
        for row in p.output.chunks_exact(6) {
            assert!(close(row.iter().sum(), 1.0));
        }
        let p = prepared(Op::Activation { kind: Activation::Silu, elements: 9, dtype: DType::F32 });
        let x = &p.inputs[..9];
        for (y, &x) in p.output.iter().zip(x) {
            assert!(close(*y, x / (1.0 + (-x).exp())));
        }
    }

    #[test]
    fn copies_span_the_rotation_size_within_limits() {
        let s = Settings { rotate_bytes: 8 << 20, ..settings() };
        assert_eq!(s.copies(1 << 20), 8);
        assert_eq!(s.copies(100), 64);
        assert_eq!(s.copies(64 << 20), 1);
        assert!(Prepared::new(&Op::Add { elements: 4, dtype: DType::BF16 }, &s, 1).unwrap_err().contains("fp32 only"));
        let huge = Op::Gemm { m: 100_000, n: 100_000, k: 100_000, dtype: DType::F32, weight_params: 0 };
        assert!(Prepared::new(&huge, &s, 1).unwrap_err().contains("GB of buffers"));
    }

    #[test]
    fn timing_reports_every_run() {
        let mut calls = 0;
        let stat = time_runs(&settings().timing, |_| calls += 1);
        assert_eq!((calls, stat.runs), (4, 3));
        let stat = measure(&Op::Add { elements: 1000, dtype: DType::F32 }, &settings(), 1).unwrap();
        assert!(stat.p10_ns <= stat.median_ns && stat.median_ns <= stat.p90_ns && stat.median_ns > 0.0);
        assert!(measure_batch_overhead(&settings().timing).median_ns > 0.0);
    }
}
