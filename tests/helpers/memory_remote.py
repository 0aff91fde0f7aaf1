"""A remote on the memory store (storage/memory.py), for tests where S3 is not what is
tested: `Service(stores=MemoryStores())`, then `add_memory_remote(service)`."""

from __future__ import annotations

from lifeboat.service import Service

#: the bucket of add_memory_remote's remote (MemoryStores makes it when first used)
MEMORY_BUCKET = "lb-memory"


def add_memory_remote(
    service: Service, name: str = "offsite", *, bucket: str = MEMORY_BUCKET, **settings: object
) -> None:
    """Add a remote as for S3 (prefix "lb"; no keyring needed: its credentials would come
    from the environment), which the service's MemoryStores opens in memory."""
    service.add_remote(
        name,
        provider="minio",
        bucket=bucket,
        endpoint="https://memory.invalid",
        prefix="lb",
        credentials="env",
        **settings,
    )
