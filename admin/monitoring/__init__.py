"""What operators and load balancers ask a node: ``/healthz`` (is it ready, is its database
reachable) and ``/metrics`` (Prometheus).

May import: :mod:`edge`, :mod:`admin.api`.
"""
