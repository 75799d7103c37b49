"""The vocabulary every layer shares: value types and closed value sets, declared once.

Events and their verdicts, tracking-domain states and the rule that serves a domain,
certificates, privacy switches, erased recipients. Pure data and the rules over it: no I/O.

May import: nothing of ours.
"""
