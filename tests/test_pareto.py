import pytest

from supernet.pareto import pareto_front


def test_front_on_hand_made_points():
    #          0     1     2     3     4     5
    lat = [10.0, 12.0, 8.0, 20.0, 12.0, 30.0]
    acc = [0.80, 0.85, 0.70, 0.84, 0.90, 0.90]
    # 3 is dominated by 4 (faster, more accurate); 5 by 4 (same accuracy, slower); 1 by 4
    assert pareto_front(lat, acc) == [2, 0, 4]


def test_duplicates_ties_and_edge_cases():
    assert pareto_front([1.0, 1.0], [0.5, 0.5]) == [0, 1]
    assert pareto_front([1.0, 1.0], [0.4, 0.5]) == [1]
    assert pareto_front([], []) == []
    assert pareto_front([3.0], [0.1]) == [0]
    with pytest.raises(ValueError, match="latencies"):
        pareto_front([1.0], [])
