"""Fixtures for the Lambda handler tests: a real PostgreSQL with pgvector
(started by scripts/test-infra.sh, named by PGHOST/PGPORT/PGUSER) and a real
SQS protocol server (moto_server, started here on a free port and stopped
by its PID)."""
import contextlib
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import psycopg2
import pytest

LAMBDA_DIR = pathlib.Path(__file__).resolve().parent.parent


def load(name, module_dir):
    """Imports a handler module from its own directory under a unique name."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, LAMBDA_DIR / module_dir / "handler.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def pg():
    """Connection settings of the test server; fails (never skips) without it."""
    missing = [k for k in ("PGHOST", "PGPORT", "PGUSER") if not os.environ.get(k)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not set: run these tests through scripts/test-infra.sh, "
            "which starts PostgreSQL 15 with pgvector"
        )
    return {"host": os.environ["PGHOST"], "port": int(os.environ["PGPORT"]), "user": os.environ["PGUSER"]}


def connect(pg, dbname, **kw):
    conn = psycopg2.connect(host=pg["host"], port=pg["port"], user=pg["user"], dbname=dbname, **kw)
    conn.autocommit = True
    return conn


class DataAPI:
    """The RDS Data API's execute_statement, carried out by psycopg2 on the
    test server: the bootstrap's SQL runs for real; only the transport
    differs. Named parameters (:name) become psycopg2 parameters."""

    def __init__(self, pg):
        self.pg = pg
        self.calls = []

    def execute_statement(self, resourceArn, secretArn, database, sql, parameters):
        self.calls.append((database, sql))
        params = {p["name"]: list(p["value"].values())[0] for p in parameters}
        query = re.sub(r"(?<!:):([A-Za-z_]\w*)", r"%(\1)s", sql) if params else sql
        conn = connect(self.pg, database)
        try:
            with conn.cursor() as cur:
                cur.execute(query, params or None)
                rows = cur.fetchall() if cur.description else []
        finally:
            conn.close()
        return {"records": [[self._field(v) for v in row] for row in rows]}

    @staticmethod
    def _field(v):
        if isinstance(v, bool):
            return {"booleanValue": v}
        if isinstance(v, int):
            return {"longValue": v}
        if v is None:
            return {"isNull": True}
        return {"stringValue": str(v)}


@pytest.fixture(scope="session")
def bedrock_secret(moto):
    """bedrock_user's secret in Secrets Manager (moto), created without a
    value as Terraform creates it."""
    import boto3

    for k, v in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "eu-west-2"}.items():
        os.environ.setdefault(k, v)
    client = boto3.client("secretsmanager", endpoint_url=moto, region_name="eu-west-2")
    arn = client.create_secret(Name=f"bedrock-user-{uuid.uuid4().hex[:8]}")["ARN"]
    return client, arn


@pytest.fixture(scope="session")
def new_bootstrap(bedrock_secret):
    """Makes a Bootstrap as the handler does, on a given Data API client."""
    mod = load("db_bootstrap_handler", "db_bootstrap")
    client, arn = bedrock_secret

    def make(api, **kw):
        return mod.Bootstrap(api, "arn:cluster", "arn:secret", client, arn, **kw)

    make.module = mod
    return make


@pytest.fixture(scope="session")
def bootstrapped(pg, new_bootstrap):
    """Runs the bootstrap once for the tests that need the schema."""
    first = new_bootstrap(DataAPI(pg)).run()
    assert first["bedrock_password_generated"] is True
    return new_bootstrap.module


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto():
    exe = shutil.which("moto_server")
    if not exe:
        pytest.fail("moto_server is not on PATH: the trigger tests need a real SQS protocol server")
    port = free_port()
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url + "/moto-api/", timeout=1)
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"moto_server did not start on {url}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture()
def sqs_queue(moto, monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    client = boto3.client("sqs", endpoint_url=moto, region_name="eu-west-2")
    url = client.create_queue(QueueName=f"signup-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return client, url
