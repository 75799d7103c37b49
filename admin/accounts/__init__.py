"""Accounts, their API keys, and the authentication every admin request starts with.

May import: :mod:`edge`, :mod:`admin.api`.
"""
