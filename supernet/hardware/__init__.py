"""A latency table at search time, where it meets a space: expected latency as a differentiable
function of the architecture (predict), hard constraints and the latency-constrained derive
(constraint), a device's table fitted from end-to-end measurements (fit), measuring a table on
this machine (profile), and the hardware target a search and derive use (target)."""
from .predict import LatencyPredictor

__all__ = ["LatencyPredictor"]
