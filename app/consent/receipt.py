"""Consent receipts after ISO/IEC TS 27560 (consent record information structure)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, Signer

from app.models import ConsentRecord, Site
from app.sites.snapshot import SiteSnapshot

RECEIPT_SCHEMA = "ISO/IEC TS 27560:2023"
_SALT = "heedful.consent-receipt.v1"


def _signer() -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt=_SALT, digest_method=hashlib.sha256)


def _canonical(receipt: dict[str, Any]) -> bytes:
    body = {k: v for k, v in receipt.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def build_receipt(record: ConsentRecord, site: Site | SiteSnapshot) -> dict[str, Any]:
    """The receipt of one record, signed so the visitor can prove what was recorded."""
    receipt: dict[str, Any] = {
        "schema": RECEIPT_SCHEMA,
        "record_id": record.record_uid,
        "consent_id": record.consent_id,
        "controller": {"name": current_app.config["HEEDFUL_CONTROLLER"]},
        "site": {"key": site.key, "name": site.name, "domains": list(site.domains)},
        "notice": {
            "policy_version": record.policy_version,
            "texts_hash": "sha256:" + record.texts_hash,
            "language": record.lang,
        },
        "event": "withdrawn" if record.kind == "withdrawal" else "given",
        "purposes": [
            {"category": category, "granted": bool(granted)}
            for category, granted in record.choices.items()
        ],
        "method": record.method,
        "recorded_at": record.recorded_at.isoformat(),
        "expires_at": record.expires_at.isoformat(),
        "gpc": record.gpc,
        "jurisdiction_signal": "GPC" if record.gpc else None,
    }
    receipt["signature"] = _signer().get_signature(_canonical(receipt)).decode()
    return receipt


def verify_receipt(receipt: dict[str, Any]) -> bool:
    signature = receipt.get("signature")
    if not isinstance(signature, str):
        return False
    try:
        return _signer().verify_signature(_canonical(receipt), signature.encode())
    except BadSignature:
        return False
