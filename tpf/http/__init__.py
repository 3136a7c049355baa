"""The aiohttp edge (control plane, admin, health, metrics). Built in the REST issue."""
