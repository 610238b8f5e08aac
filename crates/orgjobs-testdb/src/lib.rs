//! Test databases: a template migrated once per set of migrations, and one
//! database per test cloned from it, dropped when the test ends (also when
//! it panics).
//!
//! Template creation is serialized across test processes by an advisory
//! lock taken in the server's `postgres` database (advisory locks do not
//! cross databases, so every process must lock in the same one). The
//! template's name carries a hash of the migrations, so a changed migration
//! gets a fresh template.
//!
//! The server is `ORGJOBS_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres` (a superuser: tests create
//! databases and roles).

mod jobs;
mod pgbouncer;
mod process;
mod server;

use std::sync::atomic::{AtomicU32, Ordering};

use orgjobs_queue::{DbUrl, Migration, apply_pending, ensure_roles, set_strict};
use tokio_postgres::Client;

pub use jobs::{
    JobRow, admin_count, count_state, enqueue_probes, insert_raw, job, marks, register,
    wait_for_state, wait_until,
};
pub use pgbouncer::PgBouncer;
pub use process::{LoggedChild, sigkill};
pub use server::{PrivateServer, ServerOptions};

/// Default admin URL of the test server.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Advisory lock key for template creation (in the `postgres` database).
const TEMPLATE_LOCK_KEY: i64 = 0x6f72_676a_6f62_7402;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The admin URL tests use.
pub fn admin_url() -> DbUrl {
    let raw =
        std::env::var("ORGJOBS_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
    match DbUrl::parse(&raw) {
        Ok(u) => u,
        Err(e) => panic!("{e}"),
    }
}

/// A database for one test. Dropped (`WITH (FORCE)`) when this value drops.
pub struct TestDb {
    name: String,
    admin: DbUrl,
    url: DbUrl,
    raw_url: String,
}

impl TestDb {
    /// Clones a fresh database from the template for `migrations`, in
    /// strict tenant mode (as production should run; a test that needs it
    /// off calls [`orgjobs_queue::set_strict`]).
    pub async fn new(migrations: &[Migration]) -> TestDb {
        let admin = admin_url();
        let client = admin.connect().await.unwrap_or_else(|e| panic!("{e}"));
        let template = ensure_template(&client, &admin, migrations).await;
        let name = format!(
            "orgjobs_t_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            &uuid_suffix()
        );
        create_database(&client, &name, Some(&template)).await;
        let url = admin.with_dbname(&name);
        // Part of strict mode is a database privilege, which a clone does
        // not inherit from its template.
        let own = url.connect().await.unwrap_or_else(|e| panic!("{e}"));
        set_strict(&own, true)
            .await
            .unwrap_or_else(|e| panic!("strict tenant mode: {e}"));
        drop(own);
        let raw_url = url_string(&admin, &name, None);
        TestDb {
            name,
            admin,
            url,
            raw_url,
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// URL of this database, as the admin login.
    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    /// URL string of this database, as the admin login (for child processes).
    pub fn url_string(&self) -> &str {
        &self.raw_url
    }

    /// URL string of this database for another login role (trust
    /// authentication on the test server).
    pub fn url_string_as(&self, user: &str) -> String {
        url_string(&self.admin, &self.name, Some(user))
    }

    /// An admin connection to this database.
    pub async fn admin_client(&self) -> Client {
        self.url.connect().await.unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime; a separate thread with its
        // own runtime can block on the DROP without deadlocking it.
        let handle = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return eprintln!("cannot drop test database {name}: {e}"),
            };
            rt.block_on(async {
                match admin.connect().await {
                    Ok(c) => {
                        if let Err(e) = drop_database(&c, &name).await {
                            eprintln!("cannot drop test database {name}: {e}");
                        }
                    }
                    Err(e) => eprintln!("cannot drop test database {name}: {e}"),
                }
            });
        });
        let _ = handle.join();
    }
}

fn uuid_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{nanos:08x}")
}

fn url_string(admin: &DbUrl, dbname: &str, user: Option<&str>) -> String {
    let c = admin.config();
    let host = c
        .get_hosts()
        .iter()
        .find_map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => Some(h.clone()),
            #[allow(unreachable_patterns)]
            _ => None,
        })
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let user = user.or(c.get_user()).unwrap_or("postgres");
    match c.get_password() {
        Some(pw) if user == c.get_user().unwrap_or("") => format!(
            "postgres://{user}:{}@{host}:{port}/{dbname}",
            String::from_utf8_lossy(pw)
        ),
        _ => format!("postgres://{user}@{host}:{port}/{dbname}"),
    }
}

async fn ensure_template(client: &Client, admin: &DbUrl, migrations: &[Migration]) -> String {
    let all_sql: String = migrations
        .iter()
        .map(|m| format!("-- {}\n{}", m.name, m.sql))
        .collect();
    let hash: String = client
        .query_one("SELECT left(md5($1), 12)", &[&all_sql])
        .await
        .unwrap_or_else(|e| panic!("hashing migrations: {e}"))
        .get(0);
    let template = format!("orgjobs_tpl_{hash}");
    client
        .query("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK_KEY])
        .await
        .unwrap_or_else(|e| panic!("locking template creation: {e}"));
    let ready: bool = client
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1 AND datistemplate)",
            &[&template],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .get(0);
    if !ready {
        // A half-built template (a crashed run) is rebuilt.
        drop_database(client, &template)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        create_database(client, &template, None).await;
        let mut tpl = admin
            .with_dbname(&template)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        ensure_roles(&tpl)
            .await
            .unwrap_or_else(|e| panic!("creating roles: {e}"));
        let tx = tpl.transaction().await.unwrap_or_else(|e| panic!("{e}"));
        apply_pending(tx.client(), migrations)
            .await
            .unwrap_or_else(|e| panic!("migrating the template: {e}"));
        tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
        drop(tpl);
        let sql: String = client
            .query_one(
                "SELECT format('ALTER DATABASE %I IS_TEMPLATE true', $1::text)",
                &[&template],
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .get(0);
        // The template connection may still be closing; retry briefly.
        for attempt in 0.. {
            match client.batch_execute(&sql).await {
                Ok(()) => break,
                Err(e) if attempt < 50 => {
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => panic!("marking the template: {e}"),
            }
        }
    }
    client
        .query("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK_KEY])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    template
}

async fn create_database(client: &Client, name: &str, template: Option<&str>) {
    orgjobs_queue::create_database(client, name, template)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

async fn drop_database(client: &Client, name: &str) -> Result<(), orgjobs_queue::DbError> {
    orgjobs_queue::drop_database(client, name).await
}
