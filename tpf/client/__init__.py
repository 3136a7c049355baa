"""The REST client under its public import path.

The code lives in :mod:`tpf.client.rest`; this path stays for users' imports.
"""

from tpf.client.rest import ADMIN as ADMIN
from tpf.client.rest import CONTROL as CONTROL
from tpf.client.rest import ApiError as ApiError
from tpf.client.rest import RestClient as RestClient
