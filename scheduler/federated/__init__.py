"""Elastic geo-distributed training that follows curtailment windows (seed 002): a tiny byte-level
transformer LM trained per site while the site is in a surplus window, synchronised with FedAvg rounds on
Flower's simulation engine (flwr 1.41) when ≥ 2 sites are in windows; plus the centralised plain-torch
baseline. Optional heavy part: the scheduler core never imports this package.
"""
