"""API keys of the account shown (a new key is shown once; revoke), and the operator's pages:
every account (create one, look at one), and the compliance switch (block, unblock).

The calls are :class:`~admin.accounts.service.Accounts`' and
:func:`~admin.domains.service.set_compliance`, as the command line's.
"""

from __future__ import annotations

from starlette.responses import Response

from admin.accounts.service import AccountExists, InvalidAccountName, UnknownKey
from admin.console.pages import Page, redirect
from admin.domains.service import DomainNotFound, set_compliance
from edge.hosts import normalise_host

MAX_LABEL = 200


async def keys_page(
    page: Page, *, new_secret: str | None = None, error: str | None = None, status: int = 200
) -> Response:
    keys = await page.services.accounts.list_keys(page.account)
    return page.render(
        "keys.html",
        status=status,
        keys=keys,
        new_secret=new_secret,
        error=error,
        current_key=page.signed_in.session.key.id,
    )


async def list_keys(page: Page) -> Response:
    return await keys_page(page)


async def create_key(page: Page) -> Response:
    label = page.form.get("label", "").strip()[:MAX_LABEL] or None
    if label is not None and any(ch < " " for ch in label):
        return await keys_page(page, error="A label holds no control characters.", status=400)
    new = await page.services.accounts.create_key(page.account, label)
    # Shown in this answer only: it is never stored, and the page is not cached (no-store).
    return await keys_page(page, new_secret=new.secret, status=201)


async def revoke_key(page: Page) -> Response:
    key_id: int = page.request.path_params["id"]
    try:
        await page.services.accounts.revoke_in_account(page.account, key_id)
    except UnknownKey:
        return await keys_page(page, error="No such key in this account.", status=404)
    if key_id == page.signed_in.session.key.id:  # this session ended with its key
        return redirect("/")
    return redirect("/keys")


# -- the operator's -------------------------------------------------------------------------


async def accounts_page(page: Page, *, error: str | None = None, status: int = 200) -> Response:
    summaries = await page.services.accounts.summaries()
    return page.render("accounts.html", status=status, summaries=summaries, error=error)


async def list_accounts(page: Page) -> Response:
    return await accounts_page(page)


async def create_account(page: Page) -> Response:
    try:
        await page.services.accounts.create(page.form.get("name", ""))
    except (AccountExists, InvalidAccountName) as exc:
        return await accounts_page(page, error=str(exc), status=400)
    return redirect("/accounts")


async def look_at(page: Page) -> Response:
    """Show another account's pages (keys created there are that account's)."""
    try:
        account_id = int(page.form.get("account", ""))
    except ValueError:
        account_id = 0
    if await page.services.accounts.get(account_id) is None:
        return await accounts_page(page, error="No such account.", status=404)
    await page.auth.look_at(page.signed_in, account_id)
    return redirect("/domains")


async def compliance(page: Page) -> Response:
    name = normalise_host(page.form.get("domain", "")) or ""
    blocked = page.form.get("action") == "block"
    try:
        await set_compliance(page.services.store, name, blocked=blocked)
    except DomainNotFound:
        return await accounts_page(page, error=f"No tracking domain named {name!r}.", status=404)
    return redirect("/accounts")
