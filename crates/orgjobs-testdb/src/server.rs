//! A private PostgreSQL server for tests that must restart, crash or
//! reconfigure one (TLS, `lc_messages`): `initdb` and `pg_ctl` from the
//! folder `pg_config --bindir` names, a free port, a temporary directory,
//! stopped and removed on drop. Run as root, the server runs as the
//! `postgres` user (PostgreSQL refuses to run as root).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How to set up a private server.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// Lines appended to `postgresql.conf`.
    pub config: Vec<String>,
    /// `pg_hba.conf` in full; `None`: trust for local and 127.0.0.1.
    pub hba: Option<String>,
    /// Files to put in the data directory before the first start (name,
    /// contents, mode), e.g. a TLS certificate and key.
    pub files: Vec<(String, String, u32)>,
    /// Environment of the server process (e.g. `LOCPATH`).
    pub env: Vec<(String, String)>,
}

/// A running private server. Stopped (immediately) and deleted on drop.
pub struct PrivateServer {
    dir: PathBuf,
    data: PathBuf,
    bindir: PathBuf,
    port: u16,
    env: Vec<(String, String)>,
    owner: Option<(u32, u32)>,
}

fn fail(what: &str, out: &Output) -> ! {
    panic!(
        "{what} failed ({:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The uid and gid of `postgres` when running as root (the server refuses
/// root); `None` otherwise.
fn server_owner() -> Option<(u32, u32)> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return None;
    }
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    match (id("-u"), id("-g")) {
        (Some(u), Some(g)) => Some((u, g)),
        _ => panic!("running as root, a private PostgreSQL needs the user `postgres`"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

impl PrivateServer {
    /// `initdb`, configure, start; waits until it accepts connections.
    pub fn start(options: ServerOptions) -> PrivateServer {
        let bindir = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .unwrap_or_else(|e| panic!("pg_config --bindir: {e} (install postgresql)"));
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "orgjobs-pg-{}-{port}-{}",
            std::process::id(),
            crate::uuid_suffix()
        ));
        let data = dir.join("data");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let owner = server_owner();
        let server = PrivateServer {
            dir,
            data,
            bindir,
            port,
            env: options.env.clone(),
            owner,
        };
        server.chown(&server.dir);
        let out = server
            .command("initdb")
            .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
            .arg("--locale=C.UTF-8")
            .arg("-D")
            .arg(&server.data)
            .output()
            .unwrap_or_else(|e| panic!("initdb: {e}"));
        if !out.status.success() {
            fail("initdb", &out);
        }
        let mut conf = vec![
            format!("port = {port}"),
            "listen_addresses = '127.0.0.1'".to_owned(),
            format!("unix_socket_directories = '{}'", server.dir.display()),
            "max_connections = 100".to_owned(),
            "shared_buffers = 16MB".to_owned(),
            "logging_collector = off".to_owned(),
        ];
        conf.extend(options.config);
        server.append("postgresql.conf", &conf.join("\n"));
        let hba = options
            .hba
            .unwrap_or_else(|| "local all all trust\nhost all all 127.0.0.1/32 trust\n".to_owned());
        server.write("pg_hba.conf", &hba, 0o600);
        for (name, contents, mode) in &options.files {
            server.write(name, contents, *mode);
        }
        server.pg_ctl_start();
        server
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bindir.join(program));
        cmd.stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    fn chown(&self, path: &Path) {
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
    }

    fn write(&self, name: &str, contents: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.data.join(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        self.chown(&path);
    }

    fn append(&self, name: &str, contents: &str) {
        let path = self.data.join(name);
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        self.write(name, &format!("{old}\n{contents}\n"), 0o600);
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        self.command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("pg_ctl: {e}"))
    }

    fn pg_ctl_start(&self) {
        let out = self.pg_ctl(&["-w", "-t", "60", "start"]);
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            panic!(
                "pg_ctl start failed:\n{}{}\nserver log:\n{log}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for `dbname` as the superuser `postgres`, over 127.0.0.1, with
    /// `extra` query parameters (e.g. `sslmode=disable`).
    pub fn url(&self, dbname: &str, extra: &str) -> String {
        let query = if extra.is_empty() {
            String::new()
        } else {
            format!("?{extra}")
        };
        format!(
            "postgres://postgres@127.0.0.1:{}/{dbname}{query}",
            self.port
        )
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// `pg_ctl restart -m MODE` (`fast`, or `immediate`, which is crash
    /// recovery).
    pub fn restart(&self, mode: &str) {
        let out = self.pg_ctl(&["-w", "-t", "60", "-m", mode, "restart"]);
        if !out.status.success() {
            fail("pg_ctl restart", &out);
        }
    }

    /// Stops the server (`-m immediate`: no shutdown checkpoint).
    pub fn stop(&self, mode: &str) {
        let out = self.pg_ctl(&["-w", "-t", "60", "-m", mode, "stop"]);
        if !out.status.success() {
            fail("pg_ctl stop", &out);
        }
    }

    /// Starts a stopped (or killed) server again. After a killed
    /// postmaster, its orphaned backends exit once they notice; until then
    /// a new postmaster refuses to start (their shared memory is in use),
    /// so this retries for a while.
    pub fn start_again(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.pg_ctl(&["-w", "-t", "60", "start"]);
            if out.status.success() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "pg_ctl start failed:\n{}{}\nserver log:\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGKILLs the postmaster (its backends exit when they notice), then
    /// waits until nothing listens on the port.
    pub fn kill_postmaster(&self) {
        let pid_file = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .unwrap_or_else(|e| panic!("postmaster.pid: {e}"));
        let pid = pid_file
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let status = Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap_or_else(|e| panic!("kill: {e}"));
        assert!(status.success(), "kill -KILL {pid}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            || Path::new(&format!("/proc/{pid}")).exists()
        {
            assert!(Instant::now() < deadline, "postmaster {pid} did not die");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-w", "-t", "30", "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
