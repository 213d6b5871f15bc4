//! A private strongSwan charon (5.9, user-space ESP through `kernel-libipsec`) in a network
//! namespace of its own, following the recipe of PEERS.md: its own `strongswan.conf`, vici
//! socket and log in a temp dir, a tmpfs `/run` (the PID file is fixed at `/run/charon.pid`),
//! `kernel-libipsec` loaded before `kernel-netlink`, stopped by PID.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The charon binary of the Debian package.
pub const CHARON: &str = "/usr/lib/ipsec/charon";

/// A hub responder for a spoke: pool `pool` (e.g. `10.1.1.100-10.1.1.175`), PSK `cisco`,
/// tunnel mode with `local_ts = 0.0.0.0/0`, AES-256-GCM, `mobike = no`, DPD every
/// `dpd_secs` seconds.
pub fn hub_swanctl_conf(local_addr: &str, pool: &str, dpd_secs: u32) -> String {
    format!(
        "connections {{
  hub {{
    version = 2
    local_addrs = {local_addr}
    proposals = aes256gcm16-prfsha256-curve25519, aes256gcm16-prfsha256-ecp256, aes256gcm16-prfsha256-modp2048
    pools = spokes
    mobike = no
    dpd_delay = {dpd_secs}s
    local {{
      auth = psk
      id = hub.example
    }}
    remote {{
      auth = psk
    }}
    children {{
      tun {{
        mode = tunnel
        local_ts = 0.0.0.0/0
        remote_ts = dynamic
        esp_proposals = aes256gcm16
        dpd_action = clear
      }}
    }}
  }}
}}
pools {{
  spokes {{
    addrs = {pool}
  }}
}}
secrets {{
  ike-1 {{
    secret = cisco
  }}
}}
"
    )
}

/// A running charon. Stopped (SIGTERM, then SIGKILL after 3 s) and its temp dir removed on
/// drop (set `FLEXVPN_KEEP_LOGS` to keep the dir).
#[derive(Debug)]
pub struct Charon {
    ns: String,
    dir: PathBuf,
    child: Option<Child>,
}

impl Charon {
    /// Starts charon in namespace `ns` with `swanctl_conf` and loads it. `dir` is created
    /// (and later removed) for its configuration, vici socket and log.
    ///
    /// # Errors
    /// strongSwan is missing (the message says which packages to install), charon did not
    /// come up within 10 s, or `swanctl --load-all` failed.
    pub fn start(ns: &str, dir: &Path, swanctl_conf: &str) -> io::Result<Self> {
        if !Path::new(CHARON).exists() {
            return Err(io::Error::other(format!(
                "strongSwan is not installed ({CHARON} missing): apt-get install \
                 strongswan-charon strongswan-swanctl libstrongswan-standard-plugins \
                 libstrongswan-extra-plugins libcharon-extra-plugins"
            )));
        }
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        let d = dir.display();
        let conf = format!(
            "charon {{\n\
             load = random nonce aes sha1 sha2 hmac gcm openssl curve25519 kdf pem pkcs1 x509 pubkey revocation constraints kernel-libipsec kernel-netlink socket-default vici\n\
             retransmit_tries = 2\n\
             retransmit_timeout = 1.0\n\
             retransmit_base = 1.4\n\
             plugins {{\n vici {{\n socket = unix://{d}/charon.vici\n }}\n }}\n\
             filelog {{\n main {{\n path = {d}/charon.log\n default = 1\n ike = 2\n chd = 2\n cfg = 2\n knl = 2\n net = 1\n enc = 1\n flush_line = yes\n time_format = %H:%M:%S\n }}\n }}\n\
             }}\n"
        );
        std::fs::write(dir.join("strongswan.conf"), conf)?;
        std::fs::write(dir.join("swanctl.conf"), swanctl_conf)?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs none /run && exec env STRONGSWAN_CONF={d}/strongswan.conf {CHARON}"
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut me = Self {
            ns: ns.to_owned(),
            dir: dir.to_owned(),
            child: Some(child),
        };
        let sock = dir.join("charon.vici");
        let t0 = Instant::now();
        while !sock.exists() {
            if t0.elapsed() > Duration::from_secs(10) {
                me.stop();
                return Err(io::Error::other(
                    "charon did not create its vici socket in 10 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        me.swanctl(&[
            "--load-all",
            "--noprompt",
            "--file",
            &format!("{d}/swanctl.conf"),
        ])?;
        Ok(me)
    }

    /// The process id of charon (`ip netns exec` and `sh` exec into it).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The namespace it runs in.
    pub fn netns(&self) -> &str {
        &self.ns
    }

    /// Runs `swanctl ARGS --uri <its vici socket>` and returns stdout.
    ///
    /// # Errors
    /// swanctl could not run or exited non-zero.
    pub fn swanctl(&self, args: &[&str]) -> io::Result<String> {
        let uri = format!("unix://{}/charon.vici", self.dir.display());
        let out = Command::new("swanctl")
            .args(args)
            .args(["--uri", &uri])
            .output()?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(io::Error::other(format!(
                "swanctl {}: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }

    /// The charon log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("charon.log")).unwrap_or_default()
    }

    /// Kills charon with SIGKILL (a hub that dies without a word) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops charon with SIGTERM (it deletes its SAs), SIGKILL after 3 s.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let t0 = Instant::now();
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if t0.elapsed() > Duration::from_secs(3) {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for Charon {
    fn drop(&mut self) {
        self.stop();
        if std::env::var_os("FLEXVPN_KEEP_LOGS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
