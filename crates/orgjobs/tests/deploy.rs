//! The operations kit under `deploy/`: the Prometheus rules pass `promtool
//! check rules` and their unit tests; the Grafana dashboard and the rules
//! name only metrics the code exports; the systemd units pass
//! `systemd-analyze verify` and an offline security review; and the units'
//! own command lines, with the example EnvironmentFile, run a real worker
//! and a real API server whose `/metrics` pass `promtool check metrics`.
//!
//! `promtool` comes with Debian's `prometheus` package (`scripts/test`
//! installs it), `systemd-analyze` with systemd. A missing tool fails the
//! test and says what to install: a skipped check would look like a passed
//! one.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{BIN, insert_raw, orgjobs, text, wait_for_state};
use orgjobs_api::{ApiState, TokenRate};
use orgjobs_queue::{Metrics, SessionConfig};
use orgjobs_testdb::LoggedChild;

const RULES: &str = "prometheus/orgjobs.rules.yml";
const RULE_TESTS: &str = "prometheus/orgjobs.rules.test.yml";
const DASHBOARD: &str = "grafana/orgjobs.json";
const WORKER_UNIT: &str = "systemd/orgjobs-worker.service";
const API_UNIT: &str = "systemd/orgjobs-api.service";
const ENV_EXAMPLE: &str = "systemd/orgjobs.env.example";

/// Exposure above which `systemd-analyze security` fails a unit (its
/// internal scale: 15 is the "1.5" it prints; a unit without sandboxing
/// scores about 90, the units here about 11).
const MAX_EXPOSURE: u32 = 15;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn read(rel: &str) -> String {
    let path = deploy_dir().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A tool from `PATH`, or a failure that says which package brings it.
fn tool(name: &str, package: &str) -> Command {
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&dirs)
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    match found {
        Some(path) => Command::new(path),
        None => panic!(
            "{name} not found: install Debian's `{package}` package (apt-get install {package}; \
             scripts/test installs it when run as root)"
        ),
    }
}

fn promtool() -> Command {
    tool("promtool", "prometheus")
}

fn systemd_analyze() -> Command {
    tool("systemd-analyze", "systemd")
}

/// Runs `cmd`, feeding `stdin` if given.
fn run(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(input.as_bytes()).expect("writing stdin");
    }
    child.wait_with_output().expect("waiting for the tool")
}

/// A directory of this test's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "orgjobs-deploy-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// --- What the code exports ------------------------------------------------

/// Every series name an orgjobs process can export, from the code rather
/// than from a scrape: [`Metrics::names`] reads each registered collector's
/// descriptors (a scrape would show a labelled metric only once it has a
/// child, so a dashboard query on a rare outcome could not be checked), and
/// `ApiState::new` registers the HTTP API's metrics into the same registry,
/// as `orgjobs serve` does. Histograms are listed by their `_bucket`, `_sum`
/// and `_count` series. The pool is never connected.
fn exported_names() -> BTreeSet<String> {
    let config: tokio_postgres::Config = "host=127.0.0.1 user=nobody".parse().expect("config");
    let manager = orgjobs_queue::deadpool_postgres::Manager::new(config, tokio_postgres::NoTls);
    let pool = orgjobs_queue::deadpool_postgres::Pool::builder(manager)
        .build()
        .expect("an unconnected pool");
    let metrics = Metrics::new();
    let rate = TokenRate {
        per_second: NonZeroU32::MIN,
        burst: NonZeroU32::MIN,
    };
    let _api = ApiState::new(pool, SessionConfig::default(), metrics.clone(), rate);
    // The helpdesk's handlers register theirs (the embedding model's) too.
    let _registry = orgjobs_helpdesk::registry(&metrics);
    let names = metrics.names();
    assert!(
        names.contains("orgjobs_jobs_total") && names.contains("orgjobs_http_requests_total"),
        "the worker's and the API's metrics: {names:?}"
    );
    names
}

// --- PromQL and the rule files, read as far as these files need ----------

