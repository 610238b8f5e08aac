//! A text classifier for ticket triage: TF-IDF features over words and
//! characters, and a linear support vector machine trained one-vs-rest.
//!
//! - **Features** (as in the usual strong baseline for short texts): word
//!   unigrams and bigrams, plus character 2- to 5-grams inside word
//!   boundaries (so "refund", "refunded" and "refnd" share most features).
//!   Term frequencies are sublinear (`1 + ln tf`), weighted by smoothed
//!   inverse document frequency, and the blocks are scaled to fixed lengths (words
//!   [`TrainOptions::word_weight`], characters 1). Features are hashed to 64 bits and numbered at training time;
//!   features never seen in training are ignored at prediction.
//! - **Sentence embeddings** (optional): a unit-length embedding of the text
//!   (see `orgjobs-embed`) appended as a third, dense block of length
//!   [`TrainOptions::dense_weight`]. A model trained with them predicts
//!   with them.
//! - **Model**: one L2-regularised, squared-hinge-loss linear SVM per label
//!   against the rest, trained by dual coordinate descent (Hsieh et al.,
//!   2008, the method of LIBLINEAR), with a bias feature. The visiting order
//!   comes from a seeded generator, so the same data gives the same model.
//! - **Confidence**: a softmax over the labels' decision values, scaled by
//!   [`TrainOptions::sharpness`] (chosen so that on BANKING77 the mean
//!   confidence is close to the accuracy). It orders predictions well; it is
//!   not a calibrated probability.
//!
//! On BANKING77 with 30 labelled queries per intent (77 intents) this reaches
//! 0.870 accuracy on the 10 held-out queries per intent (the test
//! `classify_banking77`), where multinomial naive Bayes gets 0.773 and
//! scikit-learn's LinearSVC with equally weighted blocks 0.853.

use std::collections::{BTreeMap, HashMap};

/// How a [`Classifier`] is trained.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// The SVM's cost parameter: larger fits the training data more closely.
    pub c: f64,
    /// At most this many passes over the data per label.
    pub max_epochs: usize,
    /// Stop a label's training when the projected gradient's spread falls
    /// below this (LIBLINEAR's default is 0.1).
    pub tolerance: f64,
    /// The length of the word block relative to the character block (1);
    /// below 1, spelling-tolerant character features weigh more.
    pub word_weight: f32,
    /// The length of the dense block (sentence embeddings), when there is
    /// one, relative to the character block (1).
    pub dense_weight: f32,
    /// The softmax scale that turns decision values into confidences.
    pub sharpness: f64,
    /// The seed of the visiting order.
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            c: 1.0,
            max_epochs: 60,
            tolerance: 0.05,
            word_weight: 0.5,
            dense_weight: 1.0,
            sharpness: 7.0,
            seed: 0x0005_eed0_f0a6_1085,
        }
    }
}

impl TrainOptions {
    /// The options for training with sentence embeddings: a dense block of
    /// length 3 and a cost of 0.25. Chosen on BANKING77's history alone
    /// (20 queries per intent to train, the other 10 to validate; the
    /// held-out test queries were not used): validation accuracy 0.899,
    /// against 0.823 for TF-IDF alone and 0.879 with length 1 and cost 1.
    pub fn with_embeddings() -> TrainOptions {
        TrainOptions {
            c: 0.25,
            dense_weight: 3.0,
            ..TrainOptions::default()
        }
    }
}

/// Why a [`Classifier`] could not be trained.
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    /// Training needs examples of at least two labels.
    #[error("training needs examples of at least two labels; the data has {labels}")]
    TooFewLabels {
        /// How many distinct labels the data had.
        labels: usize,
    },
    /// The data was empty.
    #[error("training needs at least one labelled example; the data had none")]
    NoExamples,
    /// Dense features were given for some examples only, or of different
    /// lengths.
    #[error("dense features: {0}")]
    Dense(String),
}

/// A classifier's answer for one text.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// The best label.
    pub label: String,
    /// The best label's confidence, 0 to 1 (see the module docs).
    pub confidence: f64,
    /// The best three labels with their confidences, best first.
    pub ranked: Vec<(String, f64)>,
}

/// A trained text classifier (see the module docs). Cheap to share: predict
/// takes `&self`.
#[derive(Clone, Debug)]
pub struct Classifier {
    labels: Vec<String>,
    examples: usize,
    vocab: HashMap<u64, u32>,
    idf: Vec<f32>,
    /// Per label, a weight per feature, then the bias.
    weights: Vec<Vec<f32>>,
    word_weight: f32,
    /// The length of the dense block, 0 without one.
    dense: usize,
    dense_weight: f32,
    sharpness: f64,
}

/// A sparse vector: (feature, value), sorted by feature.
type Sparse = Vec<(u32, f32)>;

