"""A paused Aurora database as the worker and the knowledge-base sync see
it, and the vector store's SQL bringing an older store to the new shape as
RDS runs it (a master user that is not a superuser)."""
import json
import pathlib
import socket
import struct
import threading
import time
import uuid

import psycopg2
import pytest
from botocore.exceptions import ClientError

from conftest import DataAPI, connect, free_port, load
from test_handlers import Resuming, count, sqs_event, worker  # noqa: F401 (worker is a fixture)

# --- fault injection: a database that is resuming ----------------------------


def error_response(code, message):
    """A PostgreSQL ErrorResponse message (protocol 3.0)."""
    fields = b"".join(
        tag + value.encode() + b"\0" for tag, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", code), (b"M", message))
    ) + b"\0"
    return b"E" + struct.pack("!I", len(fields) + 4) + fields


class ResumingProxy:
    """In front of the real server. While `refuse` > 0 each new connection
    is answered as a server still starting ("the database system is
    starting up", SQLSTATE 57P03) and closed; while time is before
    `hold_until`, a connection is accepted and left unanswered (as Aurora
    holds a connection to a paused instance until it is up); after that,
    connections are forwarded. drop_all() breaks the forwarded ones, as a
    pause or failover does."""

    def __init__(self, target_port, refuse=0, hold_seconds=0.0):
        self.port = free_port()
        self.target_port = target_port
        self.refuse = refuse
        self.hold_until = time.monotonic() + hold_seconds
        self.accepted = 0
        self.refused = 0
        self.forwarded = 0
        self.open = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", self.port))
        self.srv.listen()
        self.srv.settimeout(0.1)
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stop.is_set():
            try:
                client, _ = self.srv.accept()
            except socket.timeout:
                continue
            with self.lock:
                self.accepted += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()
        self.srv.close()

    def _serve(self, client):
        with self.lock:
            refuse = self.refuse > 0
            if refuse:
                self.refuse -= 1
                self.refused += 1
        if refuse:
            try:
                (length,) = struct.unpack("!I", client.recv(4))
                client.recv(length - 4)  # the startup message
                client.sendall(error_response("57P03", "the database system is starting up"))
            finally:
                client.close()
            return
        wait = self.hold_until - time.monotonic()
        if wait > 0 and self.stop.wait(wait):
            client.close()
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
        except OSError:
            client.close()
            return
        with self.lock:
            self.forwarded += 1
            self.open += [client, upstream]
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def drop_all(self):
        with self.lock:
            socks, self.open = self.open, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.stop.set()
        self.drop_all()


@pytest.fixture()
def proxied_worker(pg, worker, monkeypatch):
    proxies = []

    def make(**kw):
        proxy = ResumingProxy(pg["port"], **kw)
        proxies.append(proxy)
        monkeypatch.setenv("DB_PORT", str(proxy.port))
        return proxy

    yield make
    for p in proxies:
        p.close()


def sign_up(email):
    sub = str(uuid.uuid4())
    return sub, json.dumps({"sub": sub, "email": email})


def test_worker_retries_while_the_database_is_starting_up(pg, worker, proxied_worker, monkeypatch):
    proxy = proxied_worker(refuse=3)
    monkeypatch.setenv("DB_CONNECT_DEADLINE_SECONDS", "30")
    sleeps = []
    sub, body = sign_up("erin@example.com")
    assert worker.handler(sqs_event(body), None, sleep=sleeps.append) == {"batchItemFailures": []}
    assert proxy.refused == 3
    assert sleeps == [0.5, 1.0, 2.0], "exponential backoff between attempts"
    assert count(pg, "users", sub) == 1


def test_worker_waits_for_a_held_connection(pg, worker, proxied_worker, monkeypatch):
    # Aurora completes a connection to a paused instance once it has
    # resumed: the connect timeout must outlast the hold, not retry.
    proxy = proxied_worker(hold_seconds=2.0)
    monkeypatch.setenv("DB_CONNECT_TIMEOUT_SECONDS", "10")
    sleeps = []
    sub, body = sign_up("frank@example.com")
    started = time.monotonic()
    assert worker.handler(sqs_event(body), None, sleep=sleeps.append) == {"batchItemFailures": []}
    assert time.monotonic() - started >= 1.9
    assert sleeps == [] and proxy.accepted == 1, "one attempt, held until the database was up"
    assert count(pg, "users", sub) == 1