/// The identifiers of a PromQL expression that belong to orgjobs: metric
/// names (`orgjobs_…`) and recording rule names (with `:` and `orgjobs`).
/// String literals (label values, regular expressions) are skipped.
fn orgjobs_identifiers(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '"' | '\'' | '`') {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if word.starts_with("orgjobs_") || (word.contains(':') && word.contains("orgjobs")) {
                out.push(word);
            }
        } else {
            i += 1;
        }
    }
    out
}

/// What is wrong with the orgjobs names in `expr` (from `origin`): a metric
/// the code does not export, or a recording rule the rules do not define.
fn unknown_names(
    origin: &str,
    expr: &str,
    names: &BTreeSet<String>,
    records: &BTreeSet<String>,
) -> Vec<String> {
    orgjobs_identifiers(expr)
        .into_iter()
        .filter_map(|word| {
            if word.contains(':') {
                (!records.contains(&word)).then(|| {
                    format!("{origin}: {word} is not a recording rule of {RULES}; query: {expr}")
                })
            } else {
                (!names.contains(&word)).then(|| {
                    format!("{origin}: {word} is not a metric the code exports; query: {expr}")
                })
            }
        })
        .collect()
}

/// Every value of `key` in a YAML file written the way the files under
/// `deploy/prometheus` are (`key: value`, `- key: value`, or a `|` block),
/// with the line it starts on. Enough for these files; the rule count
/// promtool reports is checked against it, so a file this reading misses
/// fails the test rather than escaping it.
fn yaml_values(text: &str, key: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let body = line.trim_start();
        let indent = line.len() - body.len();
        let body = body.strip_prefix("- ").unwrap_or(body);
        let Some(value) = body.strip_prefix(key).and_then(|r| r.strip_prefix(':')) else {
            i += 1;
            continue;
        };
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            let mut block = Vec::new();
            let mut j = i + 1;
            while j < lines.len()
                && (lines[j].trim().is_empty()
                    || lines[j].len() - lines[j].trim_start().len() > indent)
            {
                block.push(lines[j].trim());
                j += 1;
            }
            out.push((i + 1, block.join("\n").trim().to_owned()));
            i = j;
        } else {
            let unquoted = value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .map(|v| v.replace("''", "'"))
                .or_else(|| {
                    value
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| value.to_owned());
            out.push((i + 1, unquoted));
            i += 1;
        }
    }
    out
}

