"""The aiohttp REST edge: control plane, admin, health, metrics and OpenAPI.

``create_app(coordinator)`` builds the application; ``serve(coordinator, host=, port=)`` runs
it. Modules: ``control_plane`` and ``admin`` (handlers and their route tables), ``uploads``
(multipart release registration), ``health``, ``metrics``, ``openapi``, ``auth`` (bearer tokens),
``errors`` (the JSON error middleware), ``dto`` (every body, as msgspec Structs) and ``wire``
(helpers the handlers share).
"""
