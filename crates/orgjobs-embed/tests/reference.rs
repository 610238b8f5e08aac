//! The tokenizer and the model against sentence-transformers' output for
//! the same sentences (`reference/`, computed once; its README says how).

use orgjobs_embed::{DIMENSIONS, MAX_TOKENS, cosine, shared_for_tests};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    max_seq_length: usize,
    sentences: Vec<Sentence>,
    cosines: Vec<Pair>,
}

#[derive(Deserialize)]
struct Sentence {
    text: String,
    token_ids: Vec<u32>,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct Pair {
    a: usize,
    b: usize,
    cosine: f32,
}

fn reference() -> Reference {
    serde_json::from_str(include_str!("reference/embeddings.json")).expect("reference JSON")
}

#[test]
fn tokens_match_sentence_transformers() {
    let Some(model) = shared_for_tests().expect("model") else {
        return;
    };
    let r = reference();
    assert_eq!(r.max_seq_length, MAX_TOKENS);
    for s in &r.sentences {
        assert_eq!(
            model.token_ids(&s.text).expect("tokens"),
            s.token_ids,
            "{:?}",
            s.text
        );
    }
    // The long ticket is cut at 256, not at tokenizer.json's 128, and
    // nothing is padded.
    assert!(r.sentences.iter().any(|s| s.token_ids.len() == MAX_TOKENS));
    assert_eq!(model.token_ids("").expect("tokens"), vec![101, 102]);
}

#[test]
fn embeddings_match_sentence_transformers() {
    let Some(model) = shared_for_tests().expect("model") else {
        return;
    };
    let r = reference();
    let texts: Vec<&str> = r.sentences.iter().map(|s| s.text.as_str()).collect();
    // All at once (batched by length, padded per batch) and one by one: the
    // same vectors, both within 1e-4 of the reference's.
    let batched = model.embed(&texts).expect("embed");
    for (s, got) in r.sentences.iter().zip(&batched) {
        let alone = model.embed(&[s.text.as_str()]).expect("embed").remove(0);
        for v in [got, &alone] {
            assert_eq!(v.len(), DIMENSIONS);
            let worst = v
                .iter()
                .zip(&s.embedding)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-4, "{:?}: off by {worst}", s.text);
            assert!(cosine(v, &s.embedding) > 0.9999, "{:?}", s.text);
        }
    }
    for p in &r.cosines {
        let c = cosine(&batched[p.a], &batched[p.b]);
        assert!(
            (c - p.cosine).abs() < 1e-4,
            "cosine {}-{}: {c} vs {}",
            p.a,
            p.b,
            p.cosine
        );
    }
    // The figures: delivery questions are close, a PIN question is not.
    assert!(cosine(&batched[0], &batched[1]) > 0.7);
    assert!(cosine(&batched[0], &batched[2]) < 0.3);
}

#[test]
fn an_incomplete_model_folder_is_refused_with_the_fix() {
    let dir = std::env::temp_dir().join(format!("orgjobs-embed-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let err = orgjobs_embed::Embedder::load(&dir).expect_err("no files");
    let msg = err.to_string();
    assert!(
        msg.contains("model.safetensors") && msg.contains("scripts/fetch-model"),
        "{msg}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