fn recording_rules() -> BTreeSet<String> {
    yaml_values(&read(RULES), "record")
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

fn alert_names() -> Vec<String> {
    yaml_values(&read(RULES), "alert")
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

/// Every query of the dashboard (`expr` of a panel's target, `query` of a
/// query variable), named by its panel and refId.
fn dashboard_queries(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(v: &serde_json::Value, panel: &str, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(map) => {
                let panel = map
                    .get("title")
                    .and_then(|t| t.as_str())
                    .filter(|_| map.contains_key("gridPos"))
                    .unwrap_or(panel)
                    .to_owned();
                if let Some(expr) = map.get("expr").and_then(|e| e.as_str()) {
                    let reference = map.get("refId").and_then(|r| r.as_str()).unwrap_or("?");
                    out.push((
                        format!("{DASHBOARD} panel {panel:?} query {reference}"),
                        expr.to_owned(),
                    ));
                }
                if map.get("type").and_then(|t| t.as_str()) == Some("query") {
                    let q = map.get("query");
                    let q = q
                        .and_then(|q| q.as_str())
                        .or_else(|| q.and_then(|q| q.get("query")).and_then(|q| q.as_str()));
                    if let Some(q) = q {
                        let name = map.get("name").and_then(|n| n.as_str()).unwrap_or("?");
                        out.push((format!("{DASHBOARD} variable {name}"), q.to_owned()));
                    }
                }
                for (k, child) in map {
                    if k != "expr" {
                        walk(child, &panel, out);
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    walk(item, panel, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dashboard, "(dashboard)", &mut out);
    out
}

fn dashboard() -> serde_json::Value {
    serde_json::from_str(&read(DASHBOARD))
        .unwrap_or_else(|e| panic!("{DASHBOARD} is not JSON: {e}"))
}

// --- Prometheus rules -----------------------------------------------------

/// `promtool check rules` accepts the rules (and counts as many as this
/// test reads), and `promtool test rules` passes their unit tests.
#[test]
fn rules_pass_promtool_check_and_their_unit_tests() {
    let dir = deploy_dir().join("prometheus");
    let mut check = promtool();
    check
        .current_dir(&dir)
        .args(["check", "rules", "orgjobs.rules.yml"]);
    let out = run(check, None);
    assert!(out.status.success(), "promtool check rules: {}", text(&out));
    let counted = recording_rules().len() + alert_names().len();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("SUCCESS: {counted} rules found")),
        "promtool counts other rules than this test reads ({counted}): {stdout}"
    );
    assert_eq!(yaml_values(&read(RULES), "expr").len(), counted);

    let mut test = promtool();
    test.current_dir(&dir)
        .args(["test", "rules", "orgjobs.rules.test.yml"]);
    let out = run(test, None);
    assert!(out.status.success(), "promtool test rules: {}", text(&out));
}

/// Every alert has a severity, a unit test that sees it fire, and a runbook
/// entry in deploy/README.md that its `runbook` annotation points to.
#[test]
fn every_alert_is_tested_and_has_a_runbook_entry() {
    let rules = read(RULES);
    let tests = read(RULE_TESTS);
    let readme = read("README.md");
    let alerts = alert_names();
    assert!(alerts.len() >= 10, "{alerts:?}");
    let severities: Vec<String> = yaml_values(&rules, "severity")
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(severities.len(), alerts.len(), "one severity per alert");
    assert!(
        severities.iter().all(|s| s == "critical" || s == "warning"),
        "{severities:?}"
    );
    let runbooks: Vec<String> = yaml_values(&rules, "runbook")
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let headings: BTreeSet<String> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(|h| h.trim().to_lowercase())
        .collect();
    let mut problems = Vec::new();
    for alert in &alerts {
        // A test that expects it firing: its name, then an exp_labels
        // block before the next alertname.
        let fires = tests
            .split("alertname: ")
            .skip(1)
            .any(|case| case.starts_with(&format!("{alert}\n")) && case.contains("exp_labels:"));
        if !fires {
            problems.push(format!(
                "{alert}: no unit test in {RULE_TESTS} sees it fire"
            ));
        }
        let anchor = alert.to_lowercase();
        if !runbooks.contains(&format!("deploy/README.md#{anchor}")) {
            problems.push(format!(
                "{alert}: no runbook annotation deploy/README.md#{anchor}"
            ));
        }
        if !headings.contains(&anchor) {
            problems.push(format!(
                "{alert}: no `### {alert}` entry in deploy/README.md"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// --- Metric names ---------------------------------------------------------

/// The checker below finds what it should: unknown metrics, a histogram's
/// bare name, undefined recording rules; and leaves label values alone.
#[test]
fn the_metric_name_check_catches_unknown_names() {
    let names = exported_names();
    let records: BTreeSet<String> = ["orgjobs:queue_oldest_runnable_age_seconds".to_owned()].into();
    let bad = |expr: &str| !unknown_names("t", expr, &names, &records).is_empty();
    assert!(bad("sum(rate(orgjobs_jobs_totl[5m]))"));
    assert!(
        bad("orgjobs_job_duration_seconds > 1"),
        "a histogram's bare name"
    );
    assert!(bad("orgjobs:queue_oldest_age_seconds > 300"));
    assert!(!bad(
        r#"histogram_quantile(0.9, sum by (le) (rate(orgjobs_job_duration_seconds_bucket{kind="orgjobs_x"}[5m])))"#
    ));
    assert!(!bad("orgjobs:queue_oldest_runnable_age_seconds > 300"));
    assert!(!bad(r#"up{job="orgjobs-worker"} == 0"#));
}

/// Every query of the Grafana dashboard, every rule expression and every
/// series of the rules' unit tests names only `orgjobs_` metrics the code
/// exports ([`exported_names`]) and recording rules the rules define.
#[test]
fn dashboard_and_rules_name_only_metrics_the_code_exports() {
    let names = exported_names();
    let records = recording_rules();
    let mut problems = Vec::new();
    let queries = dashboard_queries(&dashboard());
    assert!(
        queries.len() >= 20,
        "found the dashboard's queries: {queries:?}"
    );
    for (origin, expr) in &queries {
        problems.extend(unknown_names(origin, expr, &names, &records));
    }
    let rules = read(RULES);
    let exprs = yaml_values(&rules, "expr");
    assert!(exprs.len() >= 15, "found the rules: {exprs:?}");
    for (line, expr) in &exprs {
        problems.extend(unknown_names(
            &format!("{RULES}:{line}"),
            expr,
            &names,
            &records,
        ));
    }
    // The unit tests' input series: a test fed a misspelt metric would pass
    // against a rule with the same misspelling.
    let tests = read(RULE_TESTS);
    let series = yaml_values(&tests, "series");
    assert!(series.len() >= 10, "found the test series: {series:?}");
    for (line, s) in series.iter().chain(yaml_values(&tests, "expr").iter()) {
        problems.extend(unknown_names(
            &format!("{RULE_TESTS}:{line}"),
            s,
            &names,
            &records,
        ));
    }
    assert!(
        problems.is_empty(),
        "names the code does not export (it exports: {names:?}):\n{}",
        problems.join("\n")
    );
    // Every signal the alerts page on is one of them.
    let used: BTreeSet<String> = exprs
        .iter()
        .flat_map(|(_, e)| orgjobs_identifiers(e))
        .collect();
    for signal in [
        "orgjobs_org_context_missing_total",
        "orgjobs_jobs_total",
        "orgjobs_queue_oldest_runnable_timestamp_seconds",
        "orgjobs_jobs_rescued_total",
        "orgjobs_workers_without_heartbeat",
        "orgjobs_rls_denied_total",
    ] {
        assert!(used.contains(signal), "no rule reads {signal}");
    }
}

/// The dashboard is a Grafana dashboard (title, uid, a Prometheus
/// datasource variable every panel uses, unique panel ids, a 24-column
/// grid) and every query is PromQL that promtool parses: the queries go
/// into a scratch rules file, with Grafana's interval variables replaced.
#[test]
fn the_dashboard_is_grafana_json_with_valid_promql() {
    let d = dashboard();
    assert_eq!(d["uid"], "orgjobs");
    assert_eq!(d["title"], "orgjobs");
    let vars = d["templating"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        vars.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "a Prometheus datasource variable: {vars:?}"
    );
    let panels = d["panels"].as_array().cloned().unwrap_or_default();
    let mut ids = BTreeSet::new();
    for p in &panels {
        let title = p["title"].as_str().unwrap_or("?");
        assert!(
            ids.insert(p["id"].as_i64().unwrap_or(-1)),
            "duplicate id: {title}"
        );
        let (x, w) = (p["gridPos"]["x"].as_i64(), p["gridPos"]["w"].as_i64());
        assert!(
            matches!((x, w), (Some(x), Some(w)) if x >= 0 && w > 0 && x + w <= 24),
            "{title}: gridPos {}",
            p["gridPos"]
        );
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
            for t in p["targets"].as_array().cloned().unwrap_or_default() {
                assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
            }
        }
    }

    let scratch = Scratch::new("dashboard");
    let mut yaml = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let queries = dashboard_queries(&d);
    for (i, (origin, expr)) in queries.iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "5m")
            .replace("$__interval", "1m")
            .replace("$__range", "1h");
        let indented: Vec<String> = expr.lines().map(|l| format!("          {l}")).collect();
        yaml.push_str(&format!(
            "      # {origin}\n      - record: dashboard:query_{i}\n        expr: |\n{}\n",
            indented.join("\n")
        ));
    }
    let file = scratch.0.join("dashboard.rules.yml");
    std::fs::write(&file, yaml).expect("write");
    let mut check = promtool();
    check.args(["check", "rules"]).arg(&file);
    let out = run(check, None);
    assert!(
        out.status.success(),
        "a dashboard query is not valid PromQL: {}",
        text(&out)
    );
}

// --- systemd units --------------------------------------------------------

/// The value of `key=` in a unit (the last one, as systemd reads it).
fn unit_value<'a>(unit: &'a str, key: &str) -> Option<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .next_back()
}

fn seconds(value: &str) -> f64 {
    let v = value.trim();
    let (num, scale) = match v.strip_suffix("min") {
        Some(n) => (n, 60.0),
        None => (v.strip_suffix('s').unwrap_or(v), 1.0),
    };
    num.trim().parse::<f64>().expect("a number of seconds") * scale
}

/// Both units: the sandbox the issue asks for, an EnvironmentFile, the
/// stop signal the processes handle; `systemd-analyze verify` with no
/// complaint about them (verify needs ExecStart's binary to exist: it
/// checks a copy whose ExecStart names the binary cargo built), and an
/// exposure level of at most 1.5 by `systemd-analyze security --offline`.
/// The worker's stop timeout leaves room for its graceful stop.
#[test]
fn systemd_units_verify_and_are_sandboxed() {
    let scratch = Scratch::new("units");
    let mut copies = Vec::new();
    for (rel, subcommand) in [(WORKER_UNIT, "worker"), (API_UNIT, "serve")] {
        let unit = read(rel);
        let required = [
            "DynamicUser=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "NoNewPrivileges=yes",
            "CapabilityBoundingSet=",
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
            "SystemCallFilter=@system-service",
            "MemoryDenyWriteExecute=yes",
            "EnvironmentFile=/etc/orgjobs/orgjobs.env",
            "KillSignal=SIGTERM",
        ];
        for line in required {
            assert!(
                unit.lines().any(|l| l.trim() == line),
                "{rel}: missing `{line}`"
            );
        }
        let exec = unit_value(&unit, "ExecStart").expect("ExecStart");
        let prefix = format!("/usr/local/bin/orgjobs {subcommand} ");
        assert!(exec.starts_with(&prefix), "{rel}: ExecStart={exec}");
        assert!(
            !exec.contains("postgres://") && !exec.contains("DATABASE_URL"),
            "{rel}: secrets belong in the EnvironmentFile"
        );
        let name = Path::new(rel).file_name().expect("file name");
        let copy = scratch.0.join(name);
        let rewritten = unit.replace(
            "ExecStart=/usr/local/bin/orgjobs ",
            &format!("ExecStart={BIN} "),
        );
        std::fs::write(&copy, rewritten).expect("write the copy");
        copies.push(copy);
    }

    // The worker's stop: --shutdown-timeout for running jobs, then up to
    // 10 s for its last report, then releasing and marking itself stopped.
    let worker = read(WORKER_UNIT);
    let exec = unit_value(&worker, "ExecStart").expect("ExecStart");
    let words: Vec<&str> = exec.split_whitespace().collect();
    let grace = words
        .windows(2)
        .find(|w| w[0] == "--shutdown-timeout")
        .map_or(30.0, |w| seconds(w[1]));
    let stop = seconds(unit_value(&worker, "TimeoutStopSec").expect("TimeoutStopSec"));
    assert!(
        stop >= grace + 10.0 + 15.0,
        "TimeoutStopSec={stop} leaves too little after --shutdown-timeout {grace} s"
    );

    let mut verify = systemd_analyze();
    verify.arg("verify").args(&copies);
    let out = run(verify, None);
    let complaints: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .chain(String::from_utf8_lossy(&out.stdout).lines())
        .filter(|l| l.contains("orgjobs-"))
        .map(str::to_owned)
        .collect();
    assert!(
        out.status.success() && complaints.is_empty(),
        "systemd-analyze verify: {complaints:?}\n{}",
        text(&out)
    );

    for copy in &copies {
        let mut security = systemd_analyze();
        security
            .args([
                "security",
                "--offline=yes",
                &format!("--threshold={MAX_EXPOSURE}"),
            ])
            .arg(copy);
        let out = run(security, None);
        assert!(
            out.status.success(),
            "{}: exposure above {MAX_EXPOSURE}: {}",
            copy.display(),
            text(&out)
        );
    }
}

/// Every variable the example EnvironmentFile sets (or shows commented
/// out) is one the binary reads (clap lists it as `env: NAME`).
#[test]
fn the_env_example_names_only_variables_the_binary_reads() {
    let mut help = String::new();
    for sub in ["worker", "serve"] {
        let out = Command::new(BIN)
            .args([sub, "--help"])
            .output()
            .expect("orgjobs --help");
        help.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    let keys = env_example_keys();
    assert!(keys.len() >= 5, "{keys:?}");
    for key in &keys {
        assert!(
            help.contains(&format!("env: {key}")),
            "{ENV_EXAMPLE}: {key} is read by neither `orgjobs worker` nor `orgjobs serve`"
        );
    }
}

/// Every `KEY=` line of the example, commented out or not.
fn env_example_keys() -> Vec<String> {
    read(ENV_EXAMPLE)
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k)
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(str::to_owned)
        .collect()
}

// --- Live processes -------------------------------------------------------

/// The example EnvironmentFile's settings (uncommented lines), with
/// `overrides` replacing its values (the test's database and ports).
fn env_from_example(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = read(ENV_EXAMPLE)
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    for (k, v) in overrides {
        env.retain(|(key, _)| key != k);
        env.push(((*k).to_owned(), (*v).to_owned()));
    }
    env
}

/// The unit's ExecStart arguments after the binary, with `--metrics-addr`
/// moved to a free port.
fn unit_args(rel: &str) -> Vec<String> {
    let unit = read(rel);
    let exec = unit_value(&unit, "ExecStart").expect("ExecStart");
    let mut args: Vec<String> = exec.split_whitespace().skip(1).map(str::to_owned).collect();
    if let Some(i) = args.iter().position(|a| a == "--metrics-addr") {
        args[i + 1] = "127.0.0.1:0".to_owned();
    }
    args
}

/// Starts the binary as the unit would (its arguments, the example's
/// environment), waiting for `ready`.
fn start_as_unit(rel: &str, env: &[(String, String)], ready: &str) -> (LoggedChild, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(unit_args(rel)).stdout(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (child, line) = LoggedChild::spawn(cmd, ready);
    let addr = line["addr"].as_str().unwrap_or_default().to_owned();
    (child, addr)
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.expect("request");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

/// `promtool check metrics` on a scrape, and every `orgjobs_` series in it
/// is one [`exported_names`] lists (so that list, which the dashboard check
/// relies on, is complete).
fn check_scrape(what: &str, body: &str) {
    let mut check = promtool();
    check.args(["check", "metrics"]);
    let out = run(check, Some(body));
    assert!(
        out.status.success(),
        "promtool check metrics on the {what}'s /metrics: {}\n{body}",
        text(&out)
    );
    let names = exported_names();
    for line in body.lines().filter(|l| l.starts_with("orgjobs_")) {
        let name = line.split(['{', ' ']).next().unwrap_or_default();
        assert!(
            names.contains(name),
            "the {what} exports {name}, which Metrics::names does not list"
        );
    }
}

/// The worker unit's command line with the example environment, as
/// `orgjobs_worker` in strict mode: its `/metrics` passes `promtool check
/// metrics` after it has done the work the alerts watch — a job of a dead
/// worker rescued, a silent worker seen, a tenant job without an
/// organization discarded, `SYSTEM_METRICS` run — and no label carries an
/// organization id. SIGTERM exits 0.
#[tokio::test]
async fn the_worker_unit_runs_a_worker_whose_metrics_pass_promtool() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    let org = common::seed_org(&pool, "A", 1).await;
    let c = db.admin_client().await;
    c.batch_execute(
        "INSERT INTO orgjobs.workers (id, heartbeat_at) VALUES ('gone', now() - interval '5 minutes')",
    )
    .await
    .expect("a silent worker");
    let stuck: i64 = c
        .query_one(
            "INSERT INTO orgjobs.jobs (kind, organization_id, state, attempt, attempted_at,
                                       locked_by, locked_until)
             VALUES ('METRICS_SNAPSHOT', $1, 'running', 1, now() - interval '2 minutes',
                     'gone', now() - interval '1 minute')
             RETURNING id",
            &[&org],
        )
        .await
        .expect("a job of the silent worker")
        .get(0);
    let orphan = insert_raw(&db, "METRICS_SNAPSHOT", None, serde_json::json!({})).await;

    let url = db.url_string_as("orgjobs_worker");
    // The example's model folder is a production path; this machine's model
    // is where scripts/fetch-model put it (and `required` holds there).
    let model = orgjobs_embed::shared_for_tests().expect("model");
    let model_dir = orgjobs_embed::default_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let policy = if model.is_some() { "required" } else { "off" };
    let env = env_from_example(&[
        ("DATABASE_URL", &url),
        ("ORGJOBS_MODEL_DIR", &model_dir),
        ("ORGJOBS_EMBEDDINGS", policy),
    ]);
    let (worker, addr) = start_as_unit(WORKER_UNIT, &env, "metrics_listening");
    wait_for_state(&db, stuck, "completed").await;
    wait_for_state(&db, orphan, "discarded").await;
    let system = insert_raw(&db, "SYSTEM_METRICS", None, serde_json::json!({})).await;
    wait_for_state(&db, system, "completed").await;

    let metrics_url = format!("http://{addr}/metrics");
    let expected = [
        "orgjobs_jobs_rescued_total{outcome=\"retried\"} 1",
        "orgjobs_workers_without_heartbeat 1",
        "orgjobs_org_context_missing_total{endpoint=\"worker\"} 1",
        "orgjobs_jobs_total{kind=\"METRICS_SNAPSHOT\",outcome=\"completed\"} 1",
        "orgjobs_queue_depth{kind=\"METRICS_SNAPSHOT\",state=\"discarded\"} 1",
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let body = loop {
        let body = get(&metrics_url).await.1;
        if expected.iter().all(|l| body.contains(l)) {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker's metrics lack some of {expected:?}:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let reading = body
        .lines()
        .find_map(|l| l.strip_prefix("orgjobs_system_metrics_timestamp_seconds "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(reading > 1.0e9, "SYSTEM_METRICS ran: {reading}\n{body}");
    assert!(
        !body.contains(&org.to_string()),
        "an organization id in a label:\n{body}"
    );
    check_scrape("worker", &body);
    assert!(worker.terminate().success(), "SIGTERM exits 0");
}

/// The API unit's command line with the example environment (its address
/// moved to a free port): `/metrics` passes `promtool check metrics` after
/// an authorized request and a refused one, and no label carries an
/// organization id. SIGTERM exits 0.
#[tokio::test]
async fn the_api_unit_runs_a_server_whose_metrics_pass_promtool() {
    let db = common::db().await;
    let pool = common::pool(&db, 2).await;
    let org = common::seed_org(&pool, "A", 1).await;
    let o = org.to_string();
    let out = orgjobs(
        db.url_string(),
        &["token", "create", "--org", &o, "--role", "viewer"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();

    let url = db.url_string_as("orgjobs_worker");
    let env = env_from_example(&[("DATABASE_URL", &url), ("ORGJOBS_API_ADDR", "127.0.0.1:0")]);
    let (server, addr) = start_as_unit(API_UNIT, &env, "api_listening");
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let ok = http
        .get(format!("{base}/api/tickets"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), 200);
    let refused = http
        .get(format!("{base}/api/tickets"))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 401);
    let (status, body) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    for line in [
        r#"orgjobs_http_requests_total{method="GET",route="/api/tickets",status="200"} 1"#,
        r#"orgjobs_org_context_missing_total{endpoint="/api/tickets"} 1"#,
        r#"orgjobs_http_request_duration_seconds_bucket{method="GET",route="/api/tickets""#,
    ] {
        assert!(body.contains(line), "{line} in\n{body}");
    }
    assert!(!body.contains(&o), "an organization id in a label:\n{body}");
    check_scrape("API server", &body);
    assert!(server.terminate().success(), "SIGTERM exits 0");
}
