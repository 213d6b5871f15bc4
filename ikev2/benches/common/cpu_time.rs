//! A criterion measurement of the calling thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`) instead of wall time.
//!
//! The machine these benches run on is shared: with a load average above the
//! core count, wall time counts the time the bench thread waits for a core,
//! and figures swing by 2x between runs. Thread CPU time counts only the time
//! the thread ran, which is what "handshakes per second per core" means. It
//! still includes the cost of caches shared with the other load.

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};

/// Thread CPU time, formatted like wall time.
pub(crate) struct CpuTime {
    wall: WallTime,
}

impl CpuTime {
    pub(crate) fn new() -> Self {
        Self { wall: WallTime }
    }
}

/// The CPU time this thread has used so far.
#[allow(unsafe_code, reason = "one libc call; std has no thread CPU clock")]
pub(crate) fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is a
    // clock every Linux kernel since 2.6.12 has, and the call only writes `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

impl Measurement for CpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_time()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu_time().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}
