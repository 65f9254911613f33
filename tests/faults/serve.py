"""The app the fault tests serve with gunicorn: the suite's test configuration on the
database named by ``HEEDFUL_FAULT_DATABASE_URL``."""

from __future__ import annotations

import os

from flask import Flask

from app import create_app
from tests.conftest import test_config


def create() -> Flask:
    url = os.environ["HEEDFUL_FAULT_DATABASE_URL"]
    return create_app(test_config(url), instance_path=os.environ["HEEDFUL_FAULT_INSTANCE"])
