"""Data-parallel calls: a compiled function whose graph treats the rows of a batch dim independently runs a large
call as shards of rows in threads, one core each, then combines what the shards summed.

A training step is the model case: the forward and backward passes work row by row until the weight gradients and
the loss sum over the batch, and the updates read only those sums. Such a graph splits in two (:func:`plan_split`):
the **shard** graph computes, for some rows, every value that sums over the batch (partial sums; maxima and minima
too) and the outputs that keep the batch dim; the **combine** graph takes the shards' partial values, adds them
(or takes their maximum or minimum), and computes the remaining outputs and the updates. Element counts of the
batch dim (a mean's divisor) read the whole call's rows, and random numbers drawn over the batch (dropout's masks)
the whole call's entries from the shard's first row on: a split call draws the one kernel's mask (Dask's chunks of
rows draw theirs the same way: :func:`draws_from_first_row`). A graph that mixes
rows otherwise (a batch normalization's statistics read back by every row, ...) is not split: its calls run the one
kernel as before.

The shards run in parallel on a thread pool (each kernel releases the GIL) with OpenBLAS held to one thread, so
each shard's products and loops run on a core of their own: at the sizes of the CNN and LSTM benchmarks a step
takes ~0.55-0.65x the time of the one kernel, whose loops run on one core while OpenBLAS threads only its products.
A call splits only when ``threads`` allows it and its rows times the graph's loop work per row reach
:data:`MIN_LOOP_WORK`: the work one kernel runs on one core (elementwise operations, products short enough for
loops, every step of a recurrent loop), which the shards spread over the cores. Products OpenBLAS threads itself
do not count: a graph made of them (an MLP's step) runs as fast in one kernel, and below that work the threads'
hand-off (~20-40 us) costs more than it saves. Automatic splits also need OpenBLAS allowed two threads or more (the
process's setting: ``OPENBLAS_NUM_THREADS=1`` or a threadpoolctl limit, as in one-process-per-core jobs, keeps every
call on the one kernel) and no other split call running (threads calling compiled functions at once, Dask's local
scheduler say, already share the cores). Partial sums are added in a fixed order, so a
call's results depend on the number of shards (rounding only), never on timing.
"""

from .calls import MIN_LOOP_WORK, SplitCall, automatic_shards, warn_not_split
from .plan import SplitPlan, draws_from_first_row, plan_split, usable_cores

__all__ = ["MIN_LOOP_WORK", "SplitCall", "SplitPlan", "automatic_shards", "draws_from_first_row", "plan_split",
           "usable_cores", "warn_not_split"]
