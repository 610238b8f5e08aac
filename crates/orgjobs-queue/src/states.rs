//! A job's states, defined once. Statements that select waiting jobs must
//! spell the list exactly as the partial indexes do (`state IN ('available',
//! 'scheduled', 'retryable')`): PostgreSQL uses a partial index only when it
//! can prove the statement's condition implies the index's, and a bound
//! parameter would not let it. So the SQL list is a compile-time literal
//! ([`waiting_states_sql!`]), the Rust list is [`WAITING_STATES`], and a test
//! checks that every statement and migration repeats exactly this list.

/// Every state a job can be in.
pub const STATES: &[&str] = &[
    "available",
    "scheduled",
    "running",
    "retryable",
    "completed",
    "discarded",
    "cancelled",
];

/// The states of a job that waits to run (claimable once `run_at` passes).
pub const WAITING_STATES: &[&str] = &["available", "scheduled", "retryable"];

/// The states of a job that ended.
pub const FINISHED_STATES: &[&str] = &["completed", "discarded", "cancelled"];

/// [`WAITING_STATES`] as the SQL list the partial indexes use, for
/// `concat!` into statement constants.
macro_rules! waiting_states_sql {
    () => {
        "('available', 'scheduled', 'retryable')"
    };
}
pub(crate) use waiting_states_sql;

#[cfg(test)]
mod tests {
    use super::*;

    fn sql_list(states: &[&str]) -> String {
        let quoted: Vec<String> = states.iter().map(|s| format!("'{s}'")).collect();
        format!("({})", quoted.join(", "))
    }

    #[test]
    fn the_sql_list_is_the_rust_list() {
        assert_eq!(waiting_states_sql!(), sql_list(WAITING_STATES));
        for s in WAITING_STATES.iter().chain(FINISHED_STATES) {
            assert!(STATES.contains(s), "{s}");
        }
    }

    /// Every `state IN (...)` of the queue's statements and migrations that
    /// lists `available` lists exactly the waiting states (or, in the
    /// table's check constraint, every state).
    #[test]
    fn every_statement_spells_the_waiting_states_alike() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["sql", "sql/worker", "sql/maintenance", "migrations", "src"] {
            for entry in std::fs::read_dir(root.join(dir)).expect(dir).flatten() {
                let path = entry.path();
                let ours = path.file_name().is_some_and(|n| n == "states.rs");
                if !ours
                    && matches!(
                        path.extension().and_then(|e| e.to_str()),
                        Some("sql" | "rs")
                    )
                {
                    files.push(path);
                }
            }
        }
        assert!(files.len() > 10, "found the statements");
        let waiting = sql_list(WAITING_STATES);
        let mut seen = 0;
        for path in files {
            let text = std::fs::read_to_string(&path).expect("read");
            for (i, _) in text.match_indices("state IN (") {
                let list = &text[i + "state IN ".len()..];
                let list = &list[..=list.find(')').expect("closing parenthesis")];
                let list = list
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .replace("( ", "(")
                    .replace(" )", ")");
                if !list.contains("'available'") {
                    continue;
                }
                seen += 1;
                assert!(
                    list == waiting || list == sql_list(STATES),
                    "{}: state IN {list}",
                    path.display()
                );
            }
        }
        assert!(seen > 10, "checked the statements ({seen})");
    }
}
