//! The operator catalog: the operators model graphs are made of, with the work they do (FLOPs) and
//! the least memory traffic they need (bytes read and written once each).
//!
//! Conventions, so that figures can be checked by hand:
//! - a multiply-add is 2 FLOPs; GEMM `C[m×n] = A[m×k]·B[k×n]` is `2mnk`;
//! - elementwise costs per element: add and multiply 1, ReLU 1, SiLU 4, GELU 8 (tanh form),
//!   tanh 4, sigmoid 4; softmax 5 (max, subtract, exp, sum, divide); layer norm 8; RMS norm 4;
//! - attention is counted fused (flash-attention style): `QKᵀ` and `PV` GEMMs plus softmax on the
//!   score matrix, reading Q, K, V and writing O once; causal attention does half the work.

use crate::error::KernelError;
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
    BF16,
}

impl DType {
    pub fn bytes(self) -> u64 {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
        }
    }

    pub fn parse(text: &str) -> Option<DType> {
        match text {
            "fp32" => Some(DType::F32),
            "fp16" => Some(DType::F16),
            "bf16" => Some(DType::BF16),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "fp32",
            DType::F16 => "fp16",
            DType::BF16 => "bf16",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    Relu,
    Gelu,
    Silu,
    Tanh,
    Sigmoid,
}

impl Activation {
    fn flops_per_element(self) -> u64 {
        match self {
            Activation::Relu => 1,
            Activation::Gelu => 8,
            Activation::Silu | Activation::Tanh | Activation::Sigmoid => 4,
        }
    }

    const ALL: [Activation; 5] =
        [Activation::Relu, Activation::Gelu, Activation::Silu, Activation::Tanh, Activation::Sigmoid];

    fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Gelu => "gelu",
            Activation::Silu => "silu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `C[m×n] = A[m×k]·B[k×n]`; `B` is a weight when `weight_params` > 0 (its elements plus bias).
    Gemm {
        m: u64,
        n: u64,
        k: u64,
        dtype: DType,
        weight_params: u64,
    },
    /// `batch` independent GEMMs of the same shape, no weights.
    BatchedGemm {
        batch: u64,
        m: u64,
        n: u64,
        k: u64,
        dtype: DType,
    },
    Softmax {
        rows: u64,
        cols: u64,
        dtype: DType,
    },
    /// With a scale and shift of `cols` parameters each.
    LayerNorm {
        rows: u64,
        cols: u64,
        dtype: DType,
    },
    /// With a scale of `cols` parameters.
    RmsNorm {
        rows: u64,
        cols: u64,
        dtype: DType,
    },
    Activation {
        kind: Activation,
        elements: u64,
        dtype: DType,
    },
    /// Elementwise add of two tensors (residuals, bias-free sums).
    Add {
        elements: u64,
        dtype: DType,
    },
    /// Elementwise multiply (gating, rotary embeddings).
    Mul {
        elements: u64,
        dtype: DType,
    },
    /// `lookups` rows of `dim` gathered from a `table_rows × dim` table.
    EmbeddingGather {
        lookups: u64,
        dim: u64,
        table_rows: u64,
        dtype: DType,
    },
    /// `bags` sums of `bag_size` rows each (the recommender case).
    EmbeddingBag {
        bags: u64,
        bag_size: u64,
        dim: u64,
        table_rows: u64,
        dtype: DType,
    },
    /// Attention over a whole sequence.
    AttentionPrefill {
        batch: u64,
        heads: u64,
        kv_heads: u64,
        seq: u64,
        head_dim: u64,
        causal: bool,
        dtype: DType,
    },
    /// One new token per sequence attending to `kv_len` cached ones.
    AttentionDecode {
        batch: u64,
        heads: u64,
        kv_heads: u64,
        kv_len: u64,
        head_dim: u64,
        dtype: DType,
    },
}

impl Op {
    pub fn name(&self) -> String {
        match self {
            Op::Gemm { .. } => "gemm".into(),
            Op::BatchedGemm { .. } => "batched_gemm".into(),
            Op::Softmax { .. } => "softmax".into(),
            Op::LayerNorm { .. } => "layer_norm".into(),
            Op::RmsNorm { .. } => "rms_norm".into(),
            Op::Activation { kind, .. } => kind.name().into(),
            Op::Add { .. } => "add".into(),
            Op::Mul { .. } => "mul".into(),
            Op::EmbeddingGather { .. } => "embedding_gather".into(),
            Op::EmbeddingBag { .. } => "embedding_bag".into(),
            Op::AttentionPrefill { .. } => "attention_prefill".into(),
            Op::AttentionDecode { .. } => "attention_decode".into(),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            Op::Gemm { dtype, .. }
            | Op::BatchedGemm { dtype, .. }
            | Op::Softmax { dtype, .. }
            | Op::LayerNorm { dtype, .. }
            | Op::RmsNorm { dtype, .. }
            | Op::Activation { dtype, .. }
            | Op::Add { dtype, .. }
            | Op::Mul { dtype, .. }
            | Op::EmbeddingGather { dtype, .. }
            | Op::EmbeddingBag { dtype, .. }
            | Op::AttentionPrefill { dtype, .. }
            | Op::AttentionDecode { dtype, .. } => *dtype,
        }
    }

    /// The operator's shape as `key=value` pairs, for profiles and breakdowns.
    pub fn shape(&self) -> String {
        match self {
            Op::Gemm { m, n, k, .. } => format!("m={m} n={n} k={k}"),
            Op::BatchedGemm { batch, m, n, k, .. } => format!("batch={batch} m={m} n={n} k={k}"),
            Op::Softmax { rows, cols, .. } | Op::LayerNorm { rows, cols, .. } | Op::RmsNorm { rows, cols, .. } => {
                format!("rows={rows} cols={cols}")
            }
            Op::Activation { elements, .. } | Op::Add { elements, .. } | Op::Mul { elements, .. } => {
                format!("elements={elements}")
            }
            Op::EmbeddingGather { lookups, dim, table_rows, .. } => {
                format!("lookups={lookups} dim={dim} table={table_rows}")
            }
            Op::EmbeddingBag { bags, bag_size, dim, table_rows, .. } => {
                format!("bags={bags} bag_size={bag_size} dim={dim} table={table_rows}")
            }
            Op::AttentionPrefill { batch, heads, kv_heads, seq, head_dim, causal, .. } => {
                format!("batch={batch} heads={heads} kv_heads={kv_heads} seq={seq} head_dim={head_dim} causal={causal}")
            }
            Op::AttentionDecode { batch, heads, kv_heads, kv_len, head_dim, .. } => {
                format!("batch={batch} heads={heads} kv_heads={kv_heads} kv_len={kv_len} head_dim={head_dim}")
            }
        }
    }

    /// The inverse of (`name`, `shape`, `dtype`): reads an operator back from a profile row.
    pub fn parse(name: &str, shape: &str, dtype: &str) -> Result<Op, KernelError> {
        Op::parse_fields(name, shape, dtype).map_err(KernelError::Shape)
    }

    fn parse_fields(name: &str, shape: &str, dtype: &str) -> Result<Op, String> {
        let dtype = DType::parse(dtype).ok_or_else(|| format!("unknown dtype {dtype:?}; use fp32, fp16 or bf16"))?;
        let mut fields: Vec<(&str, &str)> = Vec::new();
        for pair in shape.split_whitespace() {
            let (key, value) = pair.split_once('=').ok_or_else(|| format!("shape field {pair:?} is not key=value"))?;
            fields.push((key, value));
        }
        let get = |key: &str| -> Result<u64, String> {
            let value = fields
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .ok_or_else(|| format!("{name} needs `{key}=` in its shape"))?;
            match value.parse::<u64>() {
                Ok(0) | Err(_) => Err(format!("{key}={value} must be a positive integer")),
                Ok(n) => Ok(n),
            }
        };
        let op = match name {
            "gemm" => Op::Gemm { m: get("m")?, n: get("n")?, k: get("k")?, dtype, weight_params: 0 },
            "batched_gemm" => Op::BatchedGemm { batch: get("batch")?, m: get("m")?, n: get("n")?, k: get("k")?, dtype },
            "softmax" => Op::Softmax { rows: get("rows")?, cols: get("cols")?, dtype },
            "layer_norm" => Op::LayerNorm { rows: get("rows")?, cols: get("cols")?, dtype },
            "rms_norm" => Op::RmsNorm { rows: get("rows")?, cols: get("cols")?, dtype },
            "add" => Op::Add { elements: get("elements")?, dtype },
            "mul" => Op::Mul { elements: get("elements")?, dtype },
            "embedding_gather" => {
                Op::EmbeddingGather { lookups: get("lookups")?, dim: get("dim")?, table_rows: get("table")?, dtype }
            }
            "embedding_bag" => Op::EmbeddingBag {
                bags: get("bags")?,
                bag_size: get("bag_size")?,
                dim: get("dim")?,
                table_rows: get("table")?,
                dtype,
            },
            "attention_prefill" => {
                let causal = match fields.iter().find(|(k, _)| *k == "causal").map(|(_, v)| *v) {
                    Some("true") => true,
                    Some("false") => false,
                    _ => return Err("attention_prefill needs `causal=true` or `causal=false`".into()),
                };
                Op::AttentionPrefill {
                    batch: get("batch")?,
                    heads: get("heads")?,
                    kv_heads: get("kv_heads")?,
                    seq: get("seq")?,
                    head_dim: get("head_dim")?,
                    causal,
                    dtype,
                }
            }
            "attention_decode" => Op::AttentionDecode {
                batch: get("batch")?,
                heads: get("heads")?,
                kv_heads: get("kv_heads")?,
                kv_len: get("kv_len")?,
                head_dim: get("head_dim")?,
                dtype,
            },
            other => match Activation::ALL.iter().find(|a| a.name() == other) {
                Some(&kind) => Op::Activation { kind, elements: get("elements")?, dtype },
                None => return Err(format!("unknown operator {other:?}")),
            },
        };
        let canonical = op.shape();
        let known: Vec<&str> =
            canonical.split_whitespace().filter_map(|pair| pair.split_once('=')).map(|(k, _)| k).collect();
        if fields.len() != known.len() || fields.iter().any(|(k, _)| !known.contains(k)) {
            return Err(format!("shape {shape:?} has fields {name} does not take (it takes: {})", known.join(", ")));
        }
        if let Op::AttentionPrefill { heads, kv_heads, .. } | Op::AttentionDecode { heads, kv_heads, .. } = op {
            if heads % kv_heads != 0 {
                return Err(format!("heads={heads} must be a multiple of kv_heads={kv_heads}"));
            }
        }
        Ok(op)
    }

    /// The operator without its weight bookkeeping: what a profiler measures (a GEMM costs the
    /// same whether its `B` is a weight or an activation).
    pub fn kernel(&self) -> Op {
        match self {
            Op::Gemm { m, n, k, dtype, .. } => Op::Gemm { m: *m, n: *n, k: *k, dtype: *dtype, weight_params: 0 },
            other => other.clone(),
        }
    }

    pub fn flops(&self) -> u64 {
        match *self {
            Op::Gemm { m, n, k, .. } => 2 * m * n * k,
            Op::BatchedGemm { batch, m, n, k, .. } => 2 * batch * m * n * k,
            Op::Softmax { rows, cols, .. } => 5 * rows * cols,
            Op::LayerNorm { rows, cols, .. } => 8 * rows * cols,
            Op::RmsNorm { rows, cols, .. } => 4 * rows * cols,
            Op::Activation { kind, elements, .. } => kind.flops_per_element() * elements,
            Op::Add { elements, .. } | Op::Mul { elements, .. } => elements,
            Op::EmbeddingGather { .. } => 0,
            Op::EmbeddingBag { bags, bag_size, dim, .. } => bags * bag_size.saturating_sub(1) * dim,
            Op::AttentionPrefill { batch, heads, seq, head_dim, causal, .. } => {
                let full = 4 * batch * heads * seq * seq * head_dim + 5 * batch * heads * seq * seq;
                if causal {
                    full / 2
                } else {
                    full
                }
            }
            Op::AttentionDecode { batch, heads, kv_len, head_dim, .. } => {
                4 * batch * heads * kv_len * head_dim + 5 * batch * heads * kv_len
            }
        }
    }

    /// Parameters the operator owns (weights and biases, norm scales).
    pub fn params(&self) -> u64 {
        match *self {
            Op::Gemm { weight_params, .. } => weight_params,
            Op::LayerNorm { cols, .. } => 2 * cols,
            Op::RmsNorm { cols, .. } => cols,
            Op::EmbeddingGather { dim, table_rows, .. } | Op::EmbeddingBag { dim, table_rows, .. } => dim * table_rows,
            _ => 0,
        }
    }

    /// Bytes of the inputs and outputs that are not weights: the activation memory the operator
    /// needs live while it runs.
    pub fn activation_bytes(&self) -> u64 {
        let weights_read = match *self {
            Op::Gemm { weight_params, .. } => weight_params,
            Op::LayerNorm { .. } | Op::RmsNorm { .. } => self.params(),
            _ => 0,
        };
        self.bytes() - weights_read * self.dtype().bytes()
    }

    /// Least bytes moved: inputs and outputs once, weights once (whole tables are not read by a
    /// gather: only the looked-up rows are).
    pub fn bytes(&self) -> u64 {
        let b = self.dtype().bytes();
        let elements = match *self {
            Op::Gemm { m, n, k, weight_params, .. } => {
                m * k + m * n + if weight_params > 0 { weight_params } else { k * n }
            }
            Op::BatchedGemm { batch, m, n, k, .. } => batch * (m * k + k * n + m * n),
            Op::Softmax { rows, cols, .. } | Op::LayerNorm { rows, cols, .. } | Op::RmsNorm { rows, cols, .. } => {
                2 * rows * cols + self.params()
            }
            Op::Activation { elements, .. } => 2 * elements,
            Op::Add { elements, .. } | Op::Mul { elements, .. } => 3 * elements,
            Op::EmbeddingGather { lookups, dim, .. } => 2 * lookups * dim,
            Op::EmbeddingBag { bags, bag_size, dim, .. } => bags * bag_size * dim + bags * dim,
            Op::AttentionPrefill { batch, heads, kv_heads, seq, head_dim, .. } => {
                batch * seq * head_dim * (2 * heads + 2 * kv_heads)
            }
            Op::AttentionDecode { batch, heads, kv_heads, kv_len, head_dim, .. } => {
                batch * head_dim * (2 * heads + 2 * kv_heads * kv_len)
            }
        };
        elements * b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_the_conventions() {
        let gemm = Op::Gemm { m: 128, n: 768, k: 768, dtype: DType::F16, weight_params: 768 * 768 + 768 };
        assert_eq!(gemm.flops(), 2 * 128 * 768 * 768);
        assert_eq!(gemm.bytes(), 2 * (128 * 768 + 128 * 768 + 768 * 768 + 768));
        let attention = Op::AttentionPrefill {
            batch: 2,
            heads: 12,
            kv_heads: 12,
            seq: 128,
            head_dim: 64,
            causal: false,
            dtype: DType::F16,
        };
        // QKᵀ and PV: 2 × (2 · 128 · 128 · 64) per head, plus 5 per score.
        assert_eq!(attention.flops(), 2 * 12 * (4 * 128 * 128 * 64 + 5 * 128 * 128));
        let causal = Op::AttentionPrefill {
            batch: 2,
            heads: 12,
            kv_heads: 12,
            seq: 128,
            head_dim: 64,
            causal: true,
            dtype: DType::F16,
        };
        assert_eq!(causal.flops() * 2, attention.flops());
        let bag = Op::EmbeddingBag { bags: 4, bag_size: 3, dim: 8, table_rows: 1000, dtype: DType::F32 };
        assert_eq!(bag.flops(), 4 * 2 * 8);
        assert_eq!(bag.bytes(), 4 * (4 * 3 * 8 + 4 * 8));
        assert_eq!(bag.params(), 8000);
    }

    #[test]
    fn operators_read_back_from_their_name_shape_and_dtype() {
        let ops = [
            Op::Gemm { m: 3, n: 5, k: 7, dtype: DType::BF16, weight_params: 0 },
            Op::BatchedGemm { batch: 2, m: 3, n: 5, k: 7, dtype: DType::F32 },
            Op::Softmax { rows: 4, cols: 9, dtype: DType::F16 },
            Op::LayerNorm { rows: 4, cols: 9, dtype: DType::F32 },
            Op::RmsNorm { rows: 4, cols: 9, dtype: DType::F32 },
            Op::Activation { kind: Activation::Gelu, elements: 10, dtype: DType::F32 },
            Op::Activation { kind: Activation::Sigmoid, elements: 10, dtype: DType::F32 },
            Op::Add { elements: 10, dtype: DType::F32 },
            Op::Mul { elements: 10, dtype: DType::F32 },
            Op::EmbeddingGather { lookups: 8, dim: 4, table_rows: 100, dtype: DType::F32 },
            Op::EmbeddingBag { bags: 2, bag_size: 3, dim: 4, table_rows: 100, dtype: DType::F32 },
            Op::AttentionPrefill {
                batch: 1,
                heads: 8,
                kv_heads: 2,
                seq: 16,
                head_dim: 4,
                causal: true,
                dtype: DType::F32,
            },
            Op::AttentionDecode { batch: 1, heads: 8, kv_heads: 8, kv_len: 16, head_dim: 4, dtype: DType::F32 },
        ];
        for op in ops {
            assert_eq!(Op::parse(&op.name(), &op.shape(), op.dtype().name()), Ok(op.clone()), "{}", op.shape());
        }
        assert!(Op::parse("gemm", "m=1 n=2", "fp32").unwrap_err().to_string().contains("k="));
        assert!(Op::parse("gemm", "m=1 n=2 k=0", "fp32").unwrap_err().to_string().contains("positive"));
        assert!(Op::parse("gemm", "m=1 n=2 k=3 z=4", "fp32").unwrap_err().to_string().contains("does not take"));
        assert!(Op::parse("gemm", "m=1 n=2 k=3", "int4").unwrap_err().to_string().contains("dtype"));
        assert!(Op::parse("conv", "m=1", "fp32").unwrap_err().to_string().contains("unknown operator"));
    }
}
