"""A training step recorded once as a CUDA graph and replayed (the fast path on CUDA).

A small network's step (the classifier at batch 128, the VAE at batch 64) is bound by kernel
launches, not by arithmetic: hundreds of launches of a few microseconds each. Recorded as a
CUDA graph, the step costs one launch plus the copies of its inputs. :class:`GraphedStep`
records one graph per input shape (the full batch and an epoch's last, smaller one).

Recording needs a few warm-up steps on a side stream (lazy initialisation of cuBLAS, cuDNN
and the optimiser's state). Their effect is undone: every tensor that ``state()`` returned
before the warm-up gets its value back, and a tensor that appeared during it (an optimiser's
lazily created state, e.g. Adam's moments and step count) is set to zero, which is the value
PyTorch gives it on creation. So a graphed run follows the same trajectory as an eager one.
The step must draw no random numbers and must not synchronise with the host: callers draw
an epoch's randomness before the loop and pass slices of it as inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


class GraphedStep:
    """Calls ``compute(*inputs)`` eagerly, or (``graphed``) replays its recorded graph.

    ``state()`` returns the tensors the step updates in place (parameters, buffers,
    optimiser state, running sums), the same objects on every call; their gradients are
    cleared before recording.
    """

    WARMUP = 3

    def __init__(
        self, compute: Callable[..., None], state: Callable[[], list[torch.Tensor]], graphed: bool
    ):
        self.compute, self.state, self.graphed = compute, state, graphed
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, tuple[torch.Tensor, ...]]] = {}

    def __call__(self, *inputs: torch.Tensor) -> None:
        if not self.graphed:
            self.compute(*inputs)
            return
        key = tuple(tuple(t.shape) for t in inputs)
        if key not in self.graphs:
            self.graphs[key] = self._record(inputs)
        graph, static = self.graphs[key]
        for s, t in zip(static, inputs, strict=True):
            s.copy_(t)
        graph.replay()

    def _record(self, inputs: tuple[torch.Tensor, ...]):
        device = inputs[0].device
        static = tuple(t.clone() for t in inputs)
        # detached copies: a clone that kept its autograd history would keep the parameters'
        # gradient accumulators alive on the default stream and break the capture
        saved = {id(t): (t, t.detach().clone()) for t in self.state()}
        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream):
            for _ in range(self.WARMUP):
                self.compute(*static)
        torch.cuda.current_stream(device).wait_stream(stream)
        with torch.no_grad():  # undo the warm-up: same tensors, values from before it
            for t in self.state():
                if id(t) in saved:
                    t.copy_(saved[id(t)][1])
                else:
                    t.zero_()
                t.grad = None  # the recorded step allocates its gradients in the graph's pool
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.compute(*static)
        return graph, static


def optimizer_state(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """The tensors of a ``torch.optim`` optimiser's per-parameter state."""
    return [v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v)]
