//! Model graphs of real architectures, from their public configs, expanded into operator
//! sequences for a batch size and sequence length. Each graph reports FLOPs, bytes moved and
//! weight memory, so that fit per device can be checked.

use crate::ops::{Activation, DType, Op};

/// A BERT-family encoder, as in the Hugging Face config of each checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Encoder {
    pub layers: u64,
    pub hidden: u64,
    pub heads: u64,
    pub intermediate: u64,
    pub vocab: u64,
    pub max_positions: u64,
    /// Token-type (segment) embeddings; 0 for DistilBERT.
    pub type_vocab: u64,
    /// BERT's pooler (a dense layer and tanh on the first token).
    pub pooler: bool,
    /// Sequence-classification head: (pre-classifier dense, labels); DistilBERT SST-2 has both.
    pub classifier: Option<(bool, u64)>,
}

/// A Llama-style decoder (grouped-query attention, SwiGLU, RMS norm, untied embeddings).
#[derive(Clone, Debug, PartialEq)]
pub struct Decoder {
    pub layers: u64,
    pub hidden: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub intermediate: u64,
    pub vocab: u64,
    /// Context length the model was trained for (`max_position_embeddings`, or the shorter
    /// length its serving defaults use).
    pub context: u64,
}

/// A DLRM-style recommender: dense features through a bottom MLP, one embedding table per sparse
/// feature, pairwise dot-product interaction, top MLP.
#[derive(Clone, Debug, PartialEq)]
pub struct Recommender {
    pub dense_features: u64,
    pub bottom_mlp: Vec<u64>,
    pub tables: u64,
    pub table_rows: u64,
    pub embedding_dim: u64,
    /// Rows summed per table per request (1 for one-hot features).
    pub pooling: u64,
    pub top_mlp: Vec<u64>,
}

/// A plain MLP on tabular features.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    pub inputs: u64,
    pub hidden: Vec<u64>,
    pub outputs: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Architecture {
    Encoder(Encoder),
    Decoder(Decoder),
    Recommender(Recommender),
    Mlp(Mlp),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    pub name: &'static str,
    /// Where the configuration comes from.
    pub source: &'static str,
    pub architecture: Architecture,
}