impl Classifier {
    /// Trains on `(text, label)` pairs.
    pub fn train<'a>(
        data: impl IntoIterator<Item = (&'a str, &'a str)>,
        options: &TrainOptions,
    ) -> Result<Classifier, ClassifyError> {
        let data: Vec<(&str, &str)> = data.into_iter().collect();
        Classifier::train_with_dense(&data, None, options)
    }

    /// Trains on `(text, label)` pairs with, if `dense` is given, one dense
    /// feature vector per example (all of one length; a sentence embedding).
    pub fn train_with_dense(
        data: &[(&str, &str)],
        dense: Option<&[Vec<f32>]>,
        options: &TrainOptions,
    ) -> Result<Classifier, ClassifyError> {
        if data.is_empty() {
            return Err(ClassifyError::NoExamples);
        }
        let dense_len = match dense {
            None => 0,
            Some(d) => {
                let len = d.first().map_or(0, Vec::len);
                if d.len() != data.len() || d.iter().any(|v| v.len() != len) || len == 0 {
                    return Err(ClassifyError::Dense(format!(
                        "expected one non-empty vector of one length per example ({} examples); \
                         got {} vectors",
                        data.len(),
                        d.len()
                    )));
                }
                len
            }
        };
        let labels: Vec<String> = data
            .iter()
            .map(|(_, l)| *l)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(str::to_owned)
            .collect();
        if labels.len() < 2 {
            return Err(ClassifyError::TooFewLabels {
                labels: labels.len(),
            });
        }
        let ys: Vec<usize> = {
            let index: BTreeMap<&str, usize> = labels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.as_str(), i))
                .collect();
            data.iter().map(|(_, l)| index[l]).collect()
        };

        // Vocabulary and document frequencies.
        let counted: Vec<Counts> = data.iter().map(|(t, _)| counts(t)).collect();
        let mut vocab: HashMap<u64, u32> = HashMap::new();
        let mut df: Vec<u32> = Vec::new();
        for doc in &counted {
            for &(h, _, _) in doc {
                let next = u32::try_from(vocab.len()).unwrap_or(u32::MAX);
                let id = *vocab.entry(h).or_insert(next);
                match df.get_mut(id as usize) {
                    Some(n) => *n += 1,
                    None => df.push(1),
                }
            }
        }
        let n = data.len() as f64;
        let idf: Vec<f32> = df
            .iter()
            .map(|&d| (((1.0 + n) / (1.0 + f64::from(d))).ln() + 1.0) as f32)
            .collect();
        let mut model = Classifier {
            labels,
            examples: data.len(),
            vocab,
            idf,
            weights: Vec::new(),
            word_weight: options.word_weight,
            dense: dense_len,
            dense_weight: options.dense_weight,
            sharpness: options.sharpness,
        };
        let xs: Vec<Sparse> = counted
            .iter()
            .enumerate()
            .map(|(i, c)| model.vectorize(c, dense.map(|d| d[i].as_slice())))
            .collect();
        let dim = model.idf.len() + dense_len + 1;
        model.weights = (0..model.labels.len())
            .map(|label| train_binary(&xs, &ys, label, dim, options))
            .collect();
        Ok(model)
    }

    /// The best label for `text`, its confidence and the runners-up.
    pub fn predict(&self, text: &str) -> Prediction {
        self.predict_with_dense(text, None)
    }

    /// [`Classifier::predict`] with the text's dense features, which a
    /// model trained with them needs (without them, or with a vector of
    /// another length, the dense block is left out and it predicts from
    /// the text's TF-IDF alone, less well).
    pub fn predict_with_dense(&self, text: &str, dense: Option<&[f32]>) -> Prediction {
        let x = self.vectorize(&counts(text), dense);
        let scores: Vec<f64> = self.weights.iter().map(|w| decision(w, &x)).collect();
        let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = scores
            .iter()
            .map(|s| ((s - top) * self.sharpness).exp())
            .collect();
        let sum: f64 = exp.iter().sum();
        let mut ranked: Vec<(usize, f64)> = exp.iter().map(|e| e / sum).enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(3);
        let ranked: Vec<(String, f64)> = ranked
            .into_iter()
            .map(|(i, p)| (self.labels[i].clone(), p))
            .collect();
        let (label, confidence) = ranked[0].clone();
        Prediction {
            label,
            confidence,
            ranked,
        }
    }

    /// The labels it can predict, sorted.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// How many examples it was trained on.
    pub fn examples(&self) -> usize {
        self.examples
    }

    /// Whether it was trained with dense features.
    pub fn uses_dense(&self) -> bool {
        self.dense > 0
    }

    /// TF-IDF vector of one text's counts, each block at unit length, then
    /// the dense block, if the model has one.
    fn vectorize(&self, counts: &Counts, dense: Option<&[f32]>) -> Sparse {
        let mut blocks: [Sparse; 2] = [Vec::new(), Vec::new()];
        for &(h, block, tf) in counts {
            if let Some(&id) = self.vocab.get(&h) {
                let v = (1.0 + f64::from(tf).ln()) as f32 * self.idf[id as usize];
                blocks[usize::from(block)].push((id, v));
            }
        }
        let mut x = Sparse::new();
        for (block, length) in blocks.iter().zip([self.word_weight, 1.0]) {
            let norm = block.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
            if norm > 0.0 {
                x.extend(block.iter().map(|&(i, v)| (i, v * length / norm)));
            }
        }
        x.sort_unstable_by_key(|&(i, _)| i);
        if let Some(d) = dense.filter(|d| self.dense > 0 && d.len() == self.dense) {
            let norm = d.iter().map(|v| v * v).sum::<f32>().sqrt();
            if norm > 0.0 {
                let first = u32::try_from(self.idf.len()).unwrap_or(u32::MAX);
                x.extend(
                    (first..)
                        .zip(d)
                        .map(|(i, &v)| (i, v * self.dense_weight / norm)),
                );
            }
        }
        x
    }
}