def test_worker_retries_when_a_held_connection_times_out(pg, worker, proxied_worker, monkeypatch):
    proxy = proxied_worker(hold_seconds=2.5)
    monkeypatch.setenv("DB_CONNECT_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("DB_CONNECT_DEADLINE_SECONDS", "30")
    sub, body = sign_up("grace@example.com")
    assert worker.handler(sqs_event(body), None, sleep=time.sleep) == {"batchItemFailures": []}
    assert proxy.accepted >= 2, "the first attempts timed out and were retried"
    assert count(pg, "users", sub) == 1


def test_worker_reconnects_when_the_connection_breaks_mid_batch(pg, worker, proxied_worker, monkeypatch):
    proxy = proxied_worker()
    real_write = worker.write
    calls = []

    def write_then_break(conn, params):
        result = real_write(conn, params)
        calls.append(params["sub"])
        if len(calls) == 1:
            proxy.drop_all()  # the instance pauses (or fails over) between messages
        return result

    monkeypatch.setattr(worker, "write", write_then_break)
    (sub1, body1), (sub2, body2) = sign_up("heidi@example.com"), sign_up("ivan@example.com")
    assert worker.handler(sqs_event(body1, body2), None, sleep=time.sleep) == {"batchItemFailures": []}
    assert proxy.forwarded == 2, "a second connection after the first broke"
    assert count(pg, "users", sub1) == 1 and count(pg, "users", sub2) == 1


def test_worker_leaves_no_connection_open(pg, worker):
    # An open connection keeps Aurora from pausing.
    sub, body = sign_up("judy@example.com")
    assert worker.handler(sqs_event(body), None) == {"batchItemFailures": []}
    for _ in range(50):
        with connect(pg, "postgres") as c, c.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'tenant_writer'")
            if cur.fetchone()[0] == 0:
                return
        time.sleep(0.1)
    pytest.fail("the worker left a connection open after its invocation")


def test_worker_gives_up_at_the_deadline_and_returns_the_batch(worker, proxied_worker, monkeypatch):
    proxied_worker(refuse=10**6)
    monkeypatch.setenv("DB_CONNECT_DEADLINE_SECONDS", "1")
    _, body = sign_up("ken@example.com")
    with pytest.raises(psycopg2.OperationalError, match="starting up"):
        worker.handler(sqs_event(body), None, sleep=time.sleep)


# --- knowledge-base sync ---------------------------------------------------------


class Agent:
    """The bedrock-agent calls the sync makes, recorded; each started job
    reports the next status of `outcomes` (with its failure reasons). This
    is fault injection for Bedrock's side: Debian's botocore predates the
    bedrock-agent API, and no local server speaks it."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = []
        self.jobs = {}

    def start_ingestion_job(self, knowledgeBaseId, dataSourceId, description):
        self.calls.append(("start", knowledgeBaseId, dataSourceId))
        job_id = f"job{len(self.jobs) + 1}"
        status, reasons = self.outcomes.pop(0)
        self.jobs[job_id] = {"ingestionJobId": job_id, "status": status, "failureReasons": reasons}
        return {"ingestionJob": {"ingestionJobId": job_id, "status": "STARTING"}}

    def get_ingestion_job(self, knowledgeBaseId, dataSourceId, ingestionJobId):
        self.calls.append(("get", ingestionJobId))
        return {"ingestionJob": self.jobs[ingestionJobId]}


@pytest.fixture()
def sync(pg, bootstrapped):
    mod = load("kb_sync_handler", "kb_sync")

    def make(api, agent, **kw):
        return mod.Sync(api, agent, "arn:cluster", "arn:secret", "str_kb", "KB1", "DS1", poll_seconds=0.01, **kw)

    return make


class Recording(Resuming):
    def __init__(self, pg, pauses, log):
        super().__init__(pg, pauses)
        self.log = log

    def execute_statement(self, **kw):
        self.log.append(("sql", kw["sql"]))
        return super().execute_statement(**kw)


def test_sync_wakes_the_database_before_starting_the_job(pg, sync):
    log = []
    sleeps = []
    agent = Agent(("COMPLETE", []))
    agent.calls = log
    result = sync(Recording(pg, 3, log), agent, sleep=sleeps.append).run()
    assert result["status"] == "COMPLETE" and result["resume_retries"] == 3
    assert sleeps[:3] == [0.5, 1.0, 2.0]
    starts = [i for i, c in enumerate(log) if c[0] == "start"]
    assert len(starts) == 1 and log[starts[0] - 1] == ("sql", "SELECT 1"), "the job starts once SELECT 1 got through"
    assert [c for c in log[: starts[0]] if c[0] == "sql"] == [("sql", "SELECT 1")] * 4


def test_sync_starts_again_when_the_job_failed_on_a_resuming_database(pg, sync):
    agent = Agent(
        ("FAILED", ["The Aurora DB instance is resuming after being auto-paused. Please wait a few seconds and try again."]),
        ("COMPLETE", []),
    )
    result = sync(DataAPI(pg), agent, sleep=lambda s: None).run()
    assert result["status"] == "COMPLETE"
    assert result["jobs"] == ["job1", "job2"]


def test_sync_does_not_retry_other_failures(pg, sync):
    agent = Agent(("FAILED", ["Access denied to s3://bucket/doc.pdf"]), ("COMPLETE", []))
    result = sync(DataAPI(pg), agent, sleep=lambda s: None).run()
    assert result["status"] == "FAILED" and result["jobs"] == ["job1"]


def test_sync_gives_up_waking_after_its_deadline(pg, sync):
    agent = Agent(("COMPLETE", []))
    with pytest.raises(ClientError) as exc:
        sync(Resuming(pg, 10**6), agent, resume_deadline_seconds=0.2, sleep=time.sleep).run()
    assert exc.value.response["Error"]["Code"] == "DatabaseResumingException"
    assert agent.calls == [], "no job is started against a database that never woke"


# --- the vector store's SQL as RDS runs it -----------------------------------------

TESTDATA = pathlib.Path(__file__).resolve().parent / "testdata"


class AsUser(DataAPI):
    """The Data API logged in as a given role (RDS's master user is not a
    superuser)."""

    def __init__(self, pg, user):
        super().__init__(dict(pg, user=user))


@pytest.fixture()
def rds_like(pg, bootstrapped):
    """A fresh database owned by a master user like RDS's: CREATEROLE and
    CREATEDB, not a superuser. pgvector is installed by the superuser first,
    as rds_superuser may on RDS (CREATE EXTENSION vector is then a no-op)."""
    suffix = uuid.uuid4().hex[:8]
    admin, db = f"kb_admin_{suffix}", f"kb_{suffix}"
    superuser(pg, "postgres", f"CREATE ROLE {admin} LOGIN CREATEROLE CREATEDB NOSUPERUSER", f"CREATE DATABASE {db} OWNER {admin}")
    superuser(pg, db, "CREATE EXTENSION vector")
    yield admin, db
    superuser(pg, "postgres", f"DROP DATABASE {db} WITH (FORCE)", f"DROP ROLE {admin}")


def superuser(pg, db, *statements):
    """Runs statements outside a transaction (CREATE DATABASE needs that)."""
    conn = connect(pg, db)
    try:
        with conn.cursor() as cur:
            for s in statements:
                cur.execute(s)
    finally:
        conn.close()


def run_sql(pg, bootstrap_module, user, db, text):
    api = AsUser(pg, user)
    for statement in bootstrap_module.split_statements(text):
        api.execute_statement(resourceArn="", secretArn="", database=db, sql=statement, parameters=[])


def store_shape(pg, db):
    with connect(pg, db) as c, c.cursor() as cur:
        cur.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'bedrock_integration' AND tablename = 'bedrock_kb'")
        owner = cur.fetchone()[0]
        cur.execute(
            "SELECT has_schema_privilege('bedrock_user', 'bedrock_integration', 'USAGE'),"
            " has_schema_privilege('bedrock_user', 'bedrock_integration', 'CREATE')"
        )
        usage, create = cur.fetchone()
        cur.execute(
            "SELECT c.relname, c.oid, c.reloptions FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid"
            " WHERE i.indrelid = 'bedrock_integration.bedrock_kb'::regclass ORDER BY 1"
        )
        indexes = {name: (oid, opts) for name, oid, opts in cur.fetchall()}
        cur.execute("SELECT count(*) FROM bedrock_integration.bedrock_kb")
        rows = cur.fetchone()[0]
    return {"owner": owner, "usage": usage, "create": create, "indexes": indexes, "rows": rows}


def assert_new_shape(shape):
    assert shape["owner"] == "bedrock_user", "the table is bedrock_user's, as in AWS's recipe"
    assert shape["usage"] is True and shape["create"] is False, "bedrock_user may use the schema but create nothing in it"
    assert set(shape["indexes"]) == {
        "bedrock_kb_pkey",
        "bedrock_kb_embedding_hnsw",
        "bedrock_kb_chunks_fts",
        "bedrock_kb_custom_metadata",
    }
    assert shape["indexes"]["bedrock_kb_embedding_hnsw"][1] == ["ef_construction=256"]


def test_new_sql_builds_the_store_as_a_non_superuser(pg, bootstrapped, rds_like):
    admin, db = rds_like
    new_sql = (pathlib.Path(bootstrapped.__file__).parent / "sql" / "str_kb.sql").read_text()
    run_sql(pg, bootstrapped, admin, db, new_sql)
    first = store_shape(pg, db)
    assert_new_shape(first)
    run_sql(pg, bootstrapped, admin, db, new_sql)
    assert store_shape(pg, db) == first, "a second run changes nothing (the HNSW index is not rebuilt)"


def test_new_sql_upgrades_a_store_made_by_the_old_sql(pg, bootstrapped, rds_like):
    admin, db = rds_like
    old_sql = (TESTDATA / "str_kb_before_issue22.sql").read_text()
    new_sql = (pathlib.Path(bootstrapped.__file__).parent / "sql" / "str_kb.sql").read_text()
    run_sql(pg, bootstrapped, admin, db, old_sql)
    old = store_shape(pg, db)
    assert old["owner"] == admin and old["create"] is True and old["indexes"]["bedrock_kb_embedding_hnsw"][1] is None, (
        "the old SQL's shape: the master's table, CREATE for bedrock_user, pgvector's default HNSW build"
    )
    c = connect(dict(pg, user=admin), db)
    with c.cursor() as cur:
        for i in range(20):
            cur.execute(
                "INSERT INTO bedrock_integration.bedrock_kb (id, embedding, chunks) VALUES (%s, %s, %s)",
                (str(uuid.uuid4()), "[" + ",".join(str((i * 7 + j) % 11 / 10) for j in range(1024)) + "]", f"chunk {i}"),
            )
    c.close()

    run_sql(pg, bootstrapped, admin, db, new_sql)
    new = store_shape(pg, db)
    assert_new_shape(new)
    assert new["rows"] == 20, "the vectors survive the upgrade"
    assert new["indexes"]["bedrock_kb_embedding_hnsw"][0] != old["indexes"]["bedrock_kb_embedding_hnsw"][0], "rebuilt"

    # bedrock_user (Bedrock's login) works in its table and creates nothing else.
    c = connect(dict(pg, user="bedrock_user"), db)
    try:
        with c.cursor() as cur:
            cur.execute("DELETE FROM bedrock_integration.bedrock_kb WHERE chunks = 'chunk 0'")
            assert cur.rowcount == 1
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("CREATE TABLE bedrock_integration.other (id int)")
    finally:
        c.close()
