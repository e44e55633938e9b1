"""Vahti's side of the Provider Case API v1: the httpx client and the sync into the store."""
