"""The admin API's plumbing: error types and their two dialects, contracts (how an operation
is declared, and how requests are read into its models: ``fields``, ``bodies``, ``queries``),
times, and the OpenAPI document generated from the routes.

May import: :mod:`edge`.
"""