/// A text's features: (hash, block 0 words / 1 characters, count).
type Counts = Vec<(u64, u8, u32)>;

const WORD: u64 = 0x77;
const CHAR: u64 = 0x63;

/// The text's word 1–2-grams and in-word character 2–5-grams, counted.
fn counts(text: &str) -> Counts {
    let lower = text.to_lowercase();
    let mut seen: HashMap<u64, (u8, u32)> = HashMap::new();
    let mut add = |h: u64, block: u8| seen.entry(h).or_insert((block, 0)).1 += 1;
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    for (i, w) in words.iter().enumerate() {
        add(hash(WORD, &[w]), 0);
        if let Some(next) = words.get(i + 1) {
            add(hash(WORD, &[w, " ", next]), 0);
        }
    }
    for token in lower.split_whitespace() {
        let padded: Vec<char> = std::iter::once(' ')
            .chain(token.chars())
            .chain(std::iter::once(' '))
            .collect();
        let mut buf = [0u8; 4];
        for n in 2..=5 {
            for gram in padded.windows(n) {
                let mut h = FNV_OFFSET ^ CHAR;
                for c in gram {
                    for b in c.encode_utf8(&mut buf).bytes() {
                        h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
                    }
                }
                add(h, 1);
            }
        }
    }
    let mut out: Counts = seen.into_iter().map(|(h, (b, n))| (h, b, n)).collect();
    out.sort_unstable();
    out
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// FNV-1a over `parts`, in namespace `ns`.
fn hash(ns: u64, parts: &[&str]) -> u64 {
    let mut h = FNV_OFFSET ^ ns;
    for p in parts {
        for b in p.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
    }
    h
}

/// `w · x + bias`.
fn decision(w: &[f32], x: &Sparse) -> f64 {
    let bias = f64::from(w[w.len() - 1]);
    x.iter()
        .map(|&(i, v)| f64::from(w[i as usize]) * f64::from(v))
        .sum::<f64>()
        + bias
}

/// One label against the rest: dual coordinate descent for the
/// L2-regularised squared-hinge SVM (Hsieh et al. 2008, algorithm 1).
fn train_binary(
    xs: &[Sparse],
    ys: &[usize],
    label: usize,
    dim: usize,
    options: &TrainOptions,
) -> Vec<f32> {
    let mut w = vec![0f64; dim];
    let bias = dim - 1;
    let diag = 0.5 / options.c;
    let y: Vec<f64> = ys
        .iter()
        .map(|&l| if l == label { 1.0 } else { -1.0 })
        .collect();
    // x·x + 1 for the bias feature.
    let qii: Vec<f64> = xs
        .iter()
        .map(|x| x.iter().map(|(_, v)| f64::from(v * v)).sum::<f64>() + 1.0 + diag)
        .collect();
    let mut alpha = vec![0f64; xs.len()];
    let mut order: Vec<usize> = (0..xs.len()).collect();
    let mut rng = SplitMix(options.seed ^ (label as u64).wrapping_mul(0x9e37_79b9));
    for _ in 0..options.max_epochs {
        rng.shuffle(&mut order);
        let (mut pg_max, mut pg_min) = (f64::NEG_INFINITY, f64::INFINITY);
        for &i in &order {
            let x = &xs[i];
            let wx = x
                .iter()
                .map(|&(j, v)| w[j as usize] * f64::from(v))
                .sum::<f64>()
                + w[bias];
            let g = y[i] * wx - 1.0 + diag * alpha[i];
            let pg = if alpha[i] == 0.0 { g.min(0.0) } else { g };
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (old - g / qii[i]).max(0.0);
                let step = (alpha[i] - old) * y[i];
                for &(j, v) in x {
                    w[j as usize] += step * f64::from(v);
                }
                w[bias] += step;
            }
        }
        if pg_max - pg_min < options.tolerance {
            break;
        }
    }
    w.into_iter().map(|v| v as f32).collect()
}

