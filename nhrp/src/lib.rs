//! NHRP (RFC 2332): codec, cache, redirect (traffic indication) and shortcut resolution, sans-IO.
#![forbid(unsafe_code)]
