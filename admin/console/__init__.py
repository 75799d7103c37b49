"""The admin console: web pages for the people who manage tracking domains and read
engagement, on the admin host only (``EDGE_ADMIN_HOST``), at ``/``.

Server-rendered (Starlette, Jinja2 with autoescaping), with htmx and uPlot shipped as static
files (``static/vendor``, no build step, no CDN). Every action calls the services the API
calls (:mod:`admin.domains`, :mod:`admin.ssl` through them, :mod:`admin.engagement`,
:mod:`admin.accounts`): no rule has a second copy here. Imports those capabilities and
:mod:`admin.api` (errors); nothing imports it but the composition root (:mod:`admin.app`).
"""