/// The catalog's models.
pub fn catalog() -> Vec<ModelSpec> {
    let bert_like = |layers, hidden, heads, intermediate, type_vocab, pooler, classifier| Encoder {
        layers,
        hidden,
        heads,
        intermediate,
        vocab: 30522,
        max_positions: 512,
        type_vocab,
        pooler,
        classifier,
    };
    vec![
        ModelSpec {
            name: "bert-base-uncased",
            source: "Hugging Face config.json of bert-base-uncased (12 layers, 768 hidden, 12 heads, 3072 intermediate)",
            architecture: Architecture::Encoder(bert_like(12, 768, 12, 3072, 2, true, None)),
        },
        ModelSpec {
            name: "bert-large-uncased",
            source: "Hugging Face config.json of bert-large-uncased (24 layers, 1024 hidden, 16 heads, 4096 intermediate)",
            architecture: Architecture::Encoder(bert_like(24, 1024, 16, 4096, 2, true, None)),
        },
        ModelSpec {
            name: "distilbert-base-uncased",
            source: "Hugging Face config.json of distilbert-base-uncased-finetuned-sst-2-english (6 layers, 768 dim, 12 heads, 3072 hidden, 2 labels)",
            architecture: Architecture::Encoder(bert_like(6, 768, 12, 3072, 0, false, Some((true, 2)))),
        },
        ModelSpec {
            name: "all-MiniLM-L6-v2",
            source: "Hugging Face config.json of sentence-transformers/all-MiniLM-L6-v2 (6 layers, 384 hidden, 12 heads, 1536 intermediate)",
            architecture: Architecture::Encoder(bert_like(6, 384, 12, 1536, 2, true, None)),
        },
        ModelSpec {
            name: "dlrm-criteo-style",
            source: "servesim's DLRM-style config, not a published checkpoint: Criteo's 13 dense and 26 sparse features, \
                     100 000-row tables of dim 64, bottom MLP 13-512-256-64, top MLP 415-512-256-1 (DLRM paper layout)",
            architecture: Architecture::Recommender(Recommender {
                dense_features: 13,
                bottom_mlp: vec![512, 256, 64],
                tables: 26,
                table_rows: 100_000,
                embedding_dim: 64,
                pooling: 1,
                top_mlp: vec![512, 256, 1],
            }),
        },
        ModelSpec {
            name: "mlp-churn",
            source: "servesim's churn scorer: 64 tabular features, hidden layers 256 and 128, one sigmoid output",
            architecture: Architecture::Mlp(Mlp { inputs: 64, hidden: vec![256, 128], outputs: 1 }),
        },
        ModelSpec {
            name: "llama-3-8b",
            source: "Hugging Face config.json of meta-llama/Meta-Llama-3-8B (32 layers, 4096 hidden, 32 heads, 8 KV heads, 14336 intermediate, 128256 vocab)",
            architecture: Architecture::Decoder(Decoder {
                layers: 32,
                hidden: 4096,
                heads: 32,
                kv_heads: 8,
                intermediate: 14336,
                vocab: 128_256,
                context: 8192,
            }),
        },
        ModelSpec {
            name: "qwen2.5-7b",
            source: "Hugging Face config.json of Qwen/Qwen2.5-7B-Instruct (28 layers, 3584 hidden, 28 heads, 4 KV heads, 18944 intermediate, 152064 vocab, untied; 32768 context without YaRN)",
            architecture: Architecture::Decoder(Decoder {
                layers: 28,
                hidden: 3584,
                heads: 28,
                kv_heads: 4,
                intermediate: 18944,
                vocab: 152_064,
                context: 32_768,
            }),
        },
        ModelSpec {
            name: "mistral-7b",
            source: "Hugging Face config.json of mistralai/Mistral-7B-v0.1 (32 layers, 4096 hidden, 32 heads, 8 KV heads, 14336 intermediate, 32000 vocab, 32768 positions)",
            architecture: Architecture::Decoder(Decoder {
                layers: 32,
                hidden: 4096,
                heads: 32,
                kv_heads: 8,
                intermediate: 14336,
                vocab: 32_000,
                context: 32_768,
            }),
        },
    ]
}

pub fn find(name: &str) -> Option<ModelSpec> {
    catalog().into_iter().find(|m| m.name.eq_ignore_ascii_case(name))
}

/// What one forward pass does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// A whole request at once (encoders, recommenders, MLPs; a decoder's prompt).
    Prefill,
    /// One decoder step with `kv_len` tokens already cached.
    Decode { kv_len: u64 },
}

/// A model expanded into operators.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    pub ops: Vec<Op>,
}

impl Graph {
    pub fn flops(&self) -> u64 {
        self.ops.iter().map(Op::flops).sum()
    }
    pub fn bytes(&self) -> u64 {
        self.ops.iter().map(Op::bytes).sum()
    }
    pub fn params(&self) -> u64 {
        self.ops.iter().map(Op::params).sum()
    }
    pub fn weight_bytes(&self) -> u64 {
        self.ops.iter().map(|op| op.params() * op.dtype().bytes()).sum()
    }
    /// Activation memory at the engine's peak, estimated as the largest operator's inputs and
    /// outputs (weights excluded): what an engine that reuses buffers between layers (TensorRT,
    /// ONNX Runtime's arena) must hold at least.
    pub fn peak_activation_bytes(&self) -> u64 {
        self.ops.iter().map(Op::activation_bytes).max().unwrap_or(0)
    }
}

fn dense(m: u64, inputs: u64, outputs: u64, dtype: DType) -> Op {
    Op::Gemm { m, n: outputs, k: inputs, dtype, weight_params: inputs * outputs + outputs }
}

