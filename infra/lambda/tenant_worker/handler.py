"""Sign-up worker: reads sign-ups from the SQS queue and writes each
tenant and user to "text2Agent-Tenants", keyed on the Cognito sub.

The database may be paused (Aurora Serverless v2 with min_capacity 0). A
connection to a paused instance starts it resuming: Aurora holds the
connection until it is up (~15 s, longer after a day's pause) or refuses
it while it resumes. So each connection attempt may wait
DB_CONNECT_TIMEOUT_SECONDS, and failed attempts ("resuming after being
auto-paused", "the database system is starting up", refused, timed out)
are retried with backoff until DB_CONNECT_DEADLINE_SECONDS. A connection
that breaks mid-batch (the instance paused or failed over) is opened again
and the message retried, within the same deadline. The insert is
idempotent (ON CONFLICT DO NOTHING): SQS delivers at least once. A message
that still fails is reported in batchItemFailures; after the queue's
maxReceiveCount it goes to the dead-letter queue.

The connection is closed at the end of every invocation: Aurora pauses only
an instance without connections, and a frozen Lambda environment would
otherwise hold one open for as long as the environment lives.
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


def connect(sleep=time.sleep, deadline=None):
    """Opens a connection, retrying while the database resumes or is
    unreachable, until the deadline (a time.monotonic() value)."""
    if deadline is None:
        deadline = time.monotonic() + float(os.environ.get("DB_CONNECT_DEADLINE_SECONDS", "45"))
    timeout = int(os.environ.get("DB_CONNECT_TIMEOUT_SECONDS", "20"))
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
                # Longer than a resume (~15 s): Aurora completes a
                # connection to a paused instance once it is up.
                connect_timeout=max(1, int(min(timeout, max(1.0, deadline - time.monotonic())))),
            )
        except psycopg2.OperationalError as err:
            if time.monotonic() + delay > deadline:
                log.error("database unreachable after %d attempts: %s", attempt, err)
                raise
            log.info("connect attempt %d failed (%s), retrying in %.1fs", attempt, str(err).strip(), delay)
            sleep(delay)
            delay = min(delay * 2, 8.0)


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


def broken(conn, err):
    """Whether an error means the connection is gone (paused, failed over,
    dropped), so the write may be retried on a new one."""
    return conn.closed != 0 or isinstance(err, (psycopg2.OperationalError, psycopg2.InterfaceError))


class Writer:
    """Writes sign-ups on one connection, opening a new one (with connect's
    retries) when it breaks, until the invocation's deadline."""

    def __init__(self, sleep=time.sleep):
        self.sleep = sleep
        self.deadline = time.monotonic() + float(os.environ.get("DB_CONNECT_DEADLINE_SECONDS", "45"))
        self.conn = None
        self.reconnects = 0

    def write(self, params):
        while True:
            if self.conn is None or self.conn.closed:
                self.conn = connect(self.sleep, self.deadline)
            try:
                return write(self.conn, params)
            except Exception as err:
                if not broken(self.conn, err) or time.monotonic() >= self.deadline:
                    raise
                log.info("connection lost (%s), reconnecting", str(err).strip())
                self.close()
                self.reconnects += 1

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # already gone
                pass
            self.conn = None


def handler(event, context, sleep=time.sleep):
    failures = []
    writer = Writer(sleep)
    try:
        for record in event.get("Records", []):
            try:
                params = parse(record["body"])
            except Exception as err:
                log.error("sign-up message %s is malformed: %s", record.get("messageId"), err)
                failures.append({"itemIdentifier": record["messageId"]})
                continue
            try:
                inserted = writer.write(params)
                log.info("sign-up %s: %s", params["sub"], "written" if inserted else "already present")
            except psycopg2.OperationalError:
                # Still unreachable at the deadline: the whole batch goes
                # back to the queue (and later to the dead-letter queue).
                raise
            except Exception as err:
                log.error("sign-up message %s failed: %s", record.get("messageId"), err)
                failures.append({"itemIdentifier": record["messageId"]})
    finally:
        # An open connection would keep Aurora from pausing.
        writer.close()
    return {"batchItemFailures": failures}
