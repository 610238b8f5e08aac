//! What a tenant handler cannot do, proven by the compiler: each file under
//! `tests/compile_fail/` must fail to compile with exactly the error in its
//! `.stderr` (so a typo or an unrelated error cannot pass for the proof).

#[test]
fn a_tenant_handler_cannot_reach_a_global_session_or_its_connection() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/compile_fail/*.rs");
}
