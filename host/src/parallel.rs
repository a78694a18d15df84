//! `--threads N`: worker threads for core's [`Parallel`], which splits a training step's
//! kernels into N parts without splitting any sum, so N threads give the bits of one.
//! The workers live as long as the [`Pool`] and wait for each part by spinning (then
//! yielding): a step runs several short parallel sections, too short to wake a thread
//! from sleep each time.
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use microdense::Parallel;

type Job<'a> = &'a (dyn Fn(usize) + Sync);

#[derive(Default)]
struct State {
    /// Bumped for every job; a worker runs its part when it sees a new value.
    generation: AtomicU64,
    /// Workers' parts of the current job not yet returned.
    pending: AtomicUsize,
    /// The current job: a pointer to a `Job` on `run`'s stack.
    job: AtomicPtr<()>,
    stop: AtomicBool,
}

/// This thread and `threads - 1` workers.
pub struct Pool {
    parts: usize,
    state: Arc<State>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    pub fn new(threads: usize) -> Pool {
        let state = Arc::new(State::default());
        let workers = (1..threads.max(1))
            .map(|k| {
                let state = Arc::clone(&state);
                std::thread::spawn(move || work(&state, k))
            })
            .collect();
        Pool {
            parts: threads.max(1),
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

fn work(s: &State, k: usize) {
    let mut seen = 0;
    loop {
        wait(|| s.stop.load(Ordering::Acquire) || s.generation.load(Ordering::Acquire) != seen);
        if s.stop.load(Ordering::Acquire) {
            return;
        }
        seen = s.generation.load(Ordering::Acquire);
        // SAFETY: `run` stored a pointer to its job before bumping the generation (read
        // above with Acquire), and returns only after this part has decremented
        // `pending`, so the job is alive for this call.
        let job = unsafe { *(s.job.load(Ordering::Acquire) as *const Job<'static>) };
        job(k);
        s.pending.fetch_sub(1, Ordering::AcqRel);
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
        s.pending.store(self.parts - 1, Ordering::Release);
        s.generation.fetch_add(1, Ordering::AcqRel);
        job(0);
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

    #[test]
    fn every_part_runs_once_per_job() {
        let pool = Pool::new(3);
        let counts: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
        for _ in 0..100 {
            pool.run(&|k| {
                counts[k].fetch_add(1, Ordering::Relaxed);
            });
        }
        let got: Vec<usize> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        assert_eq!(got, [100, 100, 100]);
    }
}
