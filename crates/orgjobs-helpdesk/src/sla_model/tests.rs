//! Tests of the SLA model, by hand-checked examples and edge cases.

use super::*;

fn obs(secs: f64, observed: bool) -> Observation {
    Observation { secs, observed }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// 1, 2+, 3, 4, 4+, 5.
fn hand_example() -> Survival {
    Survival::fit(&[
        obs(1.0, true),
        obs(2.0, false),
        obs(3.0, true),
        obs(4.0, true),
        obs(4.0, false),
        obs(5.0, true),
    ])
}

#[test]
fn kaplan_meier_with_censoring_and_ties() {
    let s = hand_example();
    assert_eq!(s.events(), 4);
    // S(1) = 5/6; S(3) = 5/6 * 3/4; at 4 the censoring is still at risk:
    // S(4) = S(3) * 2/3; S(5) = 0.
    assert!(close(s.at(0.5), 1.0));
    assert!(close(s.at(1.0), 5.0 / 6.0));
    assert!(close(s.at(2.5), 5.0 / 6.0));
    assert!(close(s.at(3.0), 0.625));
    assert!(close(s.at(4.5), 0.625 * 2.0 / 3.0));
    assert!(close(s.at(5.0), 0.0));
    assert!(close(s.at(50.0), 0.0));
    assert!(close(s.at(-1.0), 1.0));
}

#[test]
fn conditional_survival() {
    let s = hand_example();
    assert!(close(s.conditional(3.0, 1.0), 0.75));
    assert!(close(s.conditional(4.5, 2.0), 0.5));
    assert!(close(s.conditional(1.0, 2.0), 1.0));
    assert!(close(s.conditional(4.0, 0.0), s.at(4.0)));
    // Beyond the last event: the exponential tail with hazard
    // 4 events / 19 seconds of exposure.
    assert!(close(s.conditional(7.0, 6.0), (-4.0_f64 / 19.0).exp()));
}

#[test]
fn conditional_quantiles() {
    let s = hand_example();
    assert_eq!(s.conditional_quantile(0.0, 0.5), Some(4.0));
    assert_eq!(s.conditional_quantile(0.0, 0.1), Some(1.0));
    assert_eq!(s.conditional_quantile(2.0, 0.25), Some(3.0));
    assert_eq!(s.conditional_quantile(2.0, 0.5), Some(4.0));
    assert_eq!(s.conditional_quantile(2.0, 1.0), Some(5.0));
    assert_eq!(s.conditional_quantile(2.0, 0.0), Some(2.0));
    // Beyond the data the tail's median: 6 + ln 2 / (4 / 19).
    let tail = s.conditional_quantile(6.0, 0.5).unwrap_or(f64::NAN);
    assert!(close(tail, 6.0 + 2.0_f64.ln() * 19.0 / 4.0));
    assert_eq!(s.conditional_quantile(6.0, 1.0), None);
    assert_eq!(s.conditional_quantile(1.0, f64::NAN), None);
}

#[test]
fn tail_beyond_censored_data() {
    // Last event at 10, censorings up to 40: S stays positive and the
    // tail keeps it falling.
    let mut data = vec![obs(2.0, true), obs(5.0, true), obs(10.0, true)];
    data.extend([obs(20.0, false), obs(40.0, false)]);
    let s = Survival::fit(&data);
    let (a, b) = (s.at(10.0), s.at(30.0));
    assert!(b < a && b > 0.0, "{a} {b}");
    let c = s.conditional(100.0, 50.0);
    assert!(c > 0.0 && c < 1.0);
    assert!(s.conditional(200.0, 50.0) < c);
}

#[test]
fn empty_and_odd_input() {
    let s = Survival::fit(&[]);
    assert_eq!(s.events(), 0);
    assert!(close(s.at(10.0), 1.0));
    assert!(close(s.conditional(10.0, 5.0), 1.0));
    assert_eq!(s.conditional_quantile(0.0, 0.5), None);

    let s = Survival::fit(&[
        obs(f64::NAN, true),
        obs(f64::INFINITY, true),
        obs(-3.0, true),
        obs(1.0, true),
    ]);
    assert_eq!(s.events(), 2);
    assert!(close(s.at(0.0), 0.5));
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0, 1e300] {
        for y in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0, 2.0] {
            let c = s.conditional(x, y);
            assert!((0.0..=1.0).contains(&c), "{x} {y} {c}");
            assert!(s.conditional_quantile(y, x).is_none_or(|t| !t.is_nan()));
        }
        assert!((0.0..=1.0).contains(&s.at(x)));
    }
}

