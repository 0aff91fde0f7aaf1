"""S3-compatible providers as data: endpoint templates and addressing styles."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Provider:
    name: str
    title: str
    endpoint: str | None  # template with {region} / {account}; None: AWS picks by region
    addressing: str  # virtual | path
    needs_region: bool
    needs_endpoint: bool = False
    default_region: str | None = None


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider("s3", "Amazon S3", None, "virtual", needs_region=True),
        Provider(
            "cos",
            "Tencent Cloud COS",
            "https://cos.{region}.myqcloud.com",
            "virtual",
            needs_region=True,
        ),
        Provider(
            "minio",
            "MinIO",
            None,
            "path",
            needs_region=False,
            needs_endpoint=True,
            default_region="us-east-1",
        ),
        Provider(
            "r2",
            "Cloudflare R2",
            "https://{account}.r2.cloudflarestorage.com",
            "path",
            needs_region=False,
            default_region="auto",
        ),
        Provider(
            "b2",
            "Backblaze B2",
            "https://s3.{region}.backblazeb2.com",
            "virtual",
            needs_region=True,
        ),
        Provider(
            "gcs",
            "Google Cloud Storage (S3 interoperability)",
            "https://storage.googleapis.com",
            "path",
            needs_region=False,
            default_region="auto",
        ),
        Provider(
            "custom",
            "Another S3-compatible service",
            None,
            "path",
            needs_region=False,
            needs_endpoint=True,
            default_region="us-east-1",
        ),
    )
}


def provider(name: str) -> Provider:
    try:
        return PROVIDERS[name]
    except KeyError:
        raise ValueError(f"unknown provider {name!r}; use one of " + ", ".join(PROVIDERS)) from None


def endpoint_for(prov: Provider, region: str | None, account: str | None = None) -> str | None:
    """The endpoint URL a preset implies (None for AWS, where boto3 picks it)."""
    if prov.endpoint is None:
        return None
    if "{account}" in prov.endpoint and not account:
        return None
    if "{region}" in prov.endpoint and not region:
        return None
    return prov.endpoint.format(region=region or "", account=account or "")
