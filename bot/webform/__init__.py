"""The sealed form: a Telegram Mini App page that encrypts a person's answers on their phone (issue 11).

`routes.webform_routes` gives the Starlette routes the bot's ASGI app serves under /form/:
the page and its static files (`page`), and the JSON endpoints it calls (`api`). The page
seals; the server checks Telegram's initData (`initdata`), the shape of what was sealed, and
signs it as the bot (crypto.envelope.countersign). docs/envelope.md states the format,
docs/threat-model.md what the server learns.
"""
