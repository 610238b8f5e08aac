//! The statement guard: what a job transaction refuses to send. It reads
//! the first token as PostgreSQL's lexer does and refuses statements that
//! would end the transaction, change the session or leave something behind
//! for the next job; it is not a parser (see the README's threat model).

/// Statements that end or nest transactions, change session state, run
/// code the guard cannot see (`DO`, `EXECUTE` of a prepared statement), or
/// leave something behind on the connection for the next job (`PREPARE`,
/// `DECLARE … WITH HOLD`, `LISTEN`).
const REFUSED_KEYWORDS: &[&str] = &[
    "BEGIN",
    "START",
    "COMMIT",
    "END",
    "ROLLBACK",
    "ABORT",
    "SAVEPOINT",
    "RELEASE",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "DECLARE",
    "SET",
    "RESET",
    "DISCARD",
    "LISTEN",
    "UNLISTEN",
    "COPY",
    "DO",
    "LOAD",
];

/// Names whose mere mention refuses a statement: `set_config` (and
/// `pg_settings`, whose UPDATE calls it) change settings from inside a
/// statement the keyword check would let through.
const REFUSED_NAMES: &[&str] = &["set_config", "pg_settings"];

/// Why `sql` must not run inside a job transaction, if it must not: a
/// refused leading keyword, read as PostgreSQL's lexer reads it (after
/// whitespace, `--` and nested `/* */` comments, semicolons and opening
/// parentheses), or a refused name anywhere in the text.
///
/// This guard stops accidents and statements injected through the API; it
/// is not a parser. Strict tenant mode ([`crate::strict`]) makes the server
/// itself refuse the function paths.
pub(super) fn refused_keyword(sql: &str) -> Option<String> {
    let lower = sql.to_ascii_lowercase();
    if let Some(name) = REFUSED_NAMES.iter().find(|n| lower.contains(*n)) {
        return Some(name.to_string());
    }
    let word: String = first_token(sql)
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    REFUSED_KEYWORDS.contains(&word.as_str()).then_some(word)
}

/// The statement text after what PostgreSQL skips before the first token:
/// whitespace, `--` comments, nested `/* */` comments, and — as tokens that
/// begin no statement of their own — semicolons and opening parentheses.
fn first_token(sql: &str) -> &str {
    let mut s = sql;
    loop {
        let trimmed = s.trim_start();
        if let Some(rest) = trimmed.strip_prefix("--") {
            s = rest.split_once('\n').map_or("", |(_, r)| r);
        } else if trimmed.starts_with("/*") {
            s = skip_block_comment(trimmed);
        } else if let Some(rest) = trimmed
            .strip_prefix(';')
            .or_else(|| trimmed.strip_prefix('('))
        {
            s = rest;
        } else {
            return trimmed;
        }
    }
}

/// `s` starts with `/*`; returns what follows the matching `*/` (block
/// comments nest in PostgreSQL), or "" when it never closes.
fn skip_block_comment(s: &str) -> &str {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return &s[i..];
                }
            }
            _ => i += 1,
        }
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::refused_keyword;

    #[test]
    fn refuses_transaction_control_and_settings() {
        for sql in [
            "COMMIT",
            "  commit;",
            "-- note\nROLLBACK",
            "/* x */ reset role",
            "SET ROLE postgres",
            "set local app.current_org = 'x'",
            "END",
            "begin",
            "savepoint a",
            "DISCARD ALL",
            // PostgreSQL's block comments nest: all of the comment is skipped.
            "/* a /* b */ c */ RESET ROLE",
            "/* /* */ */ SET ROLE postgres",
            "; RESET ROLE",
            ";;\n RESET ROLE",
            "\u{c}\tRESET ROLE",
            "DO $$ BEGIN SET LOCAL app.current_org = 'x'; END $$",
            "EXECUTE s0('none', 'x')",
            "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
            "DEALLOCATE ALL",
            "SELECT set_config('search_path', 'x', false)",
            "SELECT pg_catalog.\"set_config\"('role', 'none', true)",
            "update PG_SETTINGS set setting = 'x' where name = 'search_path'",
        ] {
            assert!(refused_keyword(sql).is_some(), "{sql} should be refused");
        }
        for sql in [
            "SELECT 1",
            "select count(*) from tickets",
            "UPDATE tickets SET status = 'open'",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "INSERT INTO settings VALUES (1)",
            "(SELECT 1)",
            "/* SET ROLE */ SELECT 1",
            "-- RESET ROLE\nSELECT 1",
            "SELECT 'do' AS settings",
        ] {
            assert!(refused_keyword(sql).is_none(), "{sql} should run");
        }
    }
}
