//! Helpers of the namespace tests: `flexvpn-router run` processes owned by the test.
#![allow(dead_code, reason = "each test file uses a part")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `flexvpn-router run` process in a namespace; SIGTERM (then SIGKILL) in Drop.
pub(crate) struct Router {
    pub(crate) name: String,
    pub(crate) child: Option<Child>,
    pub(crate) log: PathBuf,
}

impl Router {
    /// Starts the router of `config` in `ns`; its stdout and stderr go to `dir/<name>.log`.
    pub(crate) fn start(ns: &str, name: &str, config: &Path, dir: &Path, dpd: &str) -> Self {
        Self::start_bin(
            Path::new(env!("CARGO_BIN_EXE_flexvpn-router")),
            ns,
            name,
            config,
            dir,
            dpd,
        )
    }

    /// As [`Router::start`], with the router binary `bin` (e.g. a release build).
    pub(crate) fn start_bin(
        bin: &Path,
        ns: &str,
        name: &str,
        config: &Path,
        dir: &Path,
        dpd: &str,
    ) -> Self {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(bin)
            .arg("run")
            .arg("--config")
            .arg(config)
            .arg("--control-dir")
            .arg(dir)
            .args(["--dpd", dpd])
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap();
        let me = Self {
            name: name.to_owned(),
            child: Some(child),
            log,
        };
        me.wait_log("control socket", Duration::from_secs(10));
        me
    }

    pub(crate) fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the output contains `what`; panics with the output after `limit`.
    pub(crate) fn wait_log(&self, what: &str, limit: Duration) -> Duration {
        let t0 = Instant::now();
        loop {
            if self.output().contains(what) {
                return t0.elapsed();
            }
            assert!(
                t0.elapsed() < limit,
                "{}: no {what:?} within {limit:?}; output:\n{}",
                self.name,
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL, as a crashed router.
    pub(crate) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit (true) within 5 s.
    pub(crate) fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill").arg(c.id().to_string()).status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(st)) = c.try_wait() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Builds the router in the release profile once (`cargo build --release -p flexvpn-router
/// --bin flexvpn-router`, in the same target directory as this test) and returns its path.
/// For throughput figures: the test binaries themselves are unoptimized.
pub(crate) fn release_router() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let debug_bin = Path::new(env!("CARGO_BIN_EXE_flexvpn-router"));
    let target_dir = debug_bin
        .parent()
        .and_then(Path::parent)
        .expect("target dir of the test's router binary");
    let st = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "flexvpn-router",
            "--bin",
            "flexvpn-router",
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo build --release");
    assert!(
        st.success(),
        "cargo build --release -p flexvpn-router failed"
    );
    let bin = target_dir.join("release").join("flexvpn-router");
    assert!(bin.exists(), "{}", bin.display());
    bin
}

/// Removes a temp dir (logs, control sockets) even when the test fails, unless
/// `FLEXVPN_KEEP_LOGS` is set.
pub(crate) struct RemoveDir(pub(crate) PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        if std::env::var_os("FLEXVPN_KEEP_LOGS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
