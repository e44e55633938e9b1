"""The Provider Case API v1 as data: wire payloads, item validation, identity codes, rejects."""
