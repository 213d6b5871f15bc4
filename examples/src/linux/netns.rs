//! Network namespaces and veth pairs, driven through `ip(8)`, and [`in_netns`] to open sockets
//! inside a namespace from this process.

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;

/// Runs `ip ARGS...` (inside `ns` when given) and fails with its stderr when it fails.
///
/// # Errors
/// The command could not run or exited non-zero.
pub fn ip(ns: Option<&str>, args: &[&str]) -> io::Result<()> {
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["netns", "exec", ns, "ip"]);
    }
    let out = cmd.args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {} (netns {ns:?}): {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Runs `cmd ARGS...` inside `ns` (`ip netns exec`) and returns its output.
///
/// # Errors
/// The command could not be started.
pub fn exec(ns: &str, cmd: &str, args: &[&str]) -> io::Result<std::process::Output> {
    Command::new("ip")
        .args(["netns", "exec", ns, cmd])
        .args(args)
        .output()
}

/// A network namespace this process created; deleted on drop (which also destroys the veth
/// ends inside it).
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `name` with `lo` up and reverse-path filtering off.
    ///
    /// # Errors
    /// Not root, or the name is taken.
    pub fn new(name: &str) -> io::Result<Self> {
        ip(None, &["netns", "add", name])?;
        let me = Self {
            name: name.to_owned(),
        };
        ip(Some(name), &["link", "set", "lo", "up"])?;
        for key in [
            "net.ipv4.conf.all.rp_filter",
            "net.ipv4.conf.default.rp_filter",
        ] {
            let _ = exec(name, "sysctl", &["-qw", &format!("{key}=0")]);
        }
        Ok(me)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Turns IPv4 forwarding on in this namespace.
    ///
    /// # Errors
    /// sysctl failed.
    pub fn forwarding(&self) -> io::Result<()> {
        let out = exec(&self.name, "sysctl", &["-qw", "net.ipv4.ip_forward=1"])?;
        if out.status.success() {
            Ok(())
        } else {
            Err(io::Error::other("sysctl net.ipv4.ip_forward=1 failed"))
        }
    }

    /// Runs `ip ARGS...` inside this namespace.
    ///
    /// # Errors
    /// As [`ip`].
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        ip(Some(&self.name), args)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(None, &["netns", "del", &self.name]);
    }
}

/// Connects namespaces `a` and `b` with a veth pair named `name_a` / `name_b`, addresses
/// `addr_a` / `addr_b` in a /`prefix_len`, both ends up. The pair goes away with either
/// namespace.
///
/// # Errors
/// Any `ip` command failed.
#[allow(
    clippy::too_many_arguments,
    reason = "two ends of a link, each fully named"
)]
pub fn veth(
    a: &Netns,
    name_a: &str,
    addr_a: Ipv4Addr,
    b: &Netns,
    name_b: &str,
    addr_b: Ipv4Addr,
    prefix_len: u8,
) -> io::Result<()> {
    a.ip(&[
        "link", "add", name_a, "type", "veth", "peer", "name", name_b, "netns", &b.name,
    ])?;
    a.ip(&[
        "addr",
        "add",
        &format!("{addr_a}/{prefix_len}"),
        "dev",
        name_a,
    ])?;
    a.ip(&["link", "set", name_a, "up"])?;
    b.ip(&[
        "addr",
        "add",
        &format!("{addr_b}/{prefix_len}"),
        "dev",
        name_b,
    ])?;
    b.ip(&["link", "set", name_b, "up"])?;
    Ok(())
}

/// Runs `f` on a new thread that first enters network namespace `ns` (`setns(2)` affects only
/// the calling thread). Sockets and TUN devices opened by `f` stay in that namespace after it
/// returns, wherever they are used from.
///
/// # Errors
/// The namespace does not exist or cannot be entered; a panic in `f` is reported as an error.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let file = File::open(format!("/run/netns/{ns}"))?;
    std::thread::spawn(move || {
        // SAFETY: setns takes a valid open descriptor (owned by `file`, alive for the call)
        // and a namespace type flag; it changes only this thread's network namespace.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(f())
    })
    .join()
    .map_err(|_| io::Error::other("thread in netns panicked"))?
}
