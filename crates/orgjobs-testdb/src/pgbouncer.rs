//! A PgBouncer of a test's own (Debian's package), in transaction pooling
//! mode, in front of the test server.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A PgBouncer in transaction pooling mode in front of the test server, on
/// a free local port. Stopped on drop.
pub struct PgBouncer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: std::path::PathBuf,
}

impl PgBouncer {
    /// One server connection per database: every transaction of every
    /// client shares it.
    pub fn start() -> PgBouncer {
        Self::with_pool_size(1)
    }

    /// `pool_size` server connections per database: consecutive
    /// transactions of one client may run on different server connections,
    /// so a named statement prepared in one is missing in the next.
    pub fn with_pool_size(pool_size: usize) -> PgBouncer {
        let bin = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect(
                "pgbouncer is not installed: scripts/test installs it (apt-get install pgbouncer)",
            );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let dir = std::env::temp_dir().join(format!(
            "orgjobs-queue-pgbouncer-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let ini = format!(
            "[databases]\n* = host=127.0.0.1 port=5432\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
             unix_socket_dir =\nauth_type = trust\nauth_file = {d}/users.txt\npool_mode = transaction\n\
             default_pool_size = {pool_size}\nmin_pool_size = 0\nmax_client_conn = 200\nlogfile = {d}/pgbouncer.log\n\
             ignore_startup_parameters = extra_float_digits,options\n",
            d = dir.display()
        );
        std::fs::write(dir.join("pgbouncer.ini"), ini).expect("ini");
        std::fs::write(
            dir.join("users.txt"),
            "\"postgres\" \"\"\n\"orgjobs_worker\" \"\"\n",
        )
        .expect("users");
        // PgBouncer refuses to run as root; -u drops to the postgres user.
        let _ = Command::new("chmod")
            .args(["-R", "a+rwx"])
            .arg(&dir)
            .status();
        let mut cmd = Command::new(bin);
        if Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0"))
            .unwrap_or(false)
        {
            cmd.args(["-u", "postgres"]);
        }
        let child = cmd
            .arg(dir.join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pgbouncer");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "pgbouncer did not start; see {}",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        PgBouncer { child, port, dir }
    }

    /// Whether the PgBouncer process is still running (it exits on its own
    /// fatal errors).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// A plain-TCP URL of `dbname` through this PgBouncer.
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{dbname}?sslmode=disable",
            self.port
        )
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let exited = self.child.try_wait().ok().flatten();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() || exited.is_some() {
            // Keep the log of a failed test or of a PgBouncer that died.
            eprintln!(
                "pgbouncer on port {} ({}); its log: {}",
                self.port,
                match exited {
                    Some(status) => format!("exited early: {status}"),
                    None => "still running".to_string(),
                },
                self.dir.join("pgbouncer.log").display()
            );
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
