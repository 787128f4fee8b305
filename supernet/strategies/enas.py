"""ENAS: an LSTM controller samples the whole architecture, both cells, one decision after the
other (each slot's input, then its op), each conditioned on the choices before it.  The shared
weights train on the controller's samples; the controller is trained by REINFORCE on the reward
of a child sampled on the val batch (default: its accuracy; see policy.py for the latency
term), with a moving-average baseline and an entropy bonus.  Derive: greedy decoding."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..gates import child_gates
from ..spaces.base import Decision, SearchSpace
from .base import Strategy, StrategyConfig, arch_adam, register_strategy, step_metrics
from .policy import MovingAverageBaseline, accuracy, child_on_val, reinforce_step

Pick = Callable[[Decision, Tensor], int]   # (decision, its logits) -> chosen candidate


class Controller(nn.Module):
    """Autoregressive policy over ``space.decisions``: an LSTM cell, one softmax head and one
    embedding of the chosen candidate (the next step's input) per decision.  ``tanh_constant``
    > 0 bounds the logits to +-tanh_constant (ENAS), against premature convergence."""

    def __init__(self, space: SearchSpace, hidden: int, tanh_constant: float = 0.0):
        super().__init__()
        self.decisions, self.tanh_constant = space.decisions, tanh_constant
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.lstm = nn.LSTMCell(hidden, hidden)
        self.heads = nn.ModuleDict({d.name: nn.Linear(hidden, len(d.candidates)) for d in space.decisions})
        self.embed = nn.ModuleDict({d.name: nn.Embedding(len(d.candidates), hidden) for d in space.decisions})

    def run(self, pick: Pick) -> tuple[dict[str, int], Tensor, Tensor, dict[str, Tensor]]:
        """Decode with ``pick``: the choice, its log-probability, the summed entropy of the
        step distributions, and each step's distribution."""
        inp, state = self.start, None
        choice, probs, log_prob, entropy = {}, {}, 0.0, 0.0
        for d in self.decisions:
            h, c = state = self.lstm(inp, state)
            logits = self.heads[d.name](h)[0]
            if self.tanh_constant:   # ENAS: bounded logits, so no candidate's probability dies
                logits = self.tanh_constant * torch.tanh(logits / self.tanh_constant)
            log_p = F.log_softmax(logits, -1)
            k = pick(d, logits)
            choice[d.name], probs[d.name] = k, log_p.exp()
            log_prob = log_prob + log_p[k]
            entropy = entropy - (log_p.exp() * log_p).sum()
            inp = self.embed[d.name](torch.tensor([k], device=logits.device))
        return choice, log_prob, entropy, probs

    def log_prob(self, choice: dict[str, int]) -> Tensor:
        return self.run(lambda d, logits: choice[d.name])[1]


@dataclass
class ENASConfig(StrategyConfig):
    name: str = "enas"
    arch_lr: float = 3.5e-4         # ENAS's controller: Adam lr 3.5e-4, no weight decay
    arch_weight_decay: float = 0.0
    baseline_decay: float = 0.99    # moving-average reward baseline (ENAS: 0.99)
    entropy_weight: float = 1e-4    # entropy bonus of the controller
    controller_hidden: int = 64     # LSTM width
    tanh_constant: float = 2.5      # logits bounded to +-this (0: unbounded)


@register_strategy("enas", ENASConfig)
class ENAS(Strategy):
    reward_driven = True

    def __init__(self, space, cfg, **parts):
        super().__init__(space, cfg, **parts)
        self.controller = Controller(space, cfg.controller_hidden, cfg.tanh_constant)
        self.baseline = MovingAverageBaseline(cfg.baseline_decay)
        self.optimizer = arch_adam(self.controller.parameters(), cfg)

    def _draw(self, d: Decision, logits: Tensor) -> int:
        return int(torch.multinomial(F.softmax(logits.detach(), -1).cpu(), 1, generator=self.generator))

    def _greedy(self, d: Decision, logits: Tensor) -> int:
        logits = logits.detach().clone()
        logits[d.never_derived] = float("-inf")
        return int(logits.argmax())

    def sample(self):
        """A child from the controller: (choice, log-probability, entropy)."""
        return self.controller.run(self._draw)[:3]

    def weight_sample(self):
        with torch.no_grad():
            return child_gates(self.sample()[0])

    def probabilities(self):
        """Each step's distribution along the greedy (derived) architecture."""
        return self.controller.run(self._greedy)[3]

    def arch_step(self, net, x, y, objective, train=None, w_opt=None):
        choice, log_prob, entropy = self.sample()
        logits, loss = child_on_val(net, choice, x, y, objective, train)
        advantage = self.baseline.advantage(self.reward(accuracy(logits, y), choice))
        reinforce_step(self.optimizer, log_prob, advantage, entropy, self.cfg.entropy_weight)
        return step_metrics(loss, logits, y)
