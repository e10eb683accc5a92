//! Real-time scheduling for the capture and playback threads (`[audio] rt_priority`): a
//! period missed under load is an audible click or a dropped word, so these two threads ask
//! for SCHED_FIFO. The kernel allows it to a process with CAP_SYS_NICE or an RLIMIT_RTPRIO
//! at least as high (the unit's LimitRTPRIO=); elsewhere the thread carries on at normal
//! priority, and the first refusal in the process is logged (one line, not one per thread
//! or reopen).

use std::sync::atomic::{AtomicBool, Ordering};

/// What a thread got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheduling {
    /// `rt_priority = 0`: not asked for.
    Normal,
    /// SCHED_FIFO at this priority.
    Fifo(u8),
    /// Refused: the thread runs at normal priority; why, in words.
    Refused(String),
}

static REFUSAL_LOGGED: AtomicBool = AtomicBool::new(false);

/// Asks SCHED_FIFO at `priority` (1..99; 0 = do not ask) for the calling thread, `thread`
/// naming it in the log.
pub fn request(priority: u8, thread: &str) -> Scheduling {
    let got = set_fifo(priority);
    match &got {
        Scheduling::Fifo(p) => log::debug!("{thread} thread: SCHED_FIFO priority {p}"),
        Scheduling::Refused(why) if !REFUSAL_LOGGED.swap(true, Ordering::Relaxed) => {
            log::warn!(
                "{thread} thread: SCHED_FIFO priority {priority} refused ({why}); audio threads run at normal priority (allow it with LimitRTPRIO={priority} in the unit, or set audio.rt_priority = 0)"
            )
        }
        _ => {}
    }
    got
}

fn set_fifo(priority: u8) -> Scheduling {
    if priority == 0 {
        return Scheduling::Normal;
    }
    let param = libc::sched_param {
        sched_priority: priority as libc::c_int,
    };
    // SAFETY: plain syscall wrapper on the calling thread with a valid sched_param.
    let err =
        unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if err == 0 {
        Scheduling::Fifo(priority)
    } else {
        let why = std::io::Error::from_raw_os_error(err);
        let hint = if err == libc::EPERM {
            ": no CAP_SYS_NICE and RLIMIT_RTPRIO is below it"
        } else {
            ""
        };
        Scheduling::Refused(format!("{why}{hint}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> libc::c_int {
        // SAFETY: queries the calling thread's policy.
        unsafe { libc::sched_getscheduler(0) }
    }

    /// Without CAP_SYS_NICE and with RLIMIT_RTPRIO 0 (a plain user, or the unit without
    /// LimitRTPRIO) the kernel refuses: the thread goes on at SCHED_OTHER, and only the
    /// first refusal is logged.
    #[test]
    fn refused_realtime_falls_back_to_normal_priority() {
        let got = std::thread::spawn(|| {
            drop_sys_nice();
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: reads and lowers this process's soft RLIMIT_RTPRIO (no test here
            // asks for real-time scheduling otherwise).
            unsafe {
                libc::getrlimit(libc::RLIMIT_RTPRIO, &mut limit);
                let lowered = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: limit.rlim_max,
                };
                libc::setrlimit(libc::RLIMIT_RTPRIO, &lowered);
            }
            let first = request(10, "test");
            let logged_once = REFUSAL_LOGGED.load(Ordering::Relaxed);
            let second = request(10, "test");
            let policy = policy();
            // SAFETY: restores the soft limit read above.
            unsafe { libc::setrlimit(libc::RLIMIT_RTPRIO, &limit) };
            (first, logged_once, second, policy)
        })
        .join()
        .unwrap();
        let (first, logged_once, second, policy) = got;
        match &first {
            Scheduling::Refused(why) => assert!(why.contains("RLIMIT_RTPRIO"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(logged_once);
        assert_eq!(first, second);
        assert_eq!(
            policy,
            libc::SCHED_OTHER,
            "the thread carries on at normal priority"
        );
        assert_eq!(request(0, "test"), Scheduling::Normal);
    }

    /// Drops CAP_SYS_NICE from this thread's effective capabilities (capabilities are
    /// per thread), as for a process started without it.
    fn drop_sys_nice() {
        #[repr(C)]
        struct Header {
            version: u32,
            pid: libc::c_int,
        }
        #[repr(C)]
        #[derive(Default, Clone, Copy)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        const VERSION_3: u32 = 0x2008_0522;
        const CAP_SYS_NICE: u32 = 23;
        let mut header = Header {
            version: VERSION_3,
            pid: 0,
        };
        let mut data = [Data::default(); 2];
        // SAFETY: capget/capset on the calling thread with the v3 layout (two data words).
        unsafe {
            assert_eq!(
                libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()),
                0
            );
            data[0].effective &= !(1 << CAP_SYS_NICE);
            assert_eq!(
                libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()),
                0
            );
        }
    }
}
