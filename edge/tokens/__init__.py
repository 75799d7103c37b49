"""Tokens: what a tracked link carries, signed so that the edge needs no lookup to serve it.

``signing`` (the itsdangerous formats and their fast paths), ``codec`` (click and open tokens,
keys and rotation, URL safety) and ``links`` (tracking URLs on a host).

May import: :mod:`edge.model`, :mod:`edge.hosts`.
"""
