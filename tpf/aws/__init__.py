"""AWS plumbing: the shared aiobotocore clients, resource bootstrap and strict startup checks.

Imported only when a configuration uses AWS (embedded startup stays light).
"""
