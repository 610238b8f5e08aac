//! Processes a test starts: their JSON log lines captured as they come,
//! readiness awaited on a log event, SIGTERM and SIGKILL.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A child process whose stderr lines are collected.
pub struct LoggedChild {
    /// The process.
    pub child: Child,
    /// Every stderr line so far.
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl LoggedChild {
    /// Spawns `cmd` (its stderr piped here) and waits up to 20 s for a JSON
    /// log line whose `event` is `ready_event`; returns the child and that
    /// line.
    pub fn spawn(mut cmd: Command, ready_event: &str) -> (LoggedChild, serde_json::Value) {
        let mut child = cmd
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = lines.clone();
        let ready = ready_event.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if v["event"] == ready.as_str() {
                        let _ = tx.send(v);
                    }
                }
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(v) => (LoggedChild { child, lines }, v),
            Err(e) => {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "the process never logged {ready_event} ({e}); its output:\n{}",
                    lines.lock().unwrap_or_else(|p| p.into_inner()).join("\n")
                )
            }
        }
    }

    /// Its log lines that are JSON.
    pub fn logs(&self) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// SIGTERM, then the exit status (20 s at most).
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the process did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for LoggedChild {
    fn drop(&mut self) {
        sigkill(&mut self.child);
    }
}

/// Sends SIGKILL to a process.
pub fn sigkill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