fn inputs<'a>(fr: &'a [Observation], res: &'a [Observation]) -> SlaInputs<'a> {
    SlaInputs {
        first_response_target: 3_600.0,
        resolution_target: 86_400.0,
        elapsed: 0.0,
        first_response_after: None,
        resolved_after: None,
        first_response_history: fr,
        resolution_history: res,
        load_factor: 1.0,
        paired: false,
    }
}

#[test]
fn load_factor_increases_breach_probability() {
    let mut rng = Rng(7);
    let fr = simulate(&mut rng, 500, |r| r.lognormal(1_800.0, 1.0));
    let res = simulate(&mut rng, 500, |r| r.exponential(20.0 * 3_600.0));
    let normal = forecast(&inputs(&fr, &res));
    let busy = forecast(&SlaInputs {
        load_factor: 3.0,
        ..inputs(&fr, &res)
    });
    let quiet = forecast(&SlaInputs {
        load_factor: 0.5,
        ..inputs(&fr, &res)
    });
    assert!(busy.breach_probability > normal.breach_probability + 0.05);
    assert!(quiet.breach_probability < normal.breach_probability - 0.05);
    assert!(busy.first_response_after > normal.first_response_after);
    assert!(normal.from_history);
}

#[test]
fn paired_histories_estimate_either_target_jointly() {
    // Half the tickets are slow at both (2 h to answer, 30 h to
    // resolve), half fast at both: half breach. Taken as independent,
    // the two 50 % legs would make 75 %.
    let mut fr = Vec::new();
    let mut res = Vec::new();
    for i in 0..200 {
        let slow = i % 2 == 0;
        fr.push(obs(if slow { 7_200.0 } else { 600.0 }, true));
        res.push(obs(if slow { 108_000.0 } else { 3_600.0 }, true));
    }
    let unpaired = forecast(&inputs(&fr, &res));
    assert!(
        (unpaired.breach_probability - 0.75).abs() < 0.03,
        "{unpaired:?}"
    );
    let paired = forecast(&SlaInputs {
        paired: true,
        ..inputs(&fr, &res)
    });
    assert!((paired.breach_probability - 0.5).abs() < 0.03, "{paired:?}");
    // Still unanswered after 30 minutes: only the slow half waits that
    // long, and all of it breaches.
    let waiting = forecast(&SlaInputs {
        paired: true,
        elapsed: 1_800.0,
        ..inputs(&fr, &res)
    });
    assert!(waiting.breach_probability > 0.95, "{waiting:?}");
    // Answered in time: the resolution alone decides, as before.
    let answered = forecast(&SlaInputs {
        paired: true,
        elapsed: 1_800.0,
        first_response_after: Some(900.0),
        ..inputs(&fr, &res)
    });
    let unpaired_answered = forecast(&SlaInputs {
        elapsed: 1_800.0,
        first_response_after: Some(900.0),
        ..inputs(&fr, &res)
    });
    assert_eq!(
        answered.breach_probability,
        unpaired_answered.breach_probability
    );
}

