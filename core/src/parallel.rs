//! Several threads for one training step, from a caller that has them (the core has
//! none): [`Trainer::with_parallel`](crate::Trainer::with_parallel). Work is split by
//! samples (forward, backprop: each sample's sums are its own) or by weight rows (the
//! gradients: each row's sum over the batch stays whole, in sample order), never inside
//! a sum, so any number of parts gives the bits of one.
use core::marker::PhantomData;
use core::ops::Range;

/// Runs the parts of a job, possibly at the same time on several threads.
pub trait Parallel: Sync {
    /// How many parts to split work into (1: no splitting).
    fn parts(&self) -> usize;
    /// Calls `job(k)` once for every `k < self.parts()`, possibly concurrently, and
    /// returns when every call has returned.
    fn run(&self, job: &(dyn Fn(usize) + Sync));
}

/// Part `k` of `parts` of `0..len`.
pub(crate) fn part(len: usize, k: usize, parts: usize) -> Range<usize> {
    len * k / parts..len * (k + 1) / parts
}

/// A mutable slice whose disjoint ranges are handed to the parts of a job.
pub(crate) struct Shared<'a> {
    ptr: *mut f32,
    len: usize,
    _slice: PhantomData<&'a mut [f32]>,
}

// SAFETY: parts only reach the slice through `range`, whose callers take disjoint ranges.
unsafe impl Sync for Shared<'_> {}

impl<'a> Shared<'a> {
    pub(crate) fn new(slice: &'a mut [f32]) -> Self {
        Shared {
            ptr: slice.as_mut_ptr(),
            len: slice.len(),
            _slice: PhantomData,
        }
    }

    /// Elements `r` (empty if out of bounds).
    ///
    /// # Safety
    /// No two live results may overlap.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn range(&self, r: Range<usize>) -> &'a mut [f32] {
        if r.start > r.end || r.end > self.len {
            return &mut [];
        }
        // SAFETY: in bounds (checked above); the caller keeps the ranges disjoint.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.add(r.start), r.end - r.start) }
    }
}
