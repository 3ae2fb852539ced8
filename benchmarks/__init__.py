"""Speed benchmarks for rpsbook: ``python -m benchmarks`` (or ``nox -s bench``).

Everything is measured in one process (plus a few short ``python -m benchmarks.child``
children for the costs that only a new process shows) and reported as *ratios* of variants
timed side by side: inside every repeat each variant runs once, in a rotating order, so that
a noisy neighbour slows all of them alike. Medians and spreads (min-max over repeats) are
written to ``benchmarks/results.json`` and to ``benchmarks/results.rst``, which the
documentation's Performance page includes.

Modules
-------
timing
    Interleaved repeats and their summary statistics.
pipelines
    The training-epoch variants (naive, preloaded, compute floor, batched prototype).
lrtest
    rpsbook's ``lr_range_test`` against torch-lr-finder's ``LRFinder``.
chapter
    The chapter end to end, as readers run it: the book's notebook, the gallery pages as
    scripts, serial and parallel docs builds (``--only chapter``; the notebook is read from
    ``--book-repo``, never shipped).
gpu_check.sh
    The GPU session's checks in one go (CUDA tests, benchmarks on cuda, docs on cuda).
probes
    Child-process probes (decode cache, import times), gallery times, the machine.
child
    What a child process runs and how the parent starts it (also ``variation``'s workers).
cpu
    The CPU's model and instruction-set flags.
variation
    How much the chapter's numbers move with threads and CPU kernels
    (``python -m benchmarks.variation``).
report
    ``results.json`` and ``results.rst``.
"""
