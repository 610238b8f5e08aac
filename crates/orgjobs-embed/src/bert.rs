//! The BERT encoder (as in Devlin et al., 2019, and Hugging Face's
//! `BertModel`), inference only, on candle's tensors and layers.
//!
//! Written here rather than taken from candle-transformers: that crate
//! compiles some hundred models and added about 70 s to every cold build of
//! the workspace, for the 120 lines below. The reference test
//! (`tests/reference.rs`) holds it to sentence-transformers' output.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder, embedding, layer_norm, linear};
use serde::Deserialize;

/// The fields of a BERT `config.json` this encoder uses.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    /// Word pieces in the vocabulary.
    pub vocab_size: usize,
    /// The width of every hidden state.
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// The width of the feed-forward layer.
    pub intermediate_size: usize,
    /// The feed-forward activation; only `gelu` (the exact, erf form).
    pub hidden_act: String,
    /// Positions the model knows.
    pub max_position_embeddings: usize,
    /// Segment types (2 for BERT).
    pub type_vocab_size: usize,
    /// Layer normalisation's epsilon.
    pub layer_norm_eps: f64,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// The encoder: embeddings, then the layers; its output is the last hidden
/// states.
pub struct Bert {
    words: Embedding,
    positions: Embedding,
    types: Embedding,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_size: usize,
}

impl Bert {
    /// Reads the weights (Hugging Face's names, without a `bert.` prefix).
    pub fn load(vb: VarBuilder, c: &Config) -> Result<Bert> {
        if c.hidden_act != "gelu" {
            candle_core::bail!(
                "hidden_act {:?} is not supported; expected \"gelu\"",
                c.hidden_act
            );
        }
        if c.num_attention_heads == 0 || c.hidden_size % c.num_attention_heads != 0 {
            candle_core::bail!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                c.hidden_size,
                c.num_attention_heads
            );
        }
        let h = c.hidden_size;
        let eps = c.layer_norm_eps;
        let e = vb.pp("embeddings");
        let layers = (0..c.num_hidden_layers)
            .map(|i| {
                let l = vb.pp(format!("encoder.layer.{i}"));
                let a = l.pp("attention");
                Ok(Layer {
                    query: linear(h, h, a.pp("self.query"))?,
                    key: linear(h, h, a.pp("self.key"))?,
                    value: linear(h, h, a.pp("self.value"))?,
                    attention_out: linear(h, h, a.pp("output.dense"))?,
                    attention_norm: layer_norm(h, eps, a.pp("output.LayerNorm"))?,
                    intermediate: linear(h, c.intermediate_size, l.pp("intermediate.dense"))?,
                    output: linear(c.intermediate_size, h, l.pp("output.dense"))?,
                    output_norm: layer_norm(h, eps, l.pp("output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Bert {
            words: embedding(c.vocab_size, h, e.pp("word_embeddings"))?,
            positions: embedding(c.max_position_embeddings, h, e.pp("position_embeddings"))?,
            types: embedding(c.type_vocab_size, h, e.pp("token_type_embeddings"))?,
            embedding_norm: layer_norm(h, eps, e.pp("LayerNorm"))?,
            layers,
            heads: c.num_attention_heads,
            head_size: h / c.num_attention_heads,
        })
    }

    /// The last hidden states, `(batch, tokens, hidden)`, of `ids` (`(batch,
    /// tokens)`, u32), where `mask` (same shape, 1 for a real token, 0 for
    /// padding) keeps attention off the padding. Every token is of segment
    /// type 0.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (batch, len) = ids.dims2()?;
        let positions = Tensor::arange(0u32, len as u32, ids.device())?;
        let mut x = self
            .words
            .forward(ids)?
            .broadcast_add(&self.positions.forward(&positions)?)?
            .broadcast_add(&self.types.forward(&positions.zeros_like()?)?)?;
        x = self.embedding_norm.forward(&x)?;
        // 0 where attention may go, a large negative number where it may
        // not, broadcast over heads and query positions.
        let bias = ((mask.to_dtype(DType::F32)? - 1.0)? * 1e9)?.reshape((batch, 1, 1, len))?;
        let scale = 1.0 / (self.head_size as f64).sqrt();
        for l in &self.layers {
            let split = |t: Tensor| -> Result<Tensor> {
                t.reshape((batch, len, self.heads, self.head_size))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let q = split(l.query.forward(&x)?)?;
            let k = split(l.key.forward(&x)?)?;
            let v = split(l.value.forward(&x)?)?;
            let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(&bias)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let context = probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((
                batch,
                len,
                self.heads * self.head_size,
            ))?;
            let attended = l
                .attention_norm
                .forward(&(l.attention_out.forward(&context)? + &x)?)?;
            let inner = l.intermediate.forward(&attended)?.gelu_erf()?;
            x = l
                .output_norm
                .forward(&(l.output.forward(&inner)? + &attended)?)?;
        }
        Ok(x)
    }
}
