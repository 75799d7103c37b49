"""Webhooks: endpoints an account registers, and the worker that delivers events to them.

``signing`` (the signature receivers check), ``endpoints`` (the account's endpoints, checked
when registered), ``delivery`` (leases, POSTs, backoff, expiry).

Delivery is at least once. The roll-up pass (:mod:`edge.events.rollup`) enqueues each stored event
for each matching endpoint in the database, in the transaction that counts it, so the queue
survives restarts. :class:`WebhookDelivery` leases a batch of an endpoint's queue (so that
several workers never send the same rows at once), POSTs it as JSON, and deletes the rows
only after a 2xx answer. A worker that dies mid-delivery leaves a lease that runs out; the
rows are then sent again, with the same event ids, which receivers use to drop duplicates.

A failed delivery (connection error, timeout, non-2xx) backs the *endpoint* off
exponentially (``backoff_base`` doubling up to ``backoff_max``), so a receiver that is down
gets one attempt per step rather than one per event. Events still undelivered
``max_age`` seconds after they were enqueued (24 hours by default) are dropped and counted in
the endpoint's ``expired``.

Where requests go: through :mod:`admin.outbound`, like every request to an address a customer
chooses. The endpoint's host is resolved once per request through the configured resolvers
and the POST goes to an address that was checked: a public one, or one in
``EDGE_WEBHOOK_ALLOW_NETWORKS`` (none by default, so not this host's loopback nor its private
network). A refused address is never connected to, so ``last_error`` says it was refused and
nothing about whether anything listens there. A URL whose host is an address (or
``localhost``) the policy refuses is refused when it is registered, with a 422.

Signature: every request carries ``X-Webhook-Timestamp`` (Unix seconds) and
``X-Webhook-Signature: sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<body>"`` under the
endpoint's secret (the Stripe scheme: the timestamp inside the MAC lets receivers refuse
replays older than a few minutes). :func:`verify_signature` is the receiver's side.
"""
