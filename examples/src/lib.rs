//! The example FlexVPN router: composes the protocol crates (IOS-style config, node, simulator).
