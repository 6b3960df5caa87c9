"""Sign-up worker: reads sign-ups from the SQS queue and writes each
tenant and user to "text2Agent-Tenants", keyed on the Cognito sub.

The database may be paused (Aurora Serverless v2, ~15-30 s to resume), so
connecting is retried with backoff until DB_CONNECT_DEADLINE_SECONDS. The
insert is idempotent (ON CONFLICT DO NOTHING): SQS delivers at least once.
A message that fails is reported in batchItemFailures; after the queue's
maxReceiveCount it goes to the dead-letter queue.
"""
import json
import logging
import os
import pathlib
import time
import uuid

import psycopg2  # from the psycopg2 layer

INSERT_SQL = (pathlib.Path(__file__).resolve().parent / "sql" / "insert_tenant.sql").read_text()

log = logging.getLogger()
log.setLevel(logging.INFO)

_conn = None


def password():
    """An IAM auth token in AWS (the role has rds-db:connect); a password
    from the environment elsewhere (local runs)."""
    if os.environ.get("DB_IAM_AUTH", "true") == "true":
        import boto3

        return boto3.client("rds").generate_db_auth_token(
            DBHostname=os.environ["DB_HOST"],
            Port=int(os.environ.get("DB_PORT", "5432")),
            DBUsername=os.environ["DB_USER"],
        )
    return os.environ.get("DB_PASSWORD", "")


def connect(sleep=time.sleep):
    deadline = time.monotonic() + float(os.environ.get("DB_CONNECT_DEADLINE_SECONDS", "45"))
    delay = 0.5
    attempt = 0
    while True:
        attempt += 1
        try:
            return psycopg2.connect(
                host=os.environ["DB_HOST"],
                port=int(os.environ.get("DB_PORT", "5432")),
                dbname=os.environ.get("DB_NAME", "text2Agent-Tenants"),
                user=os.environ["DB_USER"],
                password=password(),
                sslmode=os.environ.get("DB_SSLMODE", "require"),
                connect_timeout=5,
            )
        except psycopg2.OperationalError as err:
            if time.monotonic() + delay > deadline:
                log.error("database unreachable after %d attempts: %s", attempt, err)
                raise
            log.info("connect attempt %d failed (%s), retrying in %.1fs", attempt, str(err).strip(), delay)
            sleep(delay)
            delay = min(delay * 2, 8.0)


def connection():
    global _conn
    if _conn is None or _conn.closed:
        _conn = connect()
    return _conn


def parse(body):
    msg = json.loads(body)
    sub = str(uuid.UUID(msg["sub"]))  # rejects anything but a Cognito sub
    email = msg.get("email") or ""
    if not email:
        raise ValueError(f"sign-up {sub} has no email")
    return {"sub": sub, "email": email, "tenant_name": msg.get("tenant_name") or email}


def write(conn, params):
    with conn:  # one transaction: commit, or roll back on error
        with conn.cursor() as cur:
            cur.execute(INSERT_SQL, params)
            return cur.rowcount


def handler(event, context):
    global _conn
    failures = []
    conn = connection()
    for record in event.get("Records", []):
        try:
            params = parse(record["body"])
            inserted = write(conn, params)
            log.info("sign-up %s: %s", params["sub"], "written" if inserted else "already present")
        except psycopg2.OperationalError:
            # The connection broke (the cluster paused, failover): let the
            # whole batch be retried on a new connection.
            _conn = None
            raise
        except Exception as err:
            log.error("sign-up message %s failed: %s", record.get("messageId"), err)
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
