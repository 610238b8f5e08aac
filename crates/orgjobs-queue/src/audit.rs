//! The ways the tenant role could reach tenant rows other than through each
//! table's policy, found in the catalog: views and materialized views that
//! read tenant tables with someone else's rights, `SECURITY DEFINER`
//! functions nobody reviewed, memberships in roles that bypass row-level
//! security, and foreign keys whose checks reveal other organizations' rows.
//! (A table's own state — RLS, FORCE, policy, owner, privileges — is
//! [`crate::catalog::TenantTable`]'s.)
//!
//! Every query is a catalog read: cheap enough for the worker's startup
//! check, which refuses to start on any hole, as `orgjobs proof` fails.

use tokio_postgres::Client;
use tokio_postgres::types::Type;

use crate::error::DbError;

const VIEWS_SQL: &str = include_str!("../sql/audit/views.sql");
const DEFINERS_SQL: &str = include_str!("../sql/audit/definers.sql");
const MEMBERSHIPS_SQL: &str = include_str!("../sql/audit/memberships.sql");
const FOREIGN_KEYS_SQL: &str = include_str!("../sql/audit/foreign_keys.sql");

/// A view or materialized view the tenant role may read that shows tenant
/// rows without the reader's context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeakyView {
    /// The relation, as PostgreSQL names it.
    pub name: String,
    /// A materialized view (its rows were computed at refresh time).
    pub materialized: bool,
    /// The tenant tables it reads.
    pub reads: Vec<String>,
}

/// A `SECURITY DEFINER` function the tenant role can reach that is not in
/// `orgjobs.reviewed_functions` as it is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreviewedDefiner {
    /// `schema.name(argument types)`.
    pub signature: String,
    /// Never reviewed (false: its body or settings changed since).
    pub never_reviewed: bool,
}

/// A foreign key between tenant tables that does not include the
/// organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbingKey {
    /// The constraint.
    pub name: String,
    /// The referencing table.
    pub table: String,
    /// The referenced table.
    pub references: String,
}

/// Everything found; empty vectors when all is well.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holes {
    /// Views that leak.
    pub views: Vec<LeakyView>,
    /// Definer functions outside the reviewed list.
    pub definers: Vec<UnreviewedDefiner>,
    /// Roles that bypass RLS and that the tenant role is a member of.
    pub bypassing_memberships: Vec<String>,
    /// Foreign keys that can probe other organizations' rows.
    pub probing_keys: Vec<ProbingKey>,
}

impl LeakyView {
    /// What is wrong, and what to do.
    pub fn problem(&self) -> String {
        if self.materialized {
            format!(
                "materialized view {} reads {} and the tenant role may read it: its rows are every organization's (row-level security does not apply to materialized views); revoke SELECT from the tenant role",
                self.name,
                self.reads.join(", ")
            )
        } else {
            format!(
                "view {} reads {} with its owner's rights and the tenant role may read it: recreate it WITH (security_invoker = true) or revoke SELECT from the tenant role",
                self.name,
                self.reads.join(", ")
            )
        }
    }
}

impl UnreviewedDefiner {
    /// What is wrong, and what to do.
    pub fn problem(&self) -> String {
        if self.never_reviewed {
            format!(
                "SECURITY DEFINER function {} can be reached by the tenant role and is not reviewed: it runs with its owner's rights, past row-level security; review it and record it with orgjobs.mark_reviewed('{}') in a migration, or revoke EXECUTE from the tenant role",
                self.signature, self.signature
            )
        } else {
            format!(
                "SECURITY DEFINER function {} changed since it was reviewed (its body or settings differ); review it again and record it with orgjobs.mark_reviewed",
                self.signature
            )
        }
    }
}

impl ProbingKey {
    /// What is wrong.
    pub fn problem(&self) -> String {
        format!(
            "foreign key {} on {} references {} without organization_id: its checks bypass row-level security, so an insert can tell whether another organization's row exists",
            self.name, self.table, self.references
        )
    }
}

/// What is wrong with a membership of the tenant role.
pub fn membership_problem(role: &str) -> String {
    format!("the tenant role is a member of {role}, which bypasses row-level security")
}

impl Holes {
    /// One sentence per hole, naming it.
    pub fn problems(&self) -> Vec<String> {
        let views = self.views.iter().map(LeakyView::problem);
        let definers = self.definers.iter().map(UnreviewedDefiner::problem);
        let members = self
            .bypassing_memberships
            .iter()
            .map(|r| membership_problem(r));
        let keys = self.probing_keys.iter().map(ProbingKey::problem);
        views.chain(definers).chain(members).chain(keys).collect()
    }
}

/// Reads every hole for `tenant_role` from the catalog.
pub async fn holes(client: &Client, tenant_role: &str) -> Result<Holes, DbError> {
    let q = |what| move |e| DbError::query(what, e);
    // $1 (every statement): the tenant role's name.
    let role = [(
        &tenant_role as &(dyn tokio_postgres::types::ToSql + Sync),
        Type::TEXT,
    )];
    let views = client
        .query_typed(VIEWS_SQL, &role)
        .await
        .map_err(q("auditing views over tenant tables"))?
        .iter()
        .map(|r| LeakyView {
            name: r.get(0),
            materialized: r.get::<_, String>(1) == "m",
            reads: r.get(2),
        })
        .collect();
    let definers = client
        .query_typed(DEFINERS_SQL, &role)
        .await
        .map_err(q("auditing SECURITY DEFINER functions"))?
        .iter()
        .map(|r| UnreviewedDefiner {
            signature: r.get(0),
            never_reviewed: r.get::<_, String>(1) == "unreviewed",
        })
        .collect();
    let bypassing_memberships = client
        .query_typed(MEMBERSHIPS_SQL, &role)
        .await
        .map_err(q("auditing the tenant role's memberships"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let probing_keys = client
        .query_typed(FOREIGN_KEYS_SQL, &[])
        .await
        .map_err(q("auditing foreign keys between tenant tables"))?
        .iter()
        .map(|r| ProbingKey {
            name: r.get(0),
            table: r.get(1),
            references: r.get(2),
        })
        .collect();
    Ok(Holes {
        views,
        definers,
        bypassing_memberships,
        probing_keys,
    })
}
