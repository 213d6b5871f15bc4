//! IKEv2 (RFC 7296): message codec, crypto suite and IKE/Child SA state machines, sans-IO.
#![forbid(unsafe_code)]

pub mod crypto;
