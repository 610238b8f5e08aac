//! TLS to PostgreSQL as libpq's `sslmode` spells it, against a private
//! server started with `ssl = on`, a certificate for `localhost` made by a
//! test CA, and a `pg_hba.conf` that admits TLS connections only.

mod common;

use common::text;
use orgjobs_queue::DbUrl;
use orgjobs_testdb::{PrivateServer, ServerOptions};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

struct Pki {
    dir: std::path::PathBuf,
    server_cert: String,
    server_key: String,
}

impl Pki {
    /// Two CAs (the server's and an unrelated one) and a server certificate
    /// for `localhost` signed by the first.
    fn new() -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "orgjobs-tls-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let ca = |name: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca")
        };
        let ours = ca("orgjobs test CA");
        let other = ca("some other CA");
        std::fs::write(dir.join("ca.pem"), ours.pem()).expect("write");
        std::fs::write(dir.join("other-ca.pem"), other.pem()).expect("write");
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &ours).expect("sign");
        Pki {
            dir,
            server_cert: cert.pem(),
            server_key: key.serialize_pem(),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tls_server(pki: &Pki) -> PrivateServer {
    PrivateServer::start(ServerOptions {
        config: vec![
            "ssl = on".to_owned(),
            "ssl_cert_file = 'server.crt'".to_owned(),
            "ssl_key_file = 'server.key'".to_owned(),
        ],
        // TLS or nothing: a plain connection finds no entry.
        hba: Some("local all all trust\nhostssl all all 127.0.0.1/32 trust\n".to_owned()),
        files: vec![
            ("server.crt".to_owned(), pki.server_cert.clone(), 0o644),
            ("server.key".to_owned(), pki.server_key.clone(), 0o600),
        ],
        env: Vec::new(),
    })
}

/// Connects and returns whether the session is encrypted, or the error.
async fn connect(url: &str) -> Result<bool, String> {
    let db = DbUrl::parse(url).map_err(|e| e.to_string())?;
    let client = db.connect().await.map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test]
async fn every_sslmode_behaves_as_libpq_documents() {
    let pki = Pki::new();
    let server = tls_server(&pki);
    let port = server.port();
    let ca = pki.path("ca.pem");
    let other = pki.path("other-ca.pem");
    let url =
        |host: &str, query: &str| format!("postgres://postgres@{host}:{port}/postgres?{query}");

    // verify-full: the chain and the name both check out.
    assert_eq!(
        connect(&url(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={ca}")
        ))
        .await,
        Ok(true)
    );
    // The same certificate reached by an address it does not list.
    let err = connect(&url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .await
    .expect_err("wrong host name refused");
    assert!(
        err.contains("sslmode=verify-full") && err.contains("not issued for the host"),
        "{err}"
    );
    // A CA that did not sign the server's certificate.
    let err = connect(&url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={other}"),
    ))
    .await
    .expect_err("unknown CA refused");
    assert!(err.contains("not signed by a CA in sslrootcert"), "{err}");
    // verify-ca checks the chain only; require and prefer encrypt unverified.
    assert_eq!(
        connect(&url(
            "127.0.0.1",
            &format!("sslmode=verify-ca&sslrootcert={ca}")
        ))
        .await,
        Ok(true)
    );
    let err = connect(&url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={other}"),
    ))
    .await
    .expect_err("verify-ca still checks the chain");
    assert!(err.contains("not signed by a CA"), "{err}");
    assert_eq!(
        connect(&url("127.0.0.1", "sslmode=require")).await,
        Ok(true)
    );
    assert_eq!(connect(&url("127.0.0.1", "sslmode=prefer")).await, Ok(true));
    // require with a root behaves as verify-ca, as in libpq.
    assert!(
        connect(&url(
            "127.0.0.1",
            &format!("sslmode=require&sslrootcert={other}")
        ))
        .await
        .is_err()
    );
    // disable sends no TLS; this server admits none.
    let err = connect(&url("127.0.0.1", "sslmode=disable"))
        .await
        .expect_err("plain refused");
    assert!(
        err.contains("no encryption") || err.contains("pg_hba.conf"),
        "{err}"
    );
    // The keyword/value form takes the same parameters.
    assert_eq!(
        connect(&format!(
            "host=localhost port={port} user=postgres dbname=postgres sslmode=verify-full sslrootcert='{ca}'"
        ))
        .await,
        Ok(true)
    );
    // A mode libpq does not know is refused before connecting.
    let err = connect(&url("localhost", "sslmode=verify_full"))
        .await
        .expect_err("bad mode");
    assert!(err.contains("not one of disable, prefer"), "{err}");
}

