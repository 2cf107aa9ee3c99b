"""The learning-rate multiplier both CPU trainers use (LLM: cpu_engine.lr_factor; VLM: vlm/train_cpu.py).

Megatron's shapes, as a factor of the peak LR: linear warmup from 0 over `warmup` steps (step 0 gets
1/warmup), then `cosine` or `linear` decay to `floor` (= min_lr / lr) at the last step, `constant`, or
`wsd`: the peak held, then `decay_steps` of `decay_style` decay (linear, cosine, 1-sqrt) ending at floor.
"""

from __future__ import annotations

import math
from collections.abc import Callable


def lr_multiplier(total_steps: int, warmup: int, style: str, floor: float, decay_style: str = "linear",
                  decay_steps: int | None = None) -> Callable[[int], float]:  # fmt: skip
    shape = decay_style if style == "wsd" else style
    decay_len = (decay_steps or total_steps - warmup) if style == "wsd" else total_steps - warmup
    decay_start = total_steps - max(1, decay_len)

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if style == "constant" or step < decay_start:
            return 1.0
        frac = min(1.0, (step - decay_start) / max(1, total_steps - decay_start))
        if shape == "cosine":
            decay = 0.5 * (1 + math.cos(math.pi * frac))
        elif shape == "1-sqrt":
            decay = 1 - math.sqrt(frac)
        else:
            decay = 1 - frac
        return floor + (1 - floor) * decay

    return factor
