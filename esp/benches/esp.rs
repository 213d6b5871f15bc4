//! Criterion benchmark of ESP seal and open (written in the next commit).

fn main() {}
