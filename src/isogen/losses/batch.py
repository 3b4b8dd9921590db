"""The batch a statistic is taken over. `LOCAL` is the rows on this process; `isogen.distributed.World`
extends it to the global batch split across the processes of a torchrun job, with collectives that
carry gradients. A loss that needs the whole batch (InfoNCE's negatives, SIGReg's characteristic
function, uniformity's pairs, ...) takes one of these and is then exact under data parallelism.
"""
import torch


class Batch:
    rank, size = 0, 1  # this process, and the processes sharing the batch

    def rows(self, local_rows: int) -> int:
        """The global batch's row count for a shard of `local_rows`."""
        return local_rows * self.size

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        """(n, ...) -> (...): the mean over the rows of the whole batch."""
        return x.mean(0)

    def gather(self, x: torch.Tensor, blocks: int = 1) -> torch.Tensor:
        """(blocks * n, ...) -> (blocks * N, ...): the whole batch, each of `blocks` row blocks (e.g. the two
        views of every image, stacked) gathered over the processes and kept in order."""
        return x


LOCAL = Batch()