#[test]
fn known_facts_decide() {
    let late = forecast(&SlaInputs {
        elapsed: 8_000.0,
        first_response_after: Some(7_200.0),
        ..inputs(&[], &[])
    });
    assert_eq!(late.risk_level, RiskLevel::Breached);
    assert!(close(late.breach_probability, 1.0));
    assert!(close(late.first_response_after, 7_200.0));

    let unanswered = forecast(&SlaInputs {
        elapsed: 4_000.0,
        ..inputs(&[], &[])
    });
    assert_eq!(unanswered.risk_level, RiskLevel::Breached);
    assert!(close(unanswered.breach_probability, 1.0));
    assert!(unanswered.first_response_after >= 4_000.0);

    let done = forecast(&SlaInputs {
        elapsed: 9_000.0,
        first_response_after: Some(600.0),
        resolved_after: Some(5_000.0),
        ..inputs(&[], &[])
    });
    assert_eq!(done.risk_level, RiskLevel::Ok);
    assert!(close(done.breach_probability, 0.0));
    assert!(close(done.resolution_after, 5_000.0));

    let resolved_late = forecast(&SlaInputs {
        elapsed: 100_000.0,
        resolved_after: Some(90_000.0),
        ..inputs(&[], &[])
    });
    // No first response recorded: the resolution was the first answer.
    assert_eq!(resolved_late.risk_level, RiskLevel::Breached);
    assert!(close(resolved_late.first_response_after, 90_000.0));
}

#[test]
fn thin_history_falls_back_and_shrinks() {
    let fast = [obs(60.0, true), obs(90.0, true), obs(120.0, true)];
    let f = forecast(&inputs(&fast, &fast));
    assert!(!f.from_history);
    assert!(close(f.first_response_after, 3_600.0));
    assert!(close(f.resolution_after, 86_400.0));
    // The history alone says 0; shrunk to 5/8 of the prior per target.
    let per_target = PRIOR_BREACH_RATE * 5.0 / 8.0;
    assert!(close(f.breach_probability, either(per_target, per_target)));

    let none = forecast(&inputs(&[], &[]));
    let prior = either(PRIOR_BREACH_RATE, PRIOR_BREACH_RATE);
    assert!(close(none.breach_probability, prior));
    assert_eq!(none.risk_level, RiskLevel::Ok);
}

#[test]
fn risk_levels_from_elapsed_share() {
    // Everything resolved at 9,500 s: little breach risk for a
    // 10,000 s target, but the clock still counts.
    let res = vec![obs(9_500.0, true); 50];
    let level = |elapsed: f64| {
        let f = forecast(&SlaInputs {
            elapsed,
            first_response_after: Some(100.0),
            resolution_target: 10_000.0,
            ..inputs(&[], &res)
        });
        assert!(f.breach_probability < 0.2, "{f:?}");
        f.risk_level
    };
    assert_eq!(level(5_000.0), RiskLevel::Ok);
    assert_eq!(level(8_000.0), RiskLevel::AtRisk75);
    assert_eq!(level(9_100.0), RiskLevel::AtRisk90);
    assert_eq!(RiskLevel::Ok.as_str(), "ok");
    assert_eq!(RiskLevel::AtRisk75.as_str(), "at_risk_75");
    assert_eq!(RiskLevel::AtRisk90.as_str(), "at_risk_90");
    assert_eq!(RiskLevel::Breached.as_str(), "breached");
}

#[test]
fn odd_forecast_inputs_stay_finite() {
    let hist = [obs(10.0, true), obs(f64::NAN, false), obs(-5.0, true)];
    let odd = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0, 1e9];
    for &a in &odd {
        for &b in &odd {
            let f = forecast(&SlaInputs {
                first_response_target: a,
                resolution_target: b,
                elapsed: b,
                first_response_after: Some(a).filter(|_| b > 0.0),
                resolved_after: None,
                first_response_history: &hist,
                resolution_history: &hist,
                load_factor: a,
                paired: a > 0.0,
            });
            assert!((0.0..=1.0).contains(&f.breach_probability), "{f:?}");
            assert!(f.first_response_after.is_finite(), "{f:?}");
            assert!(f.resolution_after.is_finite(), "{f:?}");
        }
    }
}

