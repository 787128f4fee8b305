"""The statistics the quality benchmarks judge shared weights and latency tables by."""
import statistics

import pytest
import torch
from scipy.stats import kendalltau

from benchmarks.harness import tau_ceiling, tau_sampling_error


@pytest.mark.parametrize("spread, noise", [(1.0, 0.0), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0)])
def test_tau_ceiling_is_what_a_perfect_ranking_shows_against_a_noisy_yardstick(spread, noise):
    gen = torch.Generator().manual_seed(0)
    taus = []
    for _ in range(400):
        truth = torch.randn(20, generator=gen) * spread
        yardstick = truth + torch.randn(20, generator=gen) * noise
        taus.append(kendalltau(truth.tolist(), yardstick.tolist()).statistic)
    assert statistics.fmean(taus) == pytest.approx(tau_ceiling(spread, noise), abs=0.02)
    assert tau_ceiling(0.0, 1.0) == 0.0


@pytest.mark.parametrize("n", [10, 20])
def test_tau_sampling_error_is_the_spread_of_tau_between_draws_of_unrelated_items(n):
    gen = torch.Generator().manual_seed(0)
    taus = [kendalltau(torch.randn(n, generator=gen).tolist(), torch.randn(n, generator=gen).tolist()).statistic
            for _ in range(2000)]
    assert statistics.stdev(taus) == pytest.approx(tau_sampling_error(n), rel=0.05)
