"""The property dialect's wire objects, each declared once (issue 24, item 1).

A request body is a `base.Body` serializer: the view validates the body with it (a wrong JSON type
in any field is a 400 in the dialect's error shape, by construction) and drf-spectacular
documents the same object. An answer is a `base.Answer` serializer: the view produces the
answer through it (`Answer.show`) and drf-spectacular documents the same object. Connio's words
map to plug words by `source`. One module per object family: `accounts` (account settings,
users, sub-accounts), `keys` (API keys and API clients).
"""
