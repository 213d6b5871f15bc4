//! The FlexVPN client block: ordered peers, failover, tracking, backup groups, sans-IO.
#![forbid(unsafe_code)]