fn encoder(e: &Encoder, batch: u64, seq: u64, dtype: DType) -> Vec<Op> {
    let tokens = batch * seq;
    let h = e.hidden;
    let mut ops = vec![
        Op::EmbeddingGather { lookups: tokens, dim: h, table_rows: e.vocab, dtype },
        Op::EmbeddingGather { lookups: tokens, dim: h, table_rows: e.max_positions, dtype },
        Op::Add { elements: tokens * h, dtype },
    ];
    if e.type_vocab > 0 {
        ops.push(Op::EmbeddingGather { lookups: tokens, dim: h, table_rows: e.type_vocab, dtype });
        ops.push(Op::Add { elements: tokens * h, dtype });
    }
    ops.push(Op::LayerNorm { rows: tokens, cols: h, dtype });
    for _ in 0..e.layers {
        ops.extend([
            dense(tokens, h, 3 * h, dtype),
            Op::AttentionPrefill {
                batch,
                heads: e.heads,
                kv_heads: e.heads,
                seq,
                head_dim: h / e.heads,
                causal: false,
                dtype,
            },
            dense(tokens, h, h, dtype),
            Op::Add { elements: tokens * h, dtype },
            Op::LayerNorm { rows: tokens, cols: h, dtype },
            dense(tokens, h, e.intermediate, dtype),
            Op::Activation { kind: Activation::Gelu, elements: tokens * e.intermediate, dtype },
            dense(tokens, e.intermediate, h, dtype),
            Op::Add { elements: tokens * h, dtype },
            Op::LayerNorm { rows: tokens, cols: h, dtype },
        ]);
    }
    if e.pooler {
        ops.push(dense(batch, h, h, dtype));
        ops.push(Op::Activation { kind: Activation::Tanh, elements: batch * h, dtype });
    }
    if let Some((pre_classifier, labels)) = e.classifier {
        if pre_classifier {
            ops.push(dense(batch, h, h, dtype));
            ops.push(Op::Activation { kind: Activation::Relu, elements: batch * h, dtype });
        }
        ops.push(dense(batch, h, labels, dtype));
        ops.push(Op::Softmax { rows: batch, cols: labels, dtype });
    }
    ops
}

fn decoder(d: &Decoder, batch: u64, seq: u64, pass: Pass, dtype: DType) -> Vec<Op> {
    let head_dim = d.hidden / d.heads;
    let kv = d.kv_heads * head_dim;
    // Prefill runs the prompt; decode one new token per sequence.
    let tokens = match pass {
        Pass::Prefill => batch * seq,
        Pass::Decode { .. } => batch,
    };
    let h = d.hidden;
    let mut ops = vec![Op::EmbeddingGather { lookups: tokens, dim: h, table_rows: d.vocab, dtype }];
    for _ in 0..d.layers {
        ops.push(Op::RmsNorm { rows: tokens, cols: h, dtype });
        ops.push(Op::Gemm { m: tokens, n: h + 2 * kv, k: h, dtype, weight_params: h * (h + 2 * kv) });
        // Rotary position embeddings on queries and keys.
        ops.push(Op::Mul { elements: tokens * (h + kv), dtype });
        ops.push(match pass {
            Pass::Prefill => {
                Op::AttentionPrefill { batch, heads: d.heads, kv_heads: d.kv_heads, seq, head_dim, causal: true, dtype }
            }
            Pass::Decode { kv_len } => {
                Op::AttentionDecode { batch, heads: d.heads, kv_heads: d.kv_heads, kv_len, head_dim, dtype }
            }
        });
        ops.push(Op::Gemm { m: tokens, n: h, k: h, dtype, weight_params: h * h });
        ops.push(Op::Add { elements: tokens * h, dtype });
        ops.push(Op::RmsNorm { rows: tokens, cols: h, dtype });
        ops.push(Op::Gemm { m: tokens, n: 2 * d.intermediate, k: h, dtype, weight_params: 2 * h * d.intermediate });
        ops.push(Op::Activation { kind: Activation::Silu, elements: tokens * d.intermediate, dtype });
        ops.push(Op::Mul { elements: tokens * d.intermediate, dtype });
        ops.push(Op::Gemm { m: tokens, n: h, k: d.intermediate, dtype, weight_params: h * d.intermediate });
        ops.push(Op::Add { elements: tokens * h, dtype });
    }
    ops.push(Op::RmsNorm { rows: tokens, cols: h, dtype });
    // Serving needs logits for the last position of each sequence only.
    ops.push(Op::Gemm { m: batch, n: d.vocab, k: h, dtype, weight_params: h * d.vocab });
    ops
}

