"""Which batches of an epoch the probe samples, so that its work stays within a share of the
epoch's time (pure bookkeeping: no torch)."""

from __future__ import annotations

import time
from collections.abc import Callable


class SamplingBudget:
    """Samples every ``stride``-th batch of an epoch from batch 1 (1, 1 + k, 1 + 2k, ...),
    within a time budget. Batch 1, not 0: the first batch of a run has seen no update, so
    its gradients say nothing of how training goes (an explosion after the first step is
    missed). After an epoch of a single batch (full-batch training, which has no batch 1)
    the next epoch is sampled from batch 0.

    * The stride starts at ``stats_every`` and is set again after every epoch: at least
      ``ceil(batches / max_samples)``, so long epochs cost no more than short ones, and, with
      an ``overhead_budget``, as large as it takes for the samples and the flush to fit in
      that share of the epoch, judged from what they cost in the epoch just seen (never
      fewer than one sample an epoch).
    * Within an epoch, a batch due for sampling is skipped while the time spent so far (its
      samples plus the last flush) is over budget: this guards the first epoch, before any
      stride adapts, and any change of pace. The first batch due in an epoch is always
      sampled.

    ``clock`` measures the probe's time and the epoch's. Default: the training thread's CPU
    time (other processes sharing the machine do not inflate the budget);
    :meth:`use_wall_clock` switches to wall time, for work that runs on an accelerator.
    """

    def __init__(
        self,
        stats_every: int,
        max_samples: int,
        overhead_budget: float | None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.stride = stats_every
        self.samples = 0  # batches sampled this epoch
        self.first = 1  # the first batch sampled in an epoch
        self._min_stride = stats_every
        self._max_samples = max_samples
        self._budget = overhead_budget
        self._clock: Callable[[], float] = clock or time.thread_time
        self._switchable = clock is None
        self._sample_seconds = 0.0  # spent on sampled batches this epoch
        self._flush_seconds = 0.0  # spent by the last flush
        self._epoch_began = self._clock()

    def now(self) -> float:
        return self._clock()

    def use_wall_clock(self) -> None:
        """Measure with wall time from now on (the probe's work runs on an accelerator, where
        the training thread's CPU time misses it), unless the caller chose the clock."""
        if self._switchable:
            self._clock, self._switchable = time.perf_counter, False
            self._epoch_began, self._sample_seconds = self._clock(), 0.0

    def due(self, batch: int) -> bool:
        """Whether ``batch`` (counted from 0 within the epoch) is to be sampled."""
        offset = batch - self.first
        return offset >= 0 and offset % self.stride == 0 and (offset == 0 or self._within_budget())

    def sampled(self, began: float) -> None:
        """A batch was sampled; its work began at ``began`` (by :meth:`now`)."""
        self.samples += 1
        self._sample_seconds += self._clock() - began

    def spent(self, began: float) -> None:
        """More of the probe's work for this epoch's samples, begun at ``began``."""
        self._sample_seconds += self._clock() - began

    def end_epoch(self, batches: int, flush_began: float) -> None:
        """The epoch of ``batches`` batches ended with a flush that began at ``flush_began``:
        set the next epoch's stride and start counting it."""
        self._flush_seconds = self._clock() - flush_began
        if batches:
            self.stride = self._next_stride(batches)
            self.first = 1 if batches > 1 else 0
        self.samples = 0
        self._sample_seconds = 0.0
        self._epoch_began = self._clock()

    def _within_budget(self) -> bool:
        if self._budget is None:
            return True
        spent = self._sample_seconds + self._flush_seconds
        return spent <= self._budget * (self._clock() - self._epoch_began)

    def _next_stride(self, batches: int) -> int:
        samples = self._max_samples
        if self._budget is not None and self.samples:
            epoch_seconds = self._clock() - self._epoch_began
            per_sample = self._sample_seconds / self.samples
            spare = self._budget * epoch_seconds - self._flush_seconds
            samples = max(1, min(samples, int(spare / per_sample) if per_sample > 0 else samples))
        return max(self._min_stride, -(-batches // samples))


class CheckBudget:
    """Which batches get the every-batch gradient check on the CPU, where reading the check
    is part of the training thread's time.

    The first ``first`` batches of every epoch are always checked (an explosion in the first
    steps, as with SGD at a learning rate of 1e6, shows there); after them a batch is checked
    while the checks of this epoch took at most ``share`` of its time so far. On a net whose
    steps take a few milliseconds, one fused max|g| reduction is about 2% of a step: checking
    every batch there would double the probe's overhead budget. ``share=None``: every batch.
    """

    def __init__(
        self,
        share: float | None = 0.002,
        first: int = 4,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if share is not None and not 0 < share <= 1:
            raise ValueError(f"check_budget must be in (0, 1] or None, got {share}")
        if first < 0:
            raise ValueError(f"check_first must be >= 0, got {first}")
        self.share = share
        self.first = first
        self.clock = clock
        self.start_epoch()

    def start_epoch(self) -> None:
        self._began = self.clock()
        self._used = 0.0

    def due(self, batch: int) -> bool:
        """Whether batch ``batch`` (0-based, within the epoch) is checked."""
        if self.share is None or batch < self.first:
            return True
        return self._used <= self.share * (self.clock() - self._began)

    def spent(self, seconds: float) -> None:
        self._used += seconds
