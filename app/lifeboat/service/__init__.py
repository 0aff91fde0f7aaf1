"""The application layer: the one façade the front ends and the scheduler use (Service),
and what it is made of (checks, keys, remotes, status, validation of changes, the backup
pipeline, notices). No Qt here."""

from lifeboat.service.facade import Service

__all__ = ["Service"]
