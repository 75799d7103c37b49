"""The admin API's plumbing: error types and their two dialects, routing, request parsing,
times, and the OpenAPI document.

May import: :mod:`edge`.
"""