#[test]
fn brier_score() {
    assert_eq!(brier(&[]), None);
    let b = brier(&[(0.9, true), (0.2, false), (0.5, true)]).unwrap_or(f64::NAN);
    assert!(close(b, (0.01 + 0.04 + 0.25) / 3.0));
    assert_eq!(brier(&[(f64::NAN, true), (2.0, true)]), Some(0.125));
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.uniform().ln()
    }
}

/// `n` history tickets, each observed at an age uniform in 0..3 days,
/// censored when its duration is longer.
fn simulate(rng: &mut Rng, n: usize, mut draw: impl FnMut(&mut Rng) -> f64) -> Vec<Observation> {
    (0..n)
        .map(|_| {
            let age = rng.uniform() * 3.0 * 86_400.0;
            let secs = draw(rng);
            obs(secs.min(age), secs <= age)
        })
        .collect()
}

/// Two categories with very different waits, the history split by
/// category as the caller does.
struct World {
    fr: [Vec<Observation>; 2],
    res: [Vec<Observation>; 2],
}

const FR_MEDIAN: [f64; 2] = [1_200.0, 5_400.0];
const RES_MEAN: [f64; 2] = [6.0 * 3_600.0, 30.0 * 3_600.0];

fn world(rng: &mut Rng, n: usize) -> World {
    let mut fr = [Vec::new(), Vec::new()];
    let mut res = [Vec::new(), Vec::new()];
    for _ in 0..n {
        let c = usize::from(rng.uniform() < 0.5);
        let age = rng.uniform() * 3.0 * 86_400.0;
        let f = rng.lognormal(FR_MEDIAN[c], 1.0);
        let r = rng.exponential(RES_MEAN[c]);
        fr[c].push(obs(f.min(age), f <= age));
        res[c].push(obs(r.min(age), r <= age));
    }
    World { fr, res }
}

#[test]
fn calibrated_and_beats_base_rate() {
    let mut rng = Rng(2024);
    let w = world(&mut rng, 2_000);
    let mut pairs = Vec::new();
    for _ in 0..2_000 {
        let c = usize::from(rng.uniform() < 0.5);
        let f = rng.lognormal(FR_MEDIAN[c], 1.0);
        let r = rng.exponential(RES_MEAN[c]);
        let p = forecast(&inputs(&w.fr[c], &w.res[c])).breach_probability;
        pairs.push((p, f > 3_600.0 || r > 86_400.0));
    }
    let n = pairs.len() as f64;
    let mean_p = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let rate = pairs.iter().filter(|p| p.1).count() as f64 / n;
    let model = brier(&pairs).unwrap_or(f64::NAN);
    let base: Vec<_> = pairs.iter().map(|&(_, y)| (rate, y)).collect();
    let base = brier(&base).unwrap_or(f64::NAN);
    eprintln!("mean p {mean_p:.4} rate {rate:.4} brier {model:.4} base {base:.4}");
    assert!((mean_p - rate).abs() <= 0.03, "{mean_p} vs {rate}");
    assert!(model < base - 0.05, "{model} vs {base}");
}

#[test]
fn conditional_calibration_while_waiting() {
    // Tickets still unanswered after 30 min: P(no answer by 1 h).
    let mut rng = Rng(99);
    let hist = simulate(&mut rng, 2_000, |r| r.lognormal(1_800.0, 1.2));
    let s = Survival::fit(&hist);
    let waiting: Vec<f64> = (0..20_000)
        .map(|_| rng.lognormal(1_800.0, 1.2))
        .filter(|&t| t > 1_800.0)
        .collect();
    let rate = waiting.iter().filter(|&&t| t > 3_600.0).count() as f64 / waiting.len() as f64;
    let p = s.conditional(3_600.0, 1_800.0);
    eprintln!("conditional p {p:.4} rate {rate:.4}");
    assert!((p - rate).abs() <= 0.03, "{p} vs {rate}");
}
