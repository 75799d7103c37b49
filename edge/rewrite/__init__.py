"""The rewriter: wraps every link of an outgoing email and adds the open pixel.

``htmlscan`` reads HTML as a browser's tokenizer does, ``rewriter`` splices tracking URLs
into the original bytes (nothing else changes), ``textlinks`` finds URLs in plain text.

May import: :mod:`edge.model`, :mod:`edge.hosts`, :mod:`edge.tokens`.
"""
