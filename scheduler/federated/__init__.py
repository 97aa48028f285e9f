"""Elastic geo-distributed training that follows curtailment windows (seed 002): a tiny byte-level
transformer LM trained per site while the site is in a surplus window, with FedAvg across the sites that are
in windows at the same time. Plain torch (Flower could not be installed without changing pinned packages).
Optional heavy part: the scheduler core never imports this package.
"""
