"""ProxylessNAS's REINFORCE variant: alpha is the logits of independent per-decision
categoricals, updated by policy gradient on the reward of the child sampled on the val batch
(its BN statistics re-estimated on the step's train batch, probe.py), with a moving-average
baseline.  No gradient flows through the network, so the reward may be
anything measured on the child (see policy.py: accuracy, or MnasNet's latency-aware reward)."""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from .base import AlphaStrategy, StrategyConfig, register_strategy, step_metrics
from .policy import MovingAverageBaseline, accuracy, child_on_val, reinforce_step


@dataclass
class ReinforceConfig(StrategyConfig):
    name: str = "reinforce"
    arch_weight_decay: float = 0.0
    baseline_decay: float = 0.9     # moving-average reward baseline


@register_strategy("reinforce", ReinforceConfig)
class Reinforce(AlphaStrategy):
    reward_driven = True

    def __init__(self, space, cfg, **parts):
        super().__init__(space, cfg, **parts)
        self.baseline = MovingAverageBaseline(cfg.baseline_decay)

    def arch_step(self, net, x, y, objective, train=None, w_opt=None):
        choice = {name: self._sample(p, 1)[0] for name, p in self.probabilities().items()}
        logits, loss = child_on_val(net, choice, x, y, objective, train)
        log_prob = sum(F.log_softmax(self.alphas[name], -1)[k] for name, k in choice.items())
        reinforce_step(self.optimizer, log_prob, self.baseline.advantage(self.reward(accuracy(logits, y), choice)))
        return step_metrics(loss, logits, y)