fn mlp(m: u64, inputs: u64, layers: &[u64], last: Activation, dtype: DType) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut width = inputs;
    for (i, &out) in layers.iter().enumerate() {
        ops.push(dense(m, width, out, dtype));
        let kind = if i + 1 == layers.len() { last } else { Activation::Relu };
        ops.push(Op::Activation { kind, elements: m * out, dtype });
        width = out;
    }
    ops
}

fn recommender(r: &Recommender, batch: u64, dtype: DType) -> Vec<Op> {
    let mut ops = mlp(batch, r.dense_features, &r.bottom_mlp, Activation::Relu, dtype);
    for _ in 0..r.tables {
        ops.push(Op::EmbeddingBag {
            bags: batch,
            bag_size: r.pooling,
            dim: r.embedding_dim,
            table_rows: r.table_rows,
            dtype,
        });
    }
    // Dot products among the bottom MLP's output and the embeddings (27 vectors for Criteo).
    let vectors = r.tables + 1;
    ops.push(Op::BatchedGemm { batch, m: vectors, n: vectors, k: r.embedding_dim, dtype });
    let interactions = vectors * (vectors - 1) / 2 + r.embedding_dim;
    ops.extend(mlp(batch, interactions, &r.top_mlp, Activation::Sigmoid, dtype));
    ops
}

