//! The IOS-style configuration of the scenario (`../shared/SCENARIO.md`).
//!
//! [`Config::parse`] reads a whole configuration, line by line. A line that starts with
//! whitespace is a sub-command of the mode opened by the last unindented line
//! (`crypto ikev2 keyring`, `interface`, `router bgp`, ...); `!` lines and blank lines are
//! comments. Every line the parser does not know, or knows but cannot read, is a
//! [`ConfigError`] naming its line number and what was expected. After the last line, every
//! reference (a keyring, a pool, a route-map, an access-list, an IPsec profile, an interface, a
//! track object, a peer group) is checked, and an undefined one is an error naming the line that
//! referred to it. Parsing never panics, whatever the input.
//!
//! ```
//! use flexvpn_router::config::{Config, TunnelDestination};
//!
//! let cfg = Config::parse(
//!     "hostname Spoke1\n\
//!      interface Ethernet0/0\n ip address 172.16.2.2 255.255.255.0\n\
//!      interface Tunnel1\n ip address negotiated\n tunnel source Ethernet0/0\n tunnel destination dynamic\n\
//!      crypto ikev2 client flexvpn Flex_Client\n peer 1 172.25.1.1\n peer 2 172.25.2.1\n client connect Tunnel1\n",
//! )?;
//! assert_eq!(cfg.hostname.as_deref(), Some("Spoke1"));
//! let client = &cfg.flex_clients["Flex_Client"];
//! assert_eq!(client.peers.len(), 2);
//! assert_eq!(cfg.interfaces["Tunnel1"].tunnel_destination, Some(TunnelDestination::Dynamic));
//! # Ok::<(), flexvpn_router::config::ConfigError>(())
//! ```

mod check;
mod parse;
mod types;

pub use types::*;

/// An error in a configuration: the line (1-based) and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The first word(s) of a line name no command known in this mode.
    #[error("line {line}: unknown command `{text}`, expected {expected}")]
    UnknownCommand {
        /// The line number.
        line: usize,
        /// The offending line, trimmed.
        text: String,
        /// The commands this mode accepts.
        expected: &'static str,
    },
    /// A command is missing an argument.
    #[error("line {line}: `{command}` is incomplete, expected {expected}")]
    MissingArgument {
        /// The line number.
        line: usize,
        /// The command, as far as it was read.
        command: String,
        /// What should follow.
        expected: &'static str,
    },
    /// An argument could not be read (not an address, not a number, a keyword not allowed here).
    #[error("line {line}: invalid {what} `{value}`, expected {expected}")]
    InvalidValue {
        /// The line number.
        line: usize,
        /// What the argument is.
        what: &'static str,
        /// The argument as written.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A command has words left over after its last argument.
    #[error("line {line}: unexpected `{extra}` after the end of the command")]
    TrailingWords {
        /// The line number.
        line: usize,
        /// The words left over.
        extra: String,
    },
    /// An indented line appears where no configuration mode is open (or a mode's sub-sub-command
    /// appears without its parent, e.g. `address` before any `peer` in a keyring).
    #[error("line {line}: `{text}` is a sub-command but no {mode} is open")]
    NoMode {
        /// The line number.
        line: usize,
        /// The offending line, trimmed.
        text: String,
        /// The mode it would need.
        mode: &'static str,
    },
    /// Something is defined twice where only one is allowed (the same `peer N`, two `router bgp`).
    #[error("line {line}: duplicate {what} `{name}`")]
    Duplicate {
        /// The line number of the second definition.
        line: usize,
        /// What is duplicated.
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// A line refers to something the configuration never defines.
    #[error("line {line}: {kind} `{name}` is not defined")]
    Undefined {
        /// The line number of the reference.
        line: usize,
        /// The kind of thing referred to (`keyring`, `interface`, `route-map`, ...).
        kind: &'static str,
        /// Its name.
        name: String,
    },
}

impl ConfigError {
    /// The line number (1-based) the error is about.
    pub fn line(&self) -> usize {
        match self {
            Self::UnknownCommand { line, .. }
            | Self::MissingArgument { line, .. }
            | Self::InvalidValue { line, .. }
            | Self::TrailingWords { line, .. }
            | Self::NoMode { line, .. }
            | Self::Duplicate { line, .. }
            | Self::Undefined { line, .. } => *line,
        }
    }
}

impl Config {
    /// Parse a whole configuration and check its references.
    ///
    /// # Errors
    /// The first [`ConfigError`] met, in line order for syntax errors, then the first undefined
    /// reference in line order.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let cfg = parse::parse(text)?;
        check::check(&cfg)?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests;
