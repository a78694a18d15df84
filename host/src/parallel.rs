//! `--threads N`: worker threads for core's [`Parallel`], which splits a training step's
//! kernels into N parts without splitting any sum, so N threads give the bits of one.
//! The workers live as long as the [`Pool`] and wait for each job by spinning (then
//! yielding): a step runs several short parallel sections, too short to wake a thread
//! from sleep each time. Parts are not tied to threads: the caller and the workers claim
//! them one at a time, so when a worker is not running (a loaded machine) the caller does
//! its parts instead of waiting for it, and the step is no slower than one thread's.
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use microdense::Parallel;

type Job<'a> = &'a (dyn Fn(usize) + Sync);

#[derive(Default)]
struct State {
    /// The current job's number (high 32 bits) and its next unclaimed part (low 32
    /// bits): a part is claimed by one compare-exchange, which also proves the job is
    /// still the one its claimer saw.
    claim: AtomicU64,
    /// Parts of the current job claimed or not, but not yet returned.
    pending: AtomicUsize,
    /// The current job: a pointer to a `Job` on `run`'s stack.
    job: AtomicPtr<()>,
    stop: AtomicBool,
}

impl State {
    /// Claims and runs parts of job `number` (of `parts`) until none is left.
    fn help(&self, number: u64, parts: usize) {
        let mut seen = self.claim.load(Ordering::Acquire);
        loop {
            let next = (seen & u64::from(u32::MAX)) as usize;
            if seen >> 32 != number || next >= parts {
                return;
            }
            match self.claim.compare_exchange_weak(
                seen,
                seen + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SAFETY: part `next` of job `number` is claimed and not yet returned,
                    // so `run` is still waiting in that job's call, with its job alive at
                    // this pointer (stored before the job's number was published).
                    let job = unsafe { *(self.job.load(Ordering::Acquire) as *const Job<'static>) };
                    job(next);
                    self.pending.fetch_sub(1, Ordering::AcqRel);
                    seen = self.claim.load(Ordering::Acquire);
                }
                Err(now) => seen = now,
            }
        }
    }
}

/// This thread and `threads - 1` workers.
pub struct Pool {
    parts: usize,
    state: Arc<State>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    pub fn new(threads: usize) -> Pool {
        Pool::with_workers(threads.max(1), threads.max(1) - 1)
    }

    /// `parts` parts per job for this thread and `workers` workers.
    fn with_workers(parts: usize, workers: usize) -> Pool {
        let state = Arc::new(State::default());
        let workers = (0..workers)
            .map(|_| {
                let state = Arc::clone(&state);
                std::thread::spawn(move || work(&state, parts))
            })
            .collect();
        Pool {
            parts,
            state,
            workers,
        }
    }
}

/// Spins until `done()`, yielding the core after a while.
fn wait(done: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !done() {
        if spins < 2000 {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

fn work(s: &State, parts: usize) {
    let mut seen = 0;
    loop {
        let number = || s.claim.load(Ordering::Acquire) >> 32;
        wait(|| s.stop.load(Ordering::Acquire) || number() != seen);
        if s.stop.load(Ordering::Acquire) {
            return;
        }
        seen = number();
        s.help(seen, parts);
    }
}

impl Parallel for Pool {
    fn parts(&self) -> usize {
        self.parts
    }

    fn run(&self, job: &(dyn Fn(usize) + Sync)) {
        if self.parts == 1 {
            return job(0);
        }
        let s = &*self.state;
        let job: Job = job;
        s.job
            .store(&job as *const Job as *mut (), Ordering::Release);
        s.pending.store(self.parts, Ordering::Release);
        // A new job number (32 bits, wrapping) with part 0 next: only this thread starts
        // jobs.
        let number = ((s.claim.load(Ordering::Acquire) >> 32) + 1) & u64::from(u32::MAX);
        s.claim.store(number << 32, Ordering::Release);
        s.help(number, self.parts);
        wait(|| s.pending.load(Ordering::Acquire) == 0);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Release);
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts_after(pool: &Pool, jobs: usize) -> Vec<usize> {
        let counts: Vec<AtomicUsize> = (0..pool.parts).map(|_| AtomicUsize::new(0)).collect();
        for _ in 0..jobs {
            pool.run(&|k| {
                counts[k].fetch_add(1, Ordering::Relaxed);
            });
        }
        counts.iter().map(|c| c.load(Ordering::Relaxed)).collect()
    }

    #[test]
    fn every_part_runs_once_per_job() {
        assert_eq!(counts_after(&Pool::new(3), 1000), [1000, 1000, 1000]);
    }

    /// With no worker running (as when the machine is busy), the caller runs every part
    /// itself instead of waiting.
    #[test]
    fn the_caller_does_the_parts_no_worker_takes() {
        assert_eq!(counts_after(&Pool::with_workers(3, 0), 10), [10, 10, 10]);
    }
}