#[tokio::test]
async fn migrate_and_a_worker_run_over_verify_full() {
    let pki = Pki::new();
    let server = tls_server(&pki);
    let ca = pki.path("ca.pem");
    let url = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={ca}",
        server.port()
    );
    let migrate = common::orgjobs(&url, &["migrate", "--strict"]);
    assert!(migrate.status.success(), "{}", text(&migrate));
    let pool = DbUrl::parse(&url)
        .expect("url")
        .pool(2)
        .await
        .expect("pool");
    let org = common::seed_org(&pool, "A", 2).await;
    let enqueue = common::orgjobs(
        &url,
        &["enqueue", "METRICS_SNAPSHOT", "--org", &org.to_string()],
    );
    assert!(enqueue.status.success(), "{}", text(&enqueue));
    let worker = common::orgjobs(&url, &["worker", "--drain", "--require-strict"]);
    assert!(worker.status.success(), "{}", text(&worker));
    let c = pool.get().await.expect("conn");
    let done: i64 = c
        .query_one(
            "SELECT count(*) FROM orgjobs.jobs WHERE kind = 'METRICS_SNAPSHOT' AND state = 'completed'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(done, 1);
    // Without a root to verify against, verify-full is refused up front.
    let home = std::env::temp_dir().join(format!("orgjobs-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("home");
    let no_root = std::process::Command::new(common::BIN)
        .args(["queue", "stats"])
        .env(
            "DATABASE_URL",
            format!(
                "postgres://postgres@localhost:{}/postgres?sslmode=verify-full",
                server.port()
            ),
        )
        .env("HOME", &home)
        .output()
        .expect("run");
    let _ = std::fs::remove_dir_all(&home);
    assert!(!no_root.status.success());
    assert!(
        String::from_utf8_lossy(&no_root.stderr).contains("set sslrootcert"),
        "{}",
        text(&no_root)
    );
}

/// The cancel request of a timed-out job goes over the same verified TLS as
/// the pool's connections (a wrong name to verify would fail the
/// handshake), and it cancels the statement.
#[tokio::test]
async fn cancel_requests_go_over_verified_tls() {
    let pki = Pki::new();
    let server = tls_server(&pki);
    let url = DbUrl::parse(&format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
        server.port(),
        pki.path("ca.pem")
    ))
    .expect("url");
    let pool = url.pool(2).await.expect("pool");
    let sleeper = pool.get().await.expect("conn");
    let token = sleeper.cancel_token();
    let sleeping = tokio::spawn(async move { sleeper.batch_execute("SELECT pg_sleep(30)").await });
    let watcher = pool.get().await.expect("conn");
    common::wait_until(
        std::time::Duration::from_secs(10),
        "the statement to run",
        || async {
            watcher
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'",
                    &[],
                )
                .await
                .map(|r| r.get::<_, i64>(0) == 1)
                .unwrap_or(false)
        },
    )
    .await;
    url.cancel_route()
        .cancel(&token)
        .await
        .expect("cancel request over verify-full");
    let err = sleeping
        .await
        .expect("join")
        .expect_err("the statement was cancelled");
    assert_eq!(
        err.code(),
        Some(&orgjobs_queue::tokio_postgres::error::SqlState::QUERY_CANCELED),
        "{err}"
    );
}