impl ModelSpec {
    /// The operators of one forward pass over `batch` requests of `seq` tokens (ignored by models
    /// without sequences).
    pub fn graph(&self, batch: u64, seq: u64, pass: Pass, dtype: DType) -> Graph {
        let ops = match &self.architecture {
            Architecture::Encoder(e) => encoder(e, batch, seq, dtype),
            Architecture::Decoder(d) => decoder(d, batch, seq, pass, dtype),
            Architecture::Recommender(r) => recommender(r, batch, dtype),
            Architecture::Mlp(m) => {
                let mut layers = m.hidden.clone();
                layers.push(m.outputs);
                mlp(batch, m.inputs, &layers, Activation::Sigmoid, dtype)
            }
        };
        Graph { ops }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(name: &str) -> u64 {
        find(name).unwrap().graph(1, 8, Pass::Prefill, DType::F16).params()
    }

    #[test]
    fn parameter_counts_match_the_published_checkpoints() {
        // Hugging Face model cards / num_parameters() of each checkpoint.
        assert_eq!(params("bert-base-uncased"), 109_482_240);
        assert_eq!(params("bert-large-uncased"), 335_141_888);
        assert_eq!(params("distilbert-base-uncased"), 66_955_010);
        assert_eq!(params("all-MiniLM-L6-v2"), 22_713_216);
        assert_eq!(params("llama-3-8b"), 8_030_261_248);
    }

    #[test]
    fn parameter_counts_of_servesims_own_configs_by_hand() {
        // DLRM-style: 26 × 100 000 × 64 embeddings; bottom 13·512+512 + 512·256+256 + 256·64+64;
        // top: 27·26/2 + 64 = 415 inputs, 415·512+512 + 512·256+256 + 256+1.
        let embeddings = 26 * 100_000 * 64;
        let bottom = 13 * 512 + 512 + 512 * 256 + 256 + 256 * 64 + 64;
        let top = 415 * 512 + 512 + 512 * 256 + 256 + 256 + 1;
        assert_eq!(params("dlrm-criteo-style"), embeddings + bottom + top);
        assert_eq!(params("mlp-churn"), 64 * 256 + 256 + 256 * 128 + 128 + 128 + 1);
    }

    #[test]
    fn flops_of_bert_base_by_hand() {
        // Per layer at T tokens: 2·T·(4h² + 2·h·i) for the dense layers, 4·b·heads·s²·d + 5·b·heads·s²
        // for attention; batch 1, seq 128.
        let (t, h, i, heads, s, d) = (128u64, 768u64, 3072u64, 12u64, 128u64, 64u64);
        let dense_per_layer = 2 * t * (4 * h * h + 2 * h * i);
        let attention_per_layer = 4 * heads * s * s * d + 5 * heads * s * s;
        let graph = find("bert-base-uncased").unwrap().graph(1, 128, Pass::Prefill, DType::F16);
        let gemm_and_attention: u64 = graph
            .ops
            .iter()
            .filter(|op| matches!(op, Op::Gemm { m: 128, .. } | Op::AttentionPrefill { .. }))
            .map(Op::flops)
            .sum();
        assert_eq!(gemm_and_attention, 12 * (dense_per_layer + attention_per_layer));
        // ≈ 22.5 GFLOPs for the dense layers alone: 2 × 85 M layer weights × 128 tokens.
        assert!((graph.flops() as f64 / 22.9e9 - 1.0).abs() < 0.05, "{}", graph.flops());
        assert_eq!(graph.weight_bytes(), 2 * 109_482_240);
    }

    #[test]
    fn flops_and_bytes_of_the_small_models_by_hand() {
        // mlp-churn, batch 8, fp32: three dense layers 64-256-128-1, ReLU, ReLU, sigmoid.
        let graph = find("mlp-churn").unwrap().graph(8, 1, Pass::Prefill, DType::F32);
        let dense = 2 * 8 * (64 * 256 + 256 * 128 + 128);
        let activations = 8 * (256 + 128) + 4 * 8;
        assert_eq!(graph.flops(), dense + activations);
        // Bytes: each GEMM reads its input and weights (with bias) and writes its output; each
        // activation reads and writes its tensor once.
        let gemm_bytes =
            4 * ((8 * 64 + 64 * 256 + 256 + 8 * 256) + (8 * 256 + 256 * 128 + 128 + 8 * 128) + (8 * 128 + 129 + 8));
        let activation_bytes = 4 * 2 * 8 * (256 + 128 + 1);
        assert_eq!(graph.bytes(), gemm_bytes + activation_bytes);
        // DLRM-style, batch 4: MLPs as above, 26 bags of 1 row (no adds), and the interaction's
        // 27 × 27 dot products of length 64 per sample.
        let graph = find("dlrm-criteo-style").unwrap().graph(4, 1, Pass::Prefill, DType::F32);
        let bottom = 2 * 4 * (13 * 512 + 512 * 256 + 256 * 64) + 4 * (512 + 256 + 64);
        let interaction = 2 * 4 * 27 * 27 * 64;
        let top = 2 * 4 * (415 * 512 + 512 * 256 + 256) + 4 * (512 + 256) + 4 * 4;
        let bags: u64 = graph.ops.iter().filter(|op| matches!(op, Op::EmbeddingBag { .. })).map(Op::flops).sum();
        assert_eq!(graph.flops(), bottom + interaction + top + bags);
    }

    #[test]
    fn llama_decode_is_memory_bound_and_prefill_is_not() {
        let llama = find("llama-3-8b").unwrap();
        let decode = llama.graph(1, 1, Pass::Decode { kv_len: 1024 }, DType::BF16);
        let prefill = llama.graph(1, 1024, Pass::Prefill, DType::BF16);
        // One decode step reads every weight but the embedding table (gathered: one row) once —
        // (8.03 G − 0.53 G) × 2 bytes ≈ 15.0 GB — plus the KV cache, for ~15 GFLOPs.
        let weights_read = (8_030_261_248u64 - 128_256 * 4096) * 2;
        assert!(decode.bytes() > weights_read && decode.bytes() < weights_read + 200_000_000, "{}", decode.bytes());
        let decode_intensity = decode.flops() as f64 / decode.bytes() as f64;
        let prefill_intensity = prefill.flops() as f64 / prefill.bytes() as f64;
        assert!(decode_intensity < 2.0, "{decode_intensity}");
        assert!(prefill_intensity > 300.0, "{prefill_intensity}");
        // Decode FLOPs: 2 per multiplied weight (all but the gathered embedding table and the norm
        // scales, 2 × 32 × 4096 + 4096) plus attention over 1024 cached tokens in 32 layers; the
        // elementwise work is under 0.1% of it.
        let multiplied = 8_030_261_248u64 - 128_256 * 4096 - (2 * 32 * 4096 + 4096);
        let attention = 32 * (4 * 32 * 1024 * 128 + 5 * 32 * 1024);
        let expected = 2 * multiplied + attention;
        assert!((decode.flops() as f64 / expected as f64 - 1.0).abs() < 0.001, "{} vs {expected}", decode.flops());
    }
}