/// SplitMix64: a small, seeded, reproducible generator for the visiting
/// order (quality beyond "well mixed" does not matter here).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fisher–Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Sixty examples of three labels whose text says nothing (all the
    /// same) and whose dense vector says everything.
    pub(crate) fn dense_only() -> (Vec<(&'static str, &'static str)>, Vec<Vec<f32>>) {
        let labels = ["a", "b", "c"];
        (0..60)
            .map(|i| {
                let mut v = vec![0.05f32; 8];
                v[i % 3] = 1.0;
                (("the same words every time", labels[i % 3]), v)
            })
            .unzip()
    }

    #[test]
    fn a_dense_block_carries_what_the_text_does_not() {
        let (data, dense) = dense_only();
        let with =
            Classifier::train_with_dense(&data, Some(&dense), &TrainOptions::with_embeddings())
                .expect("trains");
        assert!(with.uses_dense());
        for (i, label) in ["a", "b", "c"].iter().enumerate() {
            let mut v = vec![0.05f32; 8];
            v[i] = 1.0;
            let p = with.predict_with_dense("the same words every time", Some(&v));
            assert_eq!(p.label, *label);
        }
        // Without the block the text cannot tell them apart.
        let without =
            Classifier::train(data.iter().copied(), &TrainOptions::default()).expect("trains");
        assert!(!without.uses_dense());
        let p = without.predict("the same words every time");
        assert!(p.confidence < 0.5, "{p:?}");
        // One vector per example, of one length.
        assert!(matches!(
            Classifier::train_with_dense(&data, Some(&dense[..10]), &TrainOptions::default()),
            Err(ClassifyError::Dense(_))
        ));
    }

    fn toy() -> Vec<(&'static str, &'static str)> {
        vec![
            ("I was charged twice for my order", "billing"),
            ("refund the duplicate charge on my card", "billing"),
            ("my invoice shows the wrong amount", "billing"),
            ("where is my parcel, tracking has not moved", "delivery"),
            ("the courier never delivered my package", "delivery"),
            ("delivery is late by a week", "delivery"),
            (
                "I cannot log in, password reset email never arrives",
                "account",
            ),
            ("how do I change the email on my account", "account"),
            ("locked out of my account after two factor", "account"),
        ]
    }

    #[test]
    fn learns_separable_labels_and_ranks_the_rest() {
        let m = Classifier::train(toy(), &TrainOptions::default()).expect("trains");
        assert_eq!(m.labels(), ["account", "billing", "delivery"]);
        assert_eq!(m.examples(), 9);
        let p = m.predict("I got charged twice, please refund");
        assert_eq!(p.label, "billing");
        assert_eq!(p.ranked.len(), 3);
        assert_eq!(p.ranked[0], (p.label.clone(), p.confidence));
        assert!(p.ranked.windows(2).all(|w| w[0].1 >= w[1].1));
        let total: f64 = p.ranked.iter().map(|r| r.1).sum();
        assert!(
            (total - 1.0).abs() < 1e-9,
            "three labels' confidences sum to 1"
        );
        assert!(p.confidence > 0.5, "{p:?}");
        assert_eq!(m.predict("my parcel is late").label, "delivery");
        // Misspelt: character n-grams still match "password".
        assert_eq!(m.predict("pasword resett").label, "account");
    }

    #[test]
    fn unknown_text_is_unsure() {
        let m = Classifier::train(toy(), &TrainOptions::default()).expect("trains");
        let p = m.predict("zzz qqq");
        assert!(p.confidence < 0.6, "{p:?}");
    }

    #[test]
    fn training_is_deterministic() {
        let a = Classifier::train(toy(), &TrainOptions::default()).expect("trains");
        let b = Classifier::train(toy(), &TrainOptions::default()).expect("trains");
        assert_eq!(
            a.predict("wrong invoice amount"),
            b.predict("wrong invoice amount")
        );
        assert_eq!(a.weights, b.weights);
    }

    #[test]
    fn too_little_data_is_an_error() {
        let one = Classifier::train([("a", "x"), ("b", "x")], &TrainOptions::default());
        assert!(matches!(
            one,
            Err(ClassifyError::TooFewLabels { labels: 1 })
        ));
        let none = Classifier::train(std::iter::empty(), &TrainOptions::default());
        assert!(matches!(none, Err(ClassifyError::NoExamples)));
    }
}
