"""Elastic geo-distributed training that follows curtailment windows (seed 002); optional heavy part.

The scheduler core never imports this package (it needs torch). The seed uses the Flower framework; Flower
could not be installed next to the pinned environment (every flwr release pins protobuf < 7, the venv has
protobuf 7.36.2; see ``elastic.py``), so the FedAvg orchestration is implemented here in plain torch with
Flower's shape: clients ``fit`` locally from the global weights, the server aggregates with FedAvg weighted
by the number of local examples.
"""
