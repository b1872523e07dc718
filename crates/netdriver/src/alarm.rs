//! A one-shot alarm on a timerfd, for the daemon loop's next deadline.
//!
//! tokio's timer wheel wakes a sleeping task at the start of the wheel slot holding its
//! deadline, then again at the deadline: a deadline a few seconds away costs two or three
//! wake-ups of the process, and every new `sleep` earlier than the current one wakes the
//! reactor through its eventfd. A daemon whose work is a hello every few seconds pays for
//! those wake-ups more than for the work. A timerfd armed for the exact deadline wakes the
//! process once, and re-arming it is one system call, made only when the deadline moves.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;

struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// One deadline at a time; [`Alarm::wait`] resolves once it has passed.
pub struct Alarm {
    fd: AsyncFd<Fd>,
    armed: Option<Instant>,
}

fn nix_err(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

impl Alarm {
    /// A disarmed alarm, registered with the current tokio reactor.
    pub fn new() -> io::Result<Alarm> {
        let t = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(nix_err)?;
        // tokio deprecates its safe constructor because a wrapper could hand it a descriptor
        // that is closed or replaced while registered. `Fd` owns its timerfd and
        // lives exactly as long as the AsyncFd, so the call is sound (and the crate stays
        // free of unsafe code).
        #[allow(deprecated)]
        let fd = AsyncFd::with_interest(Fd(t), tokio::io::Interest::READABLE)?;
        Ok(Alarm { fd, armed: None })
    }

    /// Arms the alarm for `at` (`None` disarms it). Nothing is done when the deadline is
    /// the one already armed. A deadline in the past fires at once.
    pub fn set(&mut self, at: Option<Instant>) -> io::Result<()> {
        if at == self.armed {
            return Ok(());
        }
        let t = &self.fd.get_ref().0;
        match at {
            None => t.unset().map_err(nix_err)?,
            Some(at) => {
                // A zero value would disarm the timer: a due deadline fires in 1 ns.
                let d = at
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_nanos(1));
                t.set(
                    Expiration::OneShot(TimeSpec::from_duration(d)),
                    TimerSetTimeFlags::empty(),
                )
                .map_err(nix_err)?;
            }
        }
        self.armed = at;
        Ok(())
    }

    /// The deadline armed, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.armed
    }

    /// Waits until the armed deadline has passed (forever when disarmed), then disarms.
    /// Cancel-safe: dropped before it resolves, nothing is lost (the timer stays armed).
    pub async fn wait(&mut self) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            let mut buf = [0u8; 8];
            match guard
                .try_io(|fd| nix::unistd::read(fd.get_ref().0.as_fd(), &mut buf).map_err(nix_err))
            {
                Ok(Ok(_)) => {
                    // Nothing more to read until it is re-armed and fires again (that sets
                    // the readiness anew): no extra read to find out.
                    guard.clear_ready();
                    self.armed = None;
                    return Ok(());
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Err(e),
                // Re-armed since it last fired: nothing to read, wait again.
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fires_at_the_deadline_and_rearms() {
        let mut a = Alarm::new().unwrap();
        let t0 = Instant::now();
        a.set(Some(t0 + Duration::from_millis(30))).unwrap();
        a.wait().await.unwrap();
        assert!(t0.elapsed() >= Duration::from_millis(30));
        assert_eq!(a.deadline(), None);
        // A deadline in the past fires at once; moving it replaces the previous one.
        a.set(Some(t0 + Duration::from_secs(3600))).unwrap();
        a.set(Some(t0)).unwrap();
        tokio::time::timeout(Duration::from_secs(5), a.wait())
            .await
            .expect("a past deadline fires")
            .unwrap();
    }

    #[tokio::test]
    async fn a_disarmed_alarm_does_not_fire() {
        let mut a = Alarm::new().unwrap();
        a.set(Some(Instant::now() + Duration::from_millis(10)))
            .unwrap();
        a.set(None).unwrap();
        let r = tokio::time::timeout(Duration::from_millis(100), a.wait()).await;
        assert!(r.is_err(), "fired while disarmed");
    }
}
