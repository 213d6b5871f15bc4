//! Minimal iBGP: codec, session FSM, RIB, route reflection, aggregation, dynamic neighbors, sans-IO.
#![forbid(unsafe_code)]
