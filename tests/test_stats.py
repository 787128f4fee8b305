"""The statistics the quality benchmarks judge shared weights and latency tables by."""
import statistics

import pytest
import torch

from supernet.stats import kendall_tau, tau_ceiling, tau_sampling_error


def test_kendall_tau_counts_concordant_pairs_and_ignores_ties():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert kendall_tau([1, 1, 2], [5, 6, 7]) == pytest.approx(2 / 6 ** 0.5)   # tau-b: the tied pair counts for neither


@pytest.mark.parametrize("spread, noise", [(1.0, 0.0), (1.0, 0.5), (1.0, 1.0), (0.5, 1.0)])
def test_tau_ceiling_is_what_a_perfect_ranking_shows_against_a_noisy_yardstick(spread, noise):
    gen = torch.Generator().manual_seed(0)
    taus = []
    for _ in range(400):
        truth = torch.randn(20, generator=gen) * spread
        yardstick = truth + torch.randn(20, generator=gen) * noise
        taus.append(kendall_tau(truth.tolist(), yardstick.tolist()))
    assert statistics.fmean(taus) == pytest.approx(tau_ceiling(spread, noise), abs=0.02)
    assert tau_ceiling(0.0, 1.0) == 0.0


@pytest.mark.parametrize("n", [10, 20])
def test_tau_sampling_error_is_the_spread_of_tau_between_draws_of_unrelated_items(n):
    gen = torch.Generator().manual_seed(0)
    taus = [kendall_tau(torch.randn(n, generator=gen).tolist(), torch.randn(n, generator=gen).tolist())
            for _ in range(2000)]
    assert statistics.stdev(taus) == pytest.approx(tau_sampling_error(n), rel=0.05)
