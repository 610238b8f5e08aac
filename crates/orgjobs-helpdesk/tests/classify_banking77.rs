//! The triage classifier on real data: BANKING77 (real online-banking
//! queries, 77 intents), about 30 labelled queries per intent for training
//! and the rest held out — the bundled "Northwind Bank" history and its
//! train/holdout split (`data/orgs/northwind-bank/eval.jsonl`).

use std::collections::{BTreeMap, HashMap};

use orgjobs_helpdesk::classify::{Classifier, TrainOptions};
use orgjobs_helpdesk::tickets::ticket_text;
use serde_json::Value;

const TICKETS: &str = include_str!("../../../data/orgs/northwind-bank/tickets.jsonl");
const SPLIT: &str = include_str!("../../../data/orgs/northwind-bank/eval.jsonl");

fn lines(s: &str) -> impl Iterator<Item = Value> + '_ {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("bundled data is valid JSON"))
}

fn field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("bundled record without {key}: {v}"))
}

#[test]
fn classify_banking77() {
    let split: HashMap<String, String> = lines(SPLIT)
        .map(|v| {
            (
                field(&v, "external_id").to_owned(),
                field(&v, "split").to_owned(),
            )
        })
        .collect();
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for t in lines(TICKETS) {
        // As TRIAGE_TICKET reads a ticket: subject, newline, body.
        let text = ticket_text(field(&t, "subject"), field(&t, "body"));
        let label = field(&t, "category").to_owned();
        match split[field(&t, "external_id")].as_str() {
            "train" => train.push((text, label)),
            _ => test.push((text, label)),
        }
    }
    assert_eq!(train.len(), 2310, "30 per intent");
    assert_eq!(test.len(), 770, "10 per intent held out");

    let started = std::time::Instant::now();
    let model = Classifier::train(
        train.iter().map(|(t, l)| (t.as_str(), l.as_str())),
        &TrainOptions::default(),
    )
    .expect("trains");
    let trained = started.elapsed();
    assert_eq!(model.labels().len(), 77);

    let mut correct = 0;
    let mut top3 = 0;
    let mut confidence = 0.0;
    // label -> (true positives, false positives, false negatives)
    let mut per: BTreeMap<&str, (f64, f64, f64)> = BTreeMap::new();
    for (text, label) in &test {
        let p = model.predict(text);
        confidence += p.confidence;
        if p.ranked.iter().any(|(l, _)| l == label) {
            top3 += 1;
        }
        if &p.label == label {
            correct += 1;
            per.entry(label).or_default().0 += 1.0;
        } else {
            per.entry(label).or_default().2 += 1.0;
            let predicted = model
                .labels()
                .iter()
                .find(|l| **l == p.label)
                .expect("a prediction is one of the labels");
            per.entry(predicted).or_default().1 += 1.0;
        }
    }
    let accuracy = f64::from(correct) / test.len() as f64;
    let macro_f1 = per
        .values()
        .map(|&(tp, fp, fn_)| {
            if tp == 0.0 {
                0.0
            } else {
                2.0 * tp / (2.0 * tp + fp + fn_)
            }
        })
        .sum::<f64>()
        / per.len() as f64;
    let top3 = f64::from(top3) / test.len() as f64;
    println!(
        "BANKING77 held out: accuracy {accuracy:.4}, macro-F1 {macro_f1:.4}, top-3 {top3:.4}, mean confidence {:.4}; trained in {trained:.2?}",
        confidence / test.len() as f64
    );
    // On this same split (bodies), scikit-learn 1.x gives: multinomial naive
    // Bayes over words and bigrams 0.773; LinearSVC over word 1–2-gram and
    // char_wb 2–5-gram TF-IDF 0.853. This model: 0.870.
    assert!(
        accuracy >= 0.86,
        "accuracy {accuracy:.4} is below the linear baseline"
    );
    assert!(macro_f1 >= 0.86, "macro-F1 {macro_f1:.4}");
    assert!(top3 >= 0.93, "top-3 {top3:.4}");
    let mean_confidence = confidence / test.len() as f64;
    assert!(
        (mean_confidence - accuracy).abs() < 0.05,
        "confidence should track accuracy on average: {mean_confidence:.4} vs {accuracy:.4}"
    );
}
